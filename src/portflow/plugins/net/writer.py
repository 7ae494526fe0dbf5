"""Writing an answer to the client: a whole body at once, or a streaming body chunk by chunk."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .payload import REQUEST_ONLY_HEADERS, split_payload

__all__ = ["respond", "write_stream", "END_STREAM"]

_START = "http.response.start"
_BODY = "http.response.body"

#: The cancel message with which ``drain()`` ends a streaming response (which then ends cleanly).
END_STREAM = "portflow: the listener is unloading"


async def respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """Write a whole response. False when the client has gone away."""
    try:
        await send({"type": _START, "status": status, "headers": headers})
        await send({"type": _BODY, "body": body})
    except (OSError, RuntimeError):
        return False
    return True


def _stream_headers(header: dict[str, list[str]]) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    content_type = "application/octet-stream"
    for name, values in header.items():
        lower = name.lower()
        if lower in REQUEST_ONLY_HEADERS or lower in ("content-length", "content-encoding"):
            continue
        if lower == "content-type":
            content_type = values[0] if values else content_type
            continue
        headers.extend((lower.encode("latin-1"), v.encode("latin-1", "replace")) for v in values)
    headers.append((b"content-type", content_type.encode("latin-1")))
    return headers


async def write_stream(send: Any, payload: dict[str, Any], head: bool = False) -> int | None:
    """Write an answer whose ``body`` is an async iterator: headers first, then each chunk (bytes, or text as
    UTF-8) as it comes, until the iterator ends. Returns the status, or None when the client went away.
    The iterator is closed (``aclose``) in every case; a cancel with ``END_STREAM`` ends the body cleanly."""
    status, header, body = split_payload(payload)
    try:
        await send({"type": _START, "status": status, "headers": _stream_headers(header)})
        if not head:
            async for chunk in body:
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                if data:
                    await send({"type": _BODY, "body": data, "more_body": True})
        await send({"type": _BODY, "body": b"", "more_body": False})
    except (OSError, RuntimeError):
        return None
    except asyncio.CancelledError as exc:
        if exc.args != (END_STREAM,):
            raise
        task = asyncio.current_task()
        if task is not None:  # ended by drain(): finish the response
            task.uncancel()
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": _BODY, "body": b"", "more_body": False})
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    return status
