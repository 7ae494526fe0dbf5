"""reduce: a streaming fold over the packets of one process."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from msgspec import Meta

from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec
from ._support import compile_code

__all__ = ["ReduceSpec", "ReduceNode", "compile_reduce", "register"]


class ReduceSpec(Spec, kw_only=True):
    """Folds the packets of each process: for the i-th input, ``acc = action`` evaluated with the
    variables ``acc`` (the value so far, ``init`` at first), ``cur`` (the input) and ``index`` (i, from
    0), and outputs ``acc`` each time. An error goes to ``error`` and leaves ``acc`` as it was. Each
    process has its own accumulator."""

    action: Annotated[str, Meta(description="the expression over acc, cur and index giving the next acc")]
    init: Annotated[Any, Meta(description="the accumulator before the first packet")] = None
    language: Annotated[str, Meta(description="the expression language (default: the runtime's, cel)")] = ""
    timeout: Annotated[NonNegativeDuration | None,
                       Meta(description="the longest one evaluation may run (0 or unset: no limit)")] = None


class _Fold:
    __slots__ = ("acc", "index")

    def __init__(self, init: Any) -> None:
        self.acc = init
        self.index = 0


class ReduceNode(OneToOne):
    """in -> ``acc = action(acc, cur, index)`` -> out (acc) | error, per process."""

    def __init__(self, action: Callable[[Any, Any, int], Any], init: Any = None) -> None:
        self.fold = action
        self.init = init
        super().__init__()

    async def action(self, proc: Process, pck: Packet) -> Packet:
        state: _Fold = proc.local(self, lambda: _Fold(self.init))
        index = state.index
        state.index += 1
        result = self.fold(state.acc, pck.payload, index)
        if inspect.isawaitable(result):
            result = await result
        state.acc = result
        return Packet(result)


def compile_reduce(spec: ReduceSpec, context: Context) -> ReduceNode:
    program = compile_code(context, spec, field="action", code=spec.action, language=spec.language or None,
                           timeout=spec.timeout)

    def fold(acc: Any, cur: Any, index: int) -> Any:
        return program({"acc": acc, "cur": cur, "index": index})

    return ReduceNode(fold, spec.init)


def register(scheme: Scheme) -> None:
    scheme.register(
        "reduce", ReduceSpec, compile_reduce,
        description="Fold the packets of a process with an expression over acc, cur and index.",
        ports={"in": "the next value (cur)", "out": "the accumulator after this value",
               "error": "evaluation errors"},
        example=(
            "kind: reduce\n"
            "name: sum\n"
            "action: acc + cur\n"
            "init: 0\n"
        ),
        plugin="ctrl",
    )
