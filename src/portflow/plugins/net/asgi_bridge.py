"""An ASGI-3 application served over granian's RSGI protocol.

granian serves one interface per socket, and the listener's requests take RSGI's cheaper calls
(``conn.RsgiConn``). What else shares a server speaks ASGI: the admin address and the browser view, and
the listener's WebSocket requests (which a ``gateway`` accepts through ASGI messages). ``asgi_over_rsgi``
runs such an app on an RSGI ``(scope, proto)``:

- HTTP: ``receive()`` gives the body chunk by chunk (the last with ``more_body`` false), then waits for
  the client to leave (``http.disconnect``); ``send()`` writes a whole answer in one call, or streams one
  whose body has ``more_body``.
- WebSocket: ``receive()`` first gives ``websocket.connect``; ``websocket.accept`` accepts; messages and
  the close map to and from RSGI's. A close before the accept refuses the handshake (403).
"""

from __future__ import annotations

import contextlib
from typing import Any

from .conn import address
from .payload import text_pairs

__all__ = ["asgi_over_rsgi", "asgi_scope"]

_CLIENT_CLOSED = 0
_BYTES = 1


def asgi_scope(scope: Any, kind: str) -> dict[str, Any]:
    """The ASGI scope of an RSGI scope (``kind``: ``http`` or ``websocket``)."""
    headers = [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in scope.headers.items()]
    query = scope.query_string
    return {
        "type": kind, "asgi": {"version": "3.0"}, "http_version": scope.http_version,
        "scheme": ("wss" if scope.scheme == "https" else "ws") if kind == "websocket" else scope.scheme,
        "method": scope.method, "path": scope.path, "raw_path": scope.path.encode("latin-1", "replace"),
        "root_path": "", "query_string": query.encode("latin-1", "replace"), "headers": headers,
        "client": address(scope.client), "server": address(scope.server),
    }


async def asgi_over_rsgi(app: Any, scope: Any, proto: Any) -> None:
    """Serve one RSGI request or WebSocket connection with the ASGI ``app``."""
    if scope.proto == "http":
        http = _Http(proto)
        await app(asgi_scope(scope, "http"), http.receive, http.send)
        http.finish()
    elif scope.proto == "ws":
        ws = _WebSocket(proto)
        try:
            await app(asgi_scope(scope, "websocket"), ws.receive, ws.send)
        finally:
            ws.finish()


class _Http:
    __slots__ = ("proto", "body", "done", "status", "headers", "transport", "answered")

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.body: Any = None  # the body's async iterator, once reading began
        self.done = False  # the body was read to its end
        self.status = 200
        self.headers: list[tuple[str, str]] = []
        self.transport: Any = None
        self.answered = False

    async def receive(self) -> dict[str, Any]:
        if not self.done:
            if self.body is None:
                self.body = self.proto.__aiter__()
            try:
                chunk = await self.body.__anext__()
            except StopAsyncIteration:
                self.done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        with contextlib.suppress(Exception):
            await self.proto.client_disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = text_pairs(list(message.get("headers", ())))
        elif kind == "http.response.body":
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.transport is None and not more:
                self.answered = True
                self.proto.response_bytes(self.status, self.headers, body)
                return
            if self.transport is None:
                self.answered = True
                self.transport = self.proto.response_stream(self.status, self.headers)
            if body:
                await self.transport.send_bytes(body)

    def finish(self) -> None:
        if not self.answered:  # the app wrote nothing: an empty 500, as an ASGI server answers
            self.answered = True
            self.proto.response_empty(500, [])


class _WebSocket:
    __slots__ = ("proto", "transport", "connected", "closed")

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.transport: Any = None
        self.connected = False
        self.closed = False

    async def receive(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        if self.transport is None or self.closed:
            return {"type": "websocket.disconnect", "code": 1006}
        try:
            message = await self.transport.receive()
        except Exception:  # noqa: BLE001 - the connection broke
            self.closed = True
            return {"type": "websocket.disconnect", "code": 1006}
        if message.kind == _CLIENT_CLOSED:
            self.closed = True
            return {"type": "websocket.disconnect", "code": 1005}
        if message.kind == _BYTES:
            return {"type": "websocket.receive", "bytes": message.data}
        return {"type": "websocket.receive", "text": message.data}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.transport = await self.proto.accept()
        elif kind == "websocket.send":
            if self.transport is None or self.closed:
                raise RuntimeError("websocket: not connected")
            text = message.get("text")
            if text is not None:
                await self.transport.send_str(text)
            else:
                await self.transport.send_bytes(message.get("bytes") or b"")
        elif kind == "websocket.close":
            self._close(int(message.get("code", 1000)) if self.transport is not None else 403)

    def _close(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.proto.close(code)

    def finish(self) -> None:
        self._close(1000 if self.transport is not None else 403)
