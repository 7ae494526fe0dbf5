"""nop: answer null to every packet."""

from __future__ import annotations

from ...node import Node
from ...packet import NONE, Packet
from ...port import IN, InPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["NopSpec", "NopNode", "compile_nop", "register"]


class NopSpec(Spec, kw_only=True):
    """Answers null to every input: a sink that swallows packets."""


class NopNode(Node):
    """in -> null."""

    INPORTS = {IN: "in_port"}

    def __init__(self) -> None:
        self.in_port = InPort(IN, self, self._receive)

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        return NONE


def compile_nop(spec: NopSpec, context: Context) -> NopNode:
    return NopNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "nop", NopSpec, compile_nop,
        description="Answer null to every packet.",
        ports={"in": "any packet; the answer is null"},
        example="kind: nop\nname: sink\n",
        plugin="ctrl",
    )
