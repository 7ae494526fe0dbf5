"""try: send the input to out; hand an error answer to the error port."""

from __future__ import annotations

from ...node import Relay
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["TrySpec", "TryNode", "compile_try", "register"]


class TrySpec(Spec, kw_only=True):
    """Sends the input to ``out``. An error answer is sent to ``error`` and that handler's answer is
    returned (the error itself when ``error`` is not connected); other answers pass through."""


class TryNode(Relay):
    """in -> out; error answers -> error."""

    def __init__(self) -> None:
        super().__init__()

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        answer = await self.out_port.send(proc, pck, pck)
        if answer.is_error and self.error_port is not None:
            return await self.error_port.send(proc, answer, answer)
        return answer



def compile_try(spec: TrySpec, context: Context) -> TryNode:
    return TryNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "try", TrySpec, compile_try,
        description="Send the input to out and hand an error answer to the error port.",
        ports={"in": "the packet to deliver", "out": "the packet",
               "error": "the error answer of out; its answer is returned"},
        example=(
            "kind: try\n"
            "name: guarded\n"
            "ports:\n"
            "  out:\n"
            "    - name: risky\n"
            "      port: in\n"
            "  error:\n"
            "    - name: fallback\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
