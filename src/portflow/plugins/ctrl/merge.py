"""merge: wait for one packet on every in[i] of a process and join them."""

from __future__ import annotations

from ...node import ManyToOne
from ...packet import Packet, join
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["MergeSpec", "MergeNode", "compile_merge", "register"]


class MergeSpec(Spec, kw_only=True):
    """Per process, waits until every connected ``in[i]`` has a packet, then outputs the list
    ``[in0, in1, ...]`` (null payloads kept in their place; a single input is output as itself). An error among the
    inputs goes to ``error``. A partial input is answered at once with itself."""


class MergeNode(ManyToOne):
    """in[0..n] -> join -> out | error."""

    def action(self, proc: Process, inputs: list[Packet]) -> Packet:
        return join(inputs)


def compile_merge(spec: MergeSpec, context: Context) -> MergeNode:
    return MergeNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "merge", MergeSpec, compile_merge,
        description="Join one packet from each in[i] of a process into a list.",
        ports={"in[N]": "the N-th part", "out": "the list of parts", "error": "an error among the parts"},
        example=(
            "- kind: split\n"
            "  name: fan\n"
            "  ports:\n"
            "    out[0]:\n"
            "      - name: join\n"
            "        port: in[0]\n"
            "    out[1]:\n"
            "      - name: join\n"
            "        port: in[1]\n"
            "- kind: merge\n"
            "  name: join\n"
        ),
        plugin="ctrl",
    )
