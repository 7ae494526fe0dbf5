"""A WebSocket request: one process whose connection waits in the process for a ``gateway`` to accept it."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ...errors import FlowError
from ...packet import Packet
from ...process import Process
from .payload import header_map, query_map
from .race import until_first

if TYPE_CHECKING:
    from .listener import Listener

__all__ = ["WebSocketConn", "serve_websocket", "WEBSOCKET_KEY"]

log = logging.getLogger("portflow.net.listener")

#: Process data key under which a WebSocket request's connection waits for a ``gateway``.
WEBSOCKET_KEY = "net.websocket"


class WebSocketConn:
    """A WebSocket request's ASGI channel, left in the process for a ``gateway`` to accept.

    ``ended`` is set once the connection is closed, by either side."""

    __slots__ = ("scope", "receive", "send", "accepted", "_closed", "ended")

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.accepted = False
        self._closed = False
        self.ended = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._closed = value
        if value:
            self.ended.set()


def _payload(scope: dict[str, Any]) -> dict[str, Any]:
    header = header_map(scope["headers"])
    host = header.get("Host")
    payload: dict[str, Any] = {
        "method": "GET", "host": ", ".join(host) if host else "", "path": scope["path"] or "/",
        "protocol": "HTTP/" + scope.get("http_version", "1.1"), "header": header, "status": 0,
    }
    if scope.get("query_string"):
        payload["query"] = query_map(scope["query_string"])
    return {k: v for k, v in payload.items() if v != "" or k == "status"}


async def serve_websocket(node: Listener, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run the flow for one WebSocket request; the process lives as long as its connection."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    conn = WebSocketConn(scope, receive, send)
    proc = Process()
    proc.set(WEBSOCKET_KEY, conn)
    error: BaseException | None = None
    try:
        answer = await node.out_port.send(proc, Packet(_payload(scope)))
        if isinstance(answer.payload, BaseException):
            answer = await node.error_port.send(proc, answer, answer)
        if isinstance(answer.payload, BaseException):
            log.error("%s: websocket %s: unhandled error: %s", node.label, scope["path"], answer.payload,
                      extra=node.log_fields)
            error = answer.payload
        if not conn.accepted:
            await send({"type": "websocket.close", "code": 1008 if error is None else 1011})
            conn.closed = True
            await proc.join()
        else:
            # Once the client is gone, exiting the process ends what it still holds (e.g. a ``websocket``
            # client dialled for this request).
            await until_first(proc.join(), conn.ended.wait())
    except asyncio.CancelledError:
        await proc.exit(FlowError("connection cancelled"))
        raise
    await proc.exit(error)
