"""try: send the input to out; hand an error answer to the error port."""

from __future__ import annotations

from ...node import Node
from ...packet import Packet
from ...port import ERROR, IN, OUT, InPort, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["TrySpec", "TryNode", "compile_try", "register"]


class TrySpec(Spec, kw_only=True):
    """Sends the input to ``out``. An error answer is sent to ``error`` and that handler's answer is
    returned (the error itself when ``error`` is not connected); other answers pass through."""


class TryNode(Node):
    """in -> out; error answers -> error."""

    def __init__(self) -> None:
        self.in_port = InPort(IN, self, self._receive)
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)

    def inport(self, name: str) -> InPort | None:
        return self.in_port if name == IN else None

    def outport(self, name: str) -> OutPort | None:
        if name in (OUT, "out[0]"):
            return self.out_port
        if name == ERROR:
            return self.error_port
        return None

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        answer = await self.out_port.send(proc, pck, pck)
        if answer.is_error:
            return await self.error_port.send(proc, answer, answer)
        return answer

    async def close(self) -> None:
        self.out_port.unlink_all()
        self.error_port.unlink_all()


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
