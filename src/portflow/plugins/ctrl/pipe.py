"""pipe: send the input to out[0], its answer to the next connected out[i], and so on."""

from __future__ import annotations

from ...node import Node
from ...packet import Packet
from ...port import ERROR, IN, OUT, InPort, OutPort, parse_port, port_name
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["PipeSpec", "PipeNode", "compile_pipe", "register"]


class PipeSpec(Spec, kw_only=True):
    """Sends the input to ``out[0]``; the answer becomes the input of the next connected ``out[i]``
    with a higher index, and so on; the last answer is returned. An error answer goes to ``error``
    (whose handler's answer is returned). Without ``out[0]`` the input is answered back."""


class PipeNode(Node):
    """in -> out[0] -> out[1] -> ... -> answer; error answers -> error."""

    INPORTS = {IN: "in_port"}

    def __init__(self) -> None:
        self.in_port = InPort(IN, self, self._receive)
        self.out_ports: list[OutPort] = []
        self.error_port = OutPort(ERROR, self)

    def outport(self, name: str) -> OutPort | None:
        if name == ERROR:
            return self.error_port
        try:
            base, index = parse_port(name)
        except ValueError:
            return None
        return self.out(index or 0) if base == OUT else None

    def outport_names(self) -> list[str]:
        return [OUT, *(p.name for p in self.out_ports[1:]), ERROR]

    def out(self, index: int) -> OutPort:
        """``out[index]``, creating ``out[0..index]`` as needed."""
        while len(self.out_ports) <= index:
            self.out_ports.append(OutPort(port_name(OUT, len(self.out_ports)), self))
        return self.out_ports[index]

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        ports = self.out_ports
        if not ports:
            return pck
        answer = await ports[0].send(proc, pck, pck)
        for port in ports[1:]:
            if answer.is_error:
                break
            if port.links:
                answer = await port.send(proc, answer, answer)
        if answer.is_error:
            return await self.error_port.send(proc, answer, answer)
        return answer


def compile_pipe(spec: PipeSpec, context: Context) -> PipeNode:
    return PipeNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "pipe", PipeSpec, compile_pipe,
        description="Chain out[0], out[1], ...: each answer is the next one's input.",
        ports={"in": "the first input", "out[N]": "the N-th stage; its answer feeds the next connected stage",
               "error": "an error answer from any stage"},
        example=(
            "kind: pipe\n"
            "name: chain\n"
            "ports:\n"
            "  out[0]:\n"
            "    - name: parse\n"
            "      port: in\n"
            "  out[1]:\n"
            "    - name: store\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
