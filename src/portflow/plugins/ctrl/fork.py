"""fork: hand each packet to a child process and answer the caller at once."""

from __future__ import annotations

from ...node import Relay
from ...packet import NONE, Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["ForkSpec", "ForkNode", "compile_fork", "register"]


class ForkSpec(Spec, kw_only=True):
    """For each input, forks a child process, sends the packet to ``out`` in it, and answers the
    caller at once with null. An error answer from ``out`` goes to ``error`` (in the child); then the
    child waits for its own children and exits with that error. The parent process waits for its
    children before it ends, and its end cancels them."""


class ForkNode(Relay):
    """in -> (child process) out | error; the caller gets null at once."""

    def __init__(self) -> None:
        super().__init__()

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        if not proc.terminated:
            proc.start(self._run(proc.fork(), pck))
        return NONE

    async def _run(self, child: Process, pck: Packet) -> None:
        error: BaseException | None = None
        try:
            answer = await self.out_port.send(child, pck, pck)
            if answer.is_error:
                error = answer.payload
                if self.error_port is not None:
                    await self.error_port.send(child, answer, answer)
            await child.join()
        finally:
            await child.exit(error)



def compile_fork(spec: ForkSpec, context: Context) -> ForkNode:
    return ForkNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "fork", ForkSpec, compile_fork,
        description="Process each packet in a child process; answer the caller at once with null.",
        ports={"in": "the packet to hand off", "out": "the packet, in a child process",
               "error": "an error answer from out, in the child process"},
        example=(
            "kind: fork\n"
            "name: background\n"
            "ports:\n"
            "  out:\n"
            "    - name: send-email\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
