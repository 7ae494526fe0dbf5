"""throw: turn the input into an error answered to the caller."""

from __future__ import annotations

from typing import Any

from ...errors import FlowError
from ...node import Node
from ...packet import NONE, Packet
from ...port import IN, InPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from ._support import go_sprint

__all__ = ["ThrowSpec", "ThrowNode", "compile_throw", "register", "to_error"]


class ThrowSpec(Spec, kw_only=True):
    """Answers the caller with an error made from the input: a list gives one message per non-null
    element, later elements prefixing earlier ones (``["a", "b"]`` gives ``b: a``); any other payload
    gives its text. A null input answers null (no error). It has no out-ports."""


def to_error(payload: Any) -> BaseException | None:
    """The error ``throw`` makes from ``payload``; None for a null payload (or a list of nulls)."""
    if payload is None:
        return None
    if isinstance(payload, BaseException):
        return payload
    if isinstance(payload, list):
        message: str | None = None
        for item in payload:
            if item is None:
                continue
            text = str(item) if isinstance(item, BaseException) else go_sprint(item)
            message = text if message is None else f"{text}: {message}"
        return None if message is None else FlowError(message)
    return FlowError(go_sprint(payload))


class ThrowNode(Node):
    """in -> an error answered back."""

    INPORTS = {IN: "in_port"}

    def __init__(self) -> None:
        self.in_port = InPort(IN, self, self._receive)

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        error = to_error(pck.payload)
        return NONE if error is None else Packet(error)


def compile_throw(spec: ThrowSpec, context: Context) -> ThrowNode:
    return ThrowNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "throw", ThrowSpec, compile_throw,
        description="Answer the caller with an error made from the input.",
        ports={"in": "the error message (a list of messages is chained)"},
        example=(
            "- kind: snippet\n"
            "  name: reason\n"
            "  language: text\n"
            "  code: forbidden\n"
            "  ports:\n"
            "    out:\n"
            "      - name: fail\n"
            "        port: in\n"
            "- kind: throw\n"
            "  name: fail\n"
        ),
        plugin="ctrl",
    )
