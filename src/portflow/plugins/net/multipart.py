"""``multipart/form-data`` request bodies, parsed by python-multipart within limits.

``decode_multipart(data, boundary)`` -> ``{values: {name: [text]}, files: {name: [{filename, header, size,
data}]}}`` (uniflow's shape). A body with more than ``MAX_PARTS`` parts, more than ``MAX_FIELDS`` plain
fields, a part over ``MAX_PART_SIZE`` bytes or headers past python-multipart's limits raises ``BodyError``
(413 for the size limits, 400 for a malformed body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

if TYPE_CHECKING:  # a TypedDict python-multipart declares for type checkers only
    from python_multipart.multipart import MultipartCallbacks

from .mime import APPLICATION_OCTET, TEXT_PLAIN, BodyError, canonical, decode, decode_text, media_type

__all__ = ["decode_multipart", "MAX_PARTS", "MAX_FIELDS", "MAX_PART_SIZE"]

MAX_PARTS = 1000
MAX_FIELDS = 1000
MAX_PART_SIZE = 10 * 1024 * 1024


class _Parts:
    """python-multipart's callbacks, collecting each part's headers and data."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, list[str]], bytes]] = []
        self.header: dict[str, list[str]] = {}
        self.field = b""
        self.value = b""
        self.chunks: list[bytes] = []
        self.size = 0
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.begin, "on_part_data": self.data, "on_part_end": self.end,
            "on_header_field": self.header_field, "on_header_value": self.header_value,
            "on_header_end": self.header_end, "on_end": self.finish,
        }

    def begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise BodyError(f"multipart body has more than {MAX_PARTS} parts", 413)
        self.header, self.chunks, self.size = {}, [], 0

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        name = canonical(self.field.decode("latin-1").strip().lower())
        self.header.setdefault(name, []).append(self.value.decode("utf-8", "replace").strip())
        self.field = self.value = b""

    def data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.size > MAX_PART_SIZE:
            raise BodyError(f"multipart part larger than {MAX_PART_SIZE} bytes", 413)
        self.chunks.append(data[start:end])

    def end(self) -> None:
        self.parts.append((self.header, b"".join(self.chunks)))

    def finish(self) -> None:
        self.ended = True


def decode_multipart(data: bytes, boundary: str) -> dict[str, Any]:
    """The parts of a ``multipart/form-data`` body; see the module docstring."""
    parts = _Parts()
    try:
        parser = MultipartParser(boundary.encode("latin-1"), parts.callbacks())
        parser.write(data)
        parser.finalize()
    except (MultipartParseError, ValueError) as exc:
        if isinstance(exc, BodyError):
            raise
        raise BodyError(f"malformed multipart body: {str(exc)[:120]}") from None
    if not parts.ended:
        raise BodyError("malformed multipart body: no closing boundary")
    values: dict[str, list[Any]] = {}
    files: dict[str, list[dict[str, Any]]] = {}
    fields = 0
    for header, body in parts.parts:
        disposition = media_type(header.get("Content-Disposition", [""])[0])[1]
        name = disposition.get("name", "")
        filename = disposition.get("filename")
        ctype = header.get("Content-Type", [None])[0]
        if filename is None:
            fields += 1
            if fields > MAX_FIELDS:
                raise BodyError(f"multipart body has more than {MAX_FIELDS} fields", 413)
            plain = not ctype or media_type(ctype)[0] == TEXT_PLAIN
            values.setdefault(name, []).append(decode_text(body, media_type(ctype)[1].get("charset")) if plain
                                               else decode(body, ctype))
        else:
            files.setdefault(name, []).append({
                "filename": filename, "header": header, "size": len(body),
                "data": decode(body, ctype or APPLICATION_OCTET),
            })
    return {"values": values, "files": files}
