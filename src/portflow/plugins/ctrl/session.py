"""session: remember a value per process, and replay inputs into every live session."""

from __future__ import annotations

import asyncio
from typing import Any

from ...node import Node
from ...packet import NONE, Packet, join
from ...port import IN, IO, OUT, InPort, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["SessionSpec", "SessionNode", "compile_session", "register"]


class SessionSpec(Spec, kw_only=True):
    """A packet on ``io`` stores its payload as the session of its process (until that process
    ends) and is answered with null. A packet on ``in`` forks a child of every process that holds a
    session and sends ``[session, input]`` on ``out`` in each child; the answers are joined and
    returned, and the children end with them. With no session the input is answered back."""


class SessionNode(Node):
    """io: store the session of a process; in -> [session, input] -> out, once per live session."""

    INPORTS = {IO: "io_port", IN: "in_port"}
    OUTPORTS = {OUT: "out_port"}

    def __init__(self) -> None:
        self.io_port = InPort(IO, self, self._store)
        self.in_port = InPort(IN, self, self._forward)
        self.out_port = OutPort(OUT, self)
        self.sessions: dict[Process, Any] = {}

    async def _store(self, proc: Process, pck: Packet) -> Packet:
        if proc.terminated:
            return NONE
        if proc not in self.sessions:
            proc.on_exit(self._forget)
        self.sessions[proc] = pck.payload
        return NONE

    def _forget(self, proc: Process) -> None:
        self.sessions.pop(proc, None)

    async def _forward(self, proc: Process, pck: Packet) -> Packet:
        live = [(owner, value) for owner, value in self.sessions.items() if not owner.terminated]
        if not live:
            return pck
        children = [owner.fork() for owner, _ in live]
        answer: Packet = NONE
        try:
            sends = []
            for child, (_, value) in zip(children, live, strict=True):
                out = Packet([value, pck.payload])
                sends.append(self.out_port.send(child, out, out))
            answer = await sends[0] if len(sends) == 1 else join(await asyncio.gather(*sends))
        finally:
            error = answer.payload if answer.is_error else None
            for child in children:
                await child.join()
                await child.exit(error)
        return answer

    async def close(self) -> None:
        self.sessions.clear()


def compile_session(spec: SessionSpec, context: Context) -> SessionNode:
    return SessionNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "session", SessionSpec, compile_session,
        description="Keep a value per process (io) and send each input to every live session (in).",
        ports={"io": "the session value of the sending process", "in": "a packet for every live session",
               "out": "[session, input], in a child of each session's process"},
        example=(
            "kind: session\n"
            "name: subscribers\n"
            "ports:\n"
            "  out:\n"
            "    - name: notify\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
