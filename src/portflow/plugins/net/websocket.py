"""The ``gateway`` and ``websocket`` kinds: WebSocket connections as flows (uniflow v0.12, reference §12).

Both have the ports ``io``, ``in``, ``out`` and ``error``:

- ``io`` opens a connection for the process (``gateway``: accepts the WebSocket request a listener received
  in this process; ``websocket``: dials ``url``) and answers None at once; a failure goes to ``error``.
- every message received is sent on ``out`` as ``{type, data}`` in a child process (``type`` 1 text,
  2 binary; ``data`` decoded by sniffing, so JSON text arrives parsed); when the peer closes, the
  connection's process ends.
- a packet on ``in`` (in the connection's process or a descendant) is written to the connection: a
  ``{type, data}`` map as it says, anything else as text (bytes as binary). While that process's
  connection is still being opened (a ``websocket`` dialling, fed by the same request as a ``gateway``
  that already accepted), the packet waits for it instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from msgspec import Meta

from ...errors import FlowError
from ...node import Node
from ...packet import NONE, Packet
from ...port import ERROR, IN, IO, OUT, InPort, OutPort
from ...process import Process
from ...scheme import Context, Scheme, spec_error
from ...spec import NonNegativeDuration, Spec
from ...tracing import propagate
from . import mime
from .upgrade import WEBSOCKET_KEY

__all__ = ["GatewaySpec", "WebSocketSpec", "Gateway", "WebSocketClient", "register", "TEXT", "BINARY", "CLOSE"]

log = logging.getLogger("portflow.net.websocket")

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


class GatewaySpec(Spec, kw_only=True):
    """Upgrades the HTTP request received on ``io`` to a WebSocket; messages flow out on ``out``, in on ``in``."""

    protocol: Annotated[Literal["websocket"], Meta(description="the protocol upgraded to (only websocket)")] = \
        "websocket"
    timeout: Annotated[NonNegativeDuration | None, Meta(description="the longest the closing handshake may take")] = None
    buffer: Annotated[int, Meta(ge=0, description="messages kept while nobody reads them (0: none)")] = 0


class WebSocketSpec(Spec, kw_only=True):
    """A WebSocket client: ``io`` dials ``url``; messages flow out on ``out``, in on ``in``."""

    url: Annotated[str, Meta(description="the ws:// or wss:// URL to connect to")]
    timeout: Annotated[NonNegativeDuration | None, Meta(description="the longest the closing handshake may take")] = None


def _message(kind: int, raw: bytes | str) -> dict[str, Any]:
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        value = mime.decode(data, None)
    except mime.BodyError:
        value = raw
    return {"type": kind, "data": value}


def _outgoing(payload: Any) -> tuple[int, str | bytes]:
    if isinstance(payload, dict) and "type" in payload and set(payload) <= {"type", "data"}:
        kind = int(payload.get("type") or TEXT)
        data = payload.get("data")
    else:
        kind = BINARY if isinstance(payload, (bytes, bytearray)) else TEXT
        data = payload
    if isinstance(data, (bytes, bytearray)):
        raw: bytes | str = bytes(data)
    elif isinstance(data, str):
        raw = data
    else:
        raw = mime.encode(data, None)[1]
    if kind == TEXT and isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if kind == BINARY and isinstance(raw, str):
        raw = raw.encode()
    return kind, raw


class _Channel:
    """One open connection: receive ``(type, data)`` until None, send, close."""

    async def receive(self) -> tuple[int, bytes | str] | None:  # pragma: no cover - interface
        raise NotImplementedError

    async def send(self, kind: int, data: bytes | str) -> None:  # pragma: no cover
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover
        raise NotImplementedError


class _ASGIChannel(_Channel):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def receive(self) -> tuple[int, bytes | str] | None:
        message = await self.conn.receive()
        if message["type"] != "websocket.receive":
            self.conn.closed = True
            return None
        if message.get("text") is not None:
            return TEXT, message["text"]
        return BINARY, message.get("bytes") or b""

    async def send(self, kind: int, data: bytes | str) -> None:
        if self.conn.closed:
            raise FlowError("websocket: connection closed")
        if kind == CLOSE:
            await self.close()
        elif isinstance(data, str):
            await self.conn.send({"type": "websocket.send", "text": data})
        else:
            await self.conn.send({"type": "websocket.send", "bytes": data})

    async def close(self) -> None:
        if not self.conn.closed:
            self.conn.closed = True
            with contextlib.suppress(Exception):
                await self.conn.send({"type": "websocket.close", "code": 1000})


class _AiohttpChannel(_Channel):
    def __init__(self, ws: Any, session: Any) -> None:
        self.ws = ws
        self.session = session

    async def receive(self) -> tuple[int, bytes | str] | None:
        import aiohttp

        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            return TEXT, msg.data
        if msg.type == aiohttp.WSMsgType.BINARY:
            return BINARY, msg.data
        return None

    async def send(self, kind: int, data: bytes | str) -> None:
        if kind == CLOSE:
            await self.close()
        elif isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


class _WebSocketNode(Node):
    def __init__(self) -> None:
        self.io_port = InPort(IO, self, self._connect)
        self.in_port = InPort(IN, self, self._consume)
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self._channels: dict[Process, _Channel] = {}
        self._opening: dict[Process, asyncio.Future[_Channel | None]] = {}

    def inport(self, name: str) -> InPort | None:
        return self.io_port if name == IO else self.in_port if name == IN else None

    def inport_names(self) -> list[str]:
        return [IO, IN]

    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    async def _open(self, proc: Process, pck: Packet) -> _Channel:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _connect(self, proc: Process, pck: Packet) -> Packet:
        opening: asyncio.Future[_Channel | None] = asyncio.get_running_loop().create_future()
        self._opening[proc] = opening
        try:
            channel = await self._open(proc, pck)
        except asyncio.CancelledError:
            opening.set_result(None)
            raise
        except Exception as exc:  # noqa: BLE001 - errors are data
            opening.set_result(None)
            err = Packet(exc if isinstance(exc, FlowError) else FlowError(f"websocket: {exc}"))
            return await self.error_port.send(proc, err, err)
        finally:
            if self._opening.get(proc) is opening:
                del self._opening[proc]
        self._channels[proc] = channel
        opening.set_result(channel)

        async def forget(p: Process) -> None:
            self._channels.pop(p, None)
            await channel.close()

        proc.on_exit(forget)
        proc.start(self._produce(proc, channel))
        return NONE

    async def _produce(self, proc: Process, channel: _Channel) -> None:
        try:
            while True:
                message = await channel.receive()
                if message is None:
                    break
                child = proc.fork()
                try:
                    out = Packet(_message(*message))
                    answer = await self.out_port.send(child, out, out)
                    if isinstance(answer.payload, BaseException):
                        answer = await self.error_port.send(child, answer, answer)
                        if isinstance(answer.payload, BaseException):
                            log.error("websocket message failed: %s", answer.payload)
                    await child.join()
                finally:
                    await child.exit()
        finally:
            self._channels.pop(proc, None)
            await channel.close()

    def _channel(self, proc: Process | None) -> _Channel | asyncio.Future[_Channel | None] | None:
        """The open connection of ``proc`` or its nearest ancestor, or the future of one being opened."""
        while proc is not None:
            channel = self._channels.get(proc)
            if channel is not None:
                return channel
            opening = self._opening.get(proc)
            if opening is not None:
                return opening
            proc = proc.parent
        return None

    async def _consume(self, proc: Process, pck: Packet) -> Packet:
        channel = self._channel(proc)
        if isinstance(channel, asyncio.Future):
            channel = await asyncio.shield(channel)
        if channel is None:
            err = Packet(FlowError("websocket: no open connection in this process"))
            return await self.error_port.send(proc, err, err)
        try:
            await channel.send(*_outgoing(pck.payload))
        except Exception as exc:  # noqa: BLE001
            err = Packet(FlowError(f"websocket: {exc}"))
            return await self.error_port.send(proc, err, err)
        return NONE

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            await channel.close()
        self._channels.clear()


class Gateway(_WebSocketNode):
    """Accepts the WebSocket request that a listener left in the process."""

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__()
        self.timeout = timeout

    async def _open(self, proc: Process, pck: Packet) -> _Channel:
        conn = proc.get(WEBSOCKET_KEY)
        if conn is None:
            raise FlowError("gateway: this process has no WebSocket request to upgrade")
        if conn.accepted:
            raise FlowError("gateway: the WebSocket request was already upgraded")
        conn.accepted = True
        await conn.send({"type": "websocket.accept"})
        return _ASGIChannel(conn)


class WebSocketClient(_WebSocketNode):
    """Dials ``url`` (the payload may give ``scheme``/``host``/``path``/``query`` when the spec does not)."""

    def __init__(self, url: str, timeout: float | None = None) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout

    async def _open(self, proc: Process, pck: Packet) -> _Channel:
        import aiohttp

        parts = urlsplit(self.url)
        payload = pck.payload if isinstance(pck.payload, dict) else {}
        scheme = parts.scheme or payload.get("scheme") or "ws"
        host = parts.netloc or payload.get("host") or ""
        path = parts.path or payload.get("path") or "/"
        query = parts.query
        if not query and isinstance(payload.get("query"), dict):
            query = urlencode([(k, x) for k, v in payload["query"].items()
                               for x in (v if isinstance(v, list) else [v])])
        url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, headers=propagate([]), timeout=aiohttp.ClientWSTimeout(ws_receive=None,
                                                                                 ws_close=self.timeout or 10.0))
        except Exception as exc:  # noqa: BLE001 - any connection failure is answered, as data
            await session.close()
            raise FlowError(f"websocket: cannot connect to {url}: {exc}") from None
        return _AiohttpSessionChannel(ws, session)


class _AiohttpSessionChannel(_AiohttpChannel):
    async def close(self) -> None:
        await super().close()
        with contextlib.suppress(Exception):
            await self.session.close()


def compile_gateway(spec: GatewaySpec, context: Context) -> Gateway:
    return Gateway(float(spec.timeout) if spec.timeout else None)


def compile_websocket(spec: WebSocketSpec, context: Context) -> WebSocketClient:
    parts = urlsplit(spec.url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        raise spec_error(spec, "url", f"{spec.url!r} is not a ws(s) URL")
    return WebSocketClient(spec.url, float(spec.timeout) if spec.timeout else None)


GATEWAY_EXAMPLE = """\
- kind: listener
  name: listener
  protocol: http
  port: 8000
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /ws
      port: out[0]
  ports:
    out[0]:
      - name: gateway
        port: io
- kind: gateway
  name: gateway
  protocol: websocket
  ports:
    out:
      - name: echo
        port: in
- kind: snippet
  name: echo
  language: cel
  code: self
  ports:
    out:
      - name: gateway
        port: in
"""

WEBSOCKET_EXAMPLE = """\
- kind: websocket
  name: client
  url: ws://127.0.0.1:8000/ws
"""


def register(scheme: Scheme) -> None:
    ports = {"io": "opens the connection for this process", "in": "messages to send",
             "out": "messages received, as {type, data}", "error": "connection failures"}
    scheme.register("gateway", GatewaySpec, compile_gateway, description=GatewaySpec.__doc__ or "",
                    ports=ports, example=GATEWAY_EXAMPLE, plugin="net")
    scheme.register("websocket", WebSocketSpec, compile_websocket, description=WebSocketSpec.__doc__ or "",
                    ports=ports, example=WEBSOCKET_EXAMPLE, plugin="net")
