"""print: format the input Go-style and write it to stdout or a file.

On standard output bound values are hidden (``logs.scrub``), and with ``--log-format json`` each print is
one JSON line (logger ``portflow.print``, with the spec's ``namespace`` and ``spec``), so that stdout stays
one object per line. A file gets the text as formatted.
"""

from __future__ import annotations

import sys
from typing import IO, Annotated, Any

from msgspec import Meta

from ... import logs
from ...errors import FlowError
from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from ._support import go_sprintf

__all__ = ["PrintSpec", "PrintNode", "compile_print", "register"]


class PrintSpec(Spec, kw_only=True):
    """Formats the input with Go's ``fmt.Sprintf`` verbs (``%v %s %d %f %q %x %t``...) and writes it to
    ``filename`` (appended; opened when the node loads, closed when it unloads) or, without a filename,
    to standard output. The input is a format string, or ``[format, args...]``. Outputs the number of
    bytes written."""

    filename: Annotated[str, Meta(description="the file to append to (empty: standard output)")] = ""


class PrintNode(OneToOne):
    """in ``[format, args...]`` -> write -> out (bytes written)."""

    def __init__(self, filename: str = "", label: str = "print", about: dict[str, str] | None = None) -> None:
        self.filename = filename
        self.label = label
        self.about = about or {}  # namespace, spec: the fields of a JSON line
        self._file: IO[str] | None = None
        super().__init__()

    async def load(self) -> None:
        if self.filename and self._file is None:
            self._file = open(self.filename, "a", encoding="utf-8")  # noqa: SIM115, ASYNC230 - closed on unload; opening for append does not block

    async def unload(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    async def close(self) -> None:
        await self.unload()
        await super().close()

    def action(self, proc: Process, pck: Packet) -> Packet:
        text = self.render(pck.payload)
        if self.filename:
            if self._file is None:
                raise FlowError(f"{self.label}: file {self.filename!r} is not open (the node is not loaded)")
            self._file.write(text)
            self._file.flush()
        elif logs.is_json():
            logs.say(text.removesuffix("\n"), logger="portflow.print", extra={**self.about, "kind": "print"})
        else:
            sys.stdout.write(logs.scrub(text))
            sys.stdout.flush()
        return Packet(len(text.encode("utf-8")))

    def render(self, payload: Any) -> str:
        if isinstance(payload, str):
            return go_sprintf(payload, [])
        if isinstance(payload, list) and payload and isinstance(payload[0], str):
            return go_sprintf(payload[0], payload[1:])
        raise FlowError(f"{self.label}: expected a format string or [format, args...], got {type(payload).__name__}")


def compile_print(spec: PrintSpec, context: Context) -> PrintNode:
    return PrintNode(spec.filename, spec.subject, {"namespace": spec.namespace, "spec": spec.name or spec.id})


def register(scheme: Scheme) -> None:
    scheme.register(
        "print", PrintSpec, compile_print,
        description="Write the input, formatted Go-style, to standard output or a file.",
        ports={"in": "a format string, or [format, args...]", "out": "the number of bytes written",
               "error": "a bad input or a failed write"},
        example=(
            "kind: print\n"
            "name: log\n"
            "filename: /tmp/requests.log\n"
        ),
        plugin="ctrl",
    )
