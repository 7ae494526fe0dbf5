"""for (alias loop): send each element of a list to out[0], then the joined answers to out[1]."""

from __future__ import annotations

from ...node import Node
from ...packet import Packet, join
from ...port import ERROR, IN, OUT, InPort, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["ForSpec", "ForNode", "compile_for", "register"]


class ForSpec(Spec, kw_only=True):
    """Sends each element of a list payload to ``out[0]``, one after the other in the same process (any
    other payload is sent once). The answers are joined (a list, or an error if one failed; an empty list
    gives ``[]``) and sent to ``out[1]``, or to ``error`` when it is an error. The caller gets the answer
    of ``out[1]``/``error``, or the joined value when that port is not connected."""


class ForNode(Node):
    """in -> each element -> out[0]; joined answers -> out[1] | error."""

    INPORTS = {IN: "in_port"}
    OUTPORTS = {OUT: "each_port", "out[1]": "done_port", ERROR: "error_port"}

    def __init__(self) -> None:
        self.in_port = InPort(IN, self, self._receive)
        self.each_port = OutPort("out[0]", self)
        self.done_port = OutPort("out[1]", self)
        self.error_port = OutPort(ERROR, self)

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        payload = pck.payload
        items = payload if isinstance(payload, list) else [payload]
        answers = []
        for item in items:
            element = Packet(item)
            answers.append(await self.each_port.send(proc, element, element))
        result = join(answers) if answers else Packet([])
        if result.is_error:
            return await self.error_port.send(proc, result, result)
        return await self.done_port.send(proc, result, result)


def compile_for(spec: ForSpec, context: Context) -> ForNode:
    return ForNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "for", ForSpec, compile_for,
        description="Send each element of a list to out[0], then the joined answers to out[1].",
        ports={"in": "a list (or one payload)", "out[0]": "each element, one at a time",
               "out[1]": "the joined answers of out[0]", "error": "the joined answers when one failed"},
        example=(
            "kind: for\n"
            "name: each-user\n"
            "ports:\n"
            "  out[0]:\n"
            "    - name: fetch-user\n"
            "      port: in\n"
            "  out[1]:\n"
            "    - name: respond\n"
            "      port: in\n"
        ),
        aliases=("loop",),
        plugin="ctrl",
    )
