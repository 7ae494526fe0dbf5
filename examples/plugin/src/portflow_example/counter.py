"""counter: number the packets of each process: ``start``, ``start + step``, ..."""

from __future__ import annotations

from typing import Any

from portflow import Context, OneToOne, Packet, Process, Scheme, Spec

__all__ = ["CounterSpec", "CounterNode", "compile_counter", "register"]


class CounterSpec(Spec, kw_only=True):
    """Outputs ``{"count": N, "payload": P}`` for each payload ``P``. ``N`` counts the packets this node
    has seen in the current process (one HTTP request, one test): the first gets ``start``, each next
    one ``step`` more. Inside a ``for`` loop it numbers the elements; the next process starts over.
    """

    start: int = 1
    step: int = 1

    def __post_init__(self) -> None:
        if self.step == 0:
            raise ValueError("step: must not be 0")


class _Tally:
    """The next number, kept per process."""

    __slots__ = ("next",)

    def __init__(self, first: int) -> None:
        self.next = first


class CounterNode(OneToOne):
    """in ``P`` -> out ``{"count": N, "payload": P}``, N counting per process."""

    def __init__(self, start: int = 1, step: int = 1) -> None:
        self.start = start
        self.step = step
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Packet:
        tally: _Tally = proc.local(self, lambda: _Tally(self.start))
        count = tally.next
        tally.next += self.step
        payload: dict[str, Any] = {"count": count, "payload": pck.payload}
        return Packet(payload)


def compile_counter(spec: CounterSpec, context: Context) -> CounterNode:
    return CounterNode(spec.start, spec.step)


def register(scheme: Scheme) -> None:
    scheme.register(
        "counter", CounterSpec, compile_counter,
        description="Number the packets of each process: output {count, payload}.",
        ports={"in": "any payload", "out": "{count: N, payload: the input}", "error": "errors"},
        example=(
            "kind: counter\n"
            "name: line-number\n"
            "start: 1\n"
            "step: 1\n"
        ),
        plugin="example",
    )
