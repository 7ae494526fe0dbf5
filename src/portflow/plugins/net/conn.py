"""A request's connection to its client, over either server interface the listener is served by.

The exchange (``exchange.serve_http``) sees a request only through a ``Conn``: the request line, the head
as a header map, the body as chunks, a wait for the client to leave, and a whole or a streaming answer.

- ``RsgiConn``: granian's RSGI protocol (the default server). The head arrives as ``str`` pairs, a body
  of known length is read in one call, and a whole answer is one synchronous call (no ASGI messages).
- ``AsgiConn``: an ASGI-3 ``(scope, receive, send)`` (uvicorn, and callers in-process).

Both raise ``BodyUnreadable`` when the server could not read the body (a malformed chunked encoding) and
``race.ClientGone`` when the client left while it was being read. An answer's headers are
``(bytes, bytes)`` pairs, lowercase, as ``payload.response`` makes them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from .payload import REQUEST_ONLY_HEADERS, header_map, header_map_text, split_payload, text_pairs
from .race import ClientGone
from .writer import respond

__all__ = ["Conn", "AsgiConn", "RsgiConn", "BodyUnreadable", "stream_headers", "streamed", "address"]

_START = "http.response.start"
_BODY = "http.response.body"


class BodyUnreadable(Exception):
    """The server could not read the request body (bad framing)."""


class Conn:
    """What the exchange needs of a connection; see the module docstring."""

    __slots__ = ("method", "path", "query_string", "http_version", "client")

    method: str
    path: str
    query_string: str | bytes
    http_version: str
    #: The client's ``(host, port)``, or None when the server does not say.
    client: tuple[str, int] | None

    def header_map(self) -> dict[str, list[str]]:
        raise NotImplementedError

    async def read(self, expected: int) -> bytes:
        """The whole body of ``expected`` bytes (a ``Content-Length`` within the limit)."""
        raise NotImplementedError

    def chunks(self, expected: int | None) -> AsyncGenerator[bytes, None]:
        """The body chunk by chunk as it arrives, stopping after ``expected`` bytes when given."""
        raise NotImplementedError

    async def disconnected(self) -> None:
        """Return once the client has gone away."""
        raise NotImplementedError

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        """Write a whole answer. False when the client has gone away."""
        raise NotImplementedError

    async def stream(self, status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterator[Any],
                     head: bool) -> bool:
        """Write the head, then each chunk (bytes, or text as UTF-8) as ``body`` gives it (none for
        ``head``). False when the client has gone away."""
        raise NotImplementedError

    async def end_stream(self) -> None:
        """End a streaming answer cleanly after its writing was interrupted (the listener unloading)."""


def stream_headers(header: dict[str, list[str]]) -> list[tuple[bytes, bytes]]:
    """The head of a streaming answer from its payload's ``header`` (no length: the body is open-ended)."""
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


def streamed(payload: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], AsyncIterator[Any]]:
    """``(status, headers, body)`` of an answer whose body is an async iterator."""
    status, header, body = split_payload(payload)
    return status, stream_headers(header), body


def _chunk(chunk: Any) -> bytes:
    return chunk.encode() if isinstance(chunk, str) else bytes(chunk)


# -- RSGI -------------------------------------------------------------------------------------------------

_ADDRESSES: dict[str, tuple[str, int] | None] = {}


def address(text: str | None) -> tuple[str, int] | None:
    """``"host:port"`` (``"[::1]:port"`` too) as ``(host, port)``; recent ones are remembered (a
    keep-alive connection sends many requests)."""
    if not text:
        return None
    found = _ADDRESSES.get(text, False)
    if found is not False:
        return found  # type: ignore[return-value]
    host, _, port = text.rpartition(":")
    try:
        parsed: tuple[str, int] | None = (host.strip("[]"), int(port))
    except ValueError:
        parsed = None
    if len(_ADDRESSES) >= 4096:
        _ADDRESSES.clear()
    _ADDRESSES[text] = parsed
    return parsed


class RsgiConn(Conn):
    """A request over granian's RSGI protocol: ``scope`` (its attributes) and ``proto`` (its calls)."""

    __slots__ = ("scope", "proto")

    def __init__(self, scope: Any, proto: Any) -> None:
        self.scope = scope
        self.proto = proto
        self.method = scope.method
        self.path = scope.path
        self.query_string = scope.query_string
        self.http_version = scope.http_version
        self.client = address(scope.client)

    def header_map(self) -> dict[str, list[str]]:
        return header_map_text(self.scope.headers.items())

    async def read(self, expected: int) -> bytes:
        try:
            return await self.proto()
        except Exception as exc:  # noqa: BLE001 - granian: the body could not be read
            raise _unreadable(exc) from None

    async def chunks(self, expected: int | None) -> AsyncGenerator[bytes, None]:
        # granian 2.8's body iterator does not raise when the body breaks (bad chunked framing, a client
        # that stops short): it gives an empty chunk for the failure and another for the end, where a
        # whole body ends with one (tests/plugins/net/test_hardening.py pins this).
        empty = 0
        size = 0
        try:
            async for chunk in self.proto:
                if chunk:
                    size += len(chunk)
                    yield chunk
                else:
                    empty += 1
        except (GeneratorExit, ClientGone):
            raise
        except Exception as exc:  # noqa: BLE001 - granian: the body could not be read
            raise _unreadable(exc) from None
        if empty > 1 or (expected is not None and size < expected):
            raise BodyUnreadable("malformed request body")

    async def disconnected(self) -> None:
        try:
            await self.proto.client_disconnect()
        except Exception:  # noqa: BLE001 - a connection that broke is a client that left
            return

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        try:
            self.proto.response_bytes(status, text_pairs(headers), body)
        except (OSError, RuntimeError):
            return False
        return True

    async def stream(self, status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterator[Any],
                     head: bool) -> bool:
        try:
            transport = self.proto.response_stream(status, text_pairs(headers))
            if not head:
                async for chunk in body:
                    data = _chunk(chunk)
                    if data:
                        await transport.send_bytes(data)
        except (OSError, RuntimeError):
            return False
        return True  # the body ends when the request's handler returns


def _unreadable(exc: Exception) -> Exception:
    name = type(exc).__name__
    if "Closed" in name or "disconnect" in str(exc).lower():  # RSGIProtocolClosed: the client left
        return ClientGone()
    return BodyUnreadable(str(exc))


# -- ASGI -------------------------------------------------------------------------------------------------

class AsgiConn(Conn):
    """A request over ASGI-3: its ``scope`` dict, ``receive`` and ``send``."""

    __slots__ = ("scope", "receive", "send", "started")

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method = scope["method"]
        self.path = scope["path"]
        self.query_string = scope["query_string"]
        self.http_version = scope["http_version"]
        self.client = scope.get("client")
        self.started = False

    def header_map(self) -> dict[str, list[str]]:
        return header_map(self.scope["headers"])

    async def read(self, expected: int) -> bytes:
        chunks = [chunk async for chunk in self.chunks(expected)]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def chunks(self, expected: int | None) -> AsyncGenerator[bytes, None]:
        # With a length, reading stops at that many bytes: the server's closing empty message (one more
        # round trip for some servers) is left unread, as the client-gone watcher expects.
        size = 0
        while True:
            try:
                message = await self.receive()
            except Exception:  # noqa: BLE001 - the server could not read the body (bad chunked framing)
                raise BodyUnreadable("malformed request body") from None
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if chunk:
                yield chunk
            if not message.get("more_body", False) or size == expected:
                return

    async def disconnected(self) -> None:
        try:
            while (await self.receive()).get("type") != "http.disconnect":
                pass  # a leftover body message
        except Exception:  # noqa: BLE001 - a connection that broke is a client that left
            return

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        return await respond(self.send, status, headers, body)

    async def stream(self, status: int, headers: list[tuple[bytes, bytes]], body: AsyncIterator[Any],
                     head: bool) -> bool:
        send = self.send
        try:
            await send({"type": _START, "status": status, "headers": headers})
            self.started = True
            if not head:
                async for chunk in body:
                    data = _chunk(chunk)
                    if data:
                        await send({"type": _BODY, "body": data, "more_body": True})
            await send({"type": _BODY, "body": b"", "more_body": False})
        except (OSError, RuntimeError):
            return False
        return True

    async def end_stream(self) -> None:
        if self.started:
            try:
                await self.send({"type": _BODY, "body": b"", "more_body": False})
            except (OSError, RuntimeError):
                return
