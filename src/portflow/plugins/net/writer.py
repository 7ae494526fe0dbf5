"""Writing a whole answer to an ASGI client (the listener's other writing goes through ``conn``)."""

from __future__ import annotations

from typing import Any

__all__ = ["respond", "END_STREAM"]

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
