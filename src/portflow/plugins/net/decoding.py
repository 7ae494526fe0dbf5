"""Undoing ``Content-Encoding`` as the body arrives, never producing more than a limit.

``Decoder(header, limit)`` is fed the raw body chunk by chunk and returns the decoded bytes so far; it
raises ``BodyError`` 413 the moment the decoded size would pass ``limit`` (for every encoding, brotli
included, and for nested encodings, each layer bounded on its own), 415 for an encoding it does not know
and 400 for a corrupt or truncated stream. No layer ever holds more than ``limit`` (+ one chunk) bytes.
"""

from __future__ import annotations

import zlib
from typing import Any

from .mime import BodyError

__all__ = ["Decoder", "decompress"]

#: Raw bytes handed to a layer per step, so one small compressed chunk cannot expand in one call.
_STEP = 64 * 1024


class _Zlib:
    """gzip or zlib data; ``deflate`` is zlib data or, as some clients send it, raw DEFLATE."""

    def __init__(self, encoding: str) -> None:
        self.obj: Any = None if encoding == "deflate" else zlib.decompressobj(47)
        self.head = b""  # deflate: the first bytes, until they tell zlib data from raw DEFLATE

    def process(self, data: bytes, room: int) -> bytes:
        if self.obj is None:
            self.head += data
            if len(self.head) < 2:
                return b""
            data, self.head = self.head, b""
            zlib_header = data[0] & 0x0F == 8 and (data[0] * 256 + data[1]) % 31 == 0
            self.obj = zlib.decompressobj(15 if zlib_header else -15)
        out = self.obj.decompress(data, room + 1)
        if self.obj.unconsumed_tail:
            raise BodyError("request body too large", 413)
        return out

    def finish(self) -> None:
        if self.obj is None or not self.obj.eof:
            raise zlib.error("truncated stream")


class _Brotli:
    def __init__(self) -> None:
        import brotli

        self.obj = brotli.Decompressor()

    def process(self, data: bytes, room: int) -> bytes:
        out = self.obj.process(data, output_buffer_limit=room + 1)
        if len(out) > room or not (self.obj.can_accept_more_data() or self.obj.is_finished()):
            raise BodyError("request body too large", 413)
        return out

    def finish(self) -> None:
        if not self.obj.is_finished():
            raise ValueError("truncated stream")


def _layer(encoding: str) -> Any:
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(encoding)
    if encoding == "br":
        return _Brotli()
    raise BodyError(f"unsupported content encoding {encoding!r}", 415)


class Decoder:
    """The decoding chain for one ``Content-Encoding`` header (a comma list, undone in reverse order)."""

    def __init__(self, header: str | None, limit: int) -> None:
        names = [e.strip().lower() for e in (header or "").split(",") if e.strip()]
        self.names = [n for n in reversed(names) if n != "identity"]
        self.layers = [_layer(n) for n in self.names]
        self.limit = limit
        self.sizes = [0] * len(self.layers)

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes ``data`` adds. Raises ``BodyError``."""
        for i, layer in enumerate(self.layers):
            out = []
            for start in range(0, len(data), _STEP):
                piece = self._run(i, layer.process, data[start:start + _STEP])
                self.sizes[i] += len(piece)
                if self.sizes[i] > self.limit:
                    raise BodyError("request body too large", 413)
                out.append(piece)
            data = b"".join(out)
        return data

    def _run(self, i: int, step: Any, data: bytes) -> bytes:
        try:
            return step(data, self.limit - self.sizes[i])
        except BodyError:
            raise
        except Exception as exc:  # noqa: BLE001 - zlib.error, brotli.error: a corrupt stream is the client's
            raise BodyError(f"body is not valid {self.names[i]}: {exc}") from None

    def finish(self) -> None:
        """Check that every layer's stream ended. Raises ``BodyError`` 400 for a truncated one."""
        for i, layer in enumerate(self.layers):
            self._run(i, lambda data, room, layer=layer: layer.finish() or b"", b"")


def decompress(data: bytes, header: str | None, limit: int | None = None) -> bytes:
    """Undo ``Content-Encoding`` on a whole body (see ``Decoder``)."""
    if not header:
        return data
    decoder = Decoder(header, limit if limit is not None else 1 << 62)
    out = decoder.feed(data)
    decoder.finish()
    return out
