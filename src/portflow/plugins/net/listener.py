"""The ``listener`` kind: an HTTP server whose every request is one process through the flow (reference §8, §10).

The node serves the registry's application (``registry.Dispatch``: RSGI on granian, ASGI on uvicorn)
through ``server.serve``; the server lives in the runtime's listener registry, so a reloaded listener takes
the socket over. Each HTTP request goes through ``exchange.serve_http`` (read the body -> run the flow,
raced against the client leaving -> write the answer) over a ``conn.Conn``, each WebSocket request
through ``upgrade.serve_websocket`` (ASGI; over granian through ``asgi_bridge``).

Rooms: ``listener`` (spec, node, lifecycle), ``registry`` (servers by address, hand-over), ``exchange``
(the request path), ``conn`` (the connection over RSGI or ASGI), ``race`` (flow vs. client, deadlines),
``writer`` (whole ASGI answers), ``upgrade`` (WebSocket requests), ``asgi_bridge`` (ASGI apps on RSGI),
``server`` / ``granian_seam`` (the HTTP servers).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ...logs import spec_fields
from ...node import Node
from ...port import ERROR, OUT, OutPort
from ...scheme import Context, Scheme
from ...spec import PositiveDuration, Spec
from .asgi_bridge import asgi_over_rsgi
from .conn import AsgiConn, RsgiConn
from .exchange import CLIENT_KEY, serve_http
from .race import Deadlines
from .registry import HANDOVER, Dispatch, Listeners, listeners
from .server import TLS, Limits
from .upgrade import WEBSOCKET_KEY, WebSocketConn, serve_websocket
from .writer import END_STREAM

__all__ = [
    "ListenerSpec", "TLSSpec", "Listener", "Dispatch", "Listeners", "listeners", "compile_listener", "register",
    "WEBSOCKET_KEY", "CLIENT_KEY", "DEFAULT_MAX_BODY", "HANDOVER", "WebSocketConn",
]

log = logging.getLogger("portflow.net.listener")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_DEFAULTS = Limits()


class TLSSpec(msgspec.Struct, kw_only=True):
    """A certificate and its key: PEM text or a path to a PEM file."""

    cert: Annotated[str, Meta(min_length=1, description="the certificate chain: PEM text or a file path")]
    key: Annotated[str, Meta(min_length=1, description="its private key: PEM text or a file path (bind it from a value)")]


class ListenerSpec(Spec, kw_only=True):
    """Listens for HTTP requests and sends each one, as a payload, through ``out`` in its own process."""

    protocol: Annotated[Literal["http"], Meta(description="the protocol served (only http)")] = "http"
    host: Annotated[str, Meta(description="the address to listen on ('' or '*': every interface)")] = ""
    port: Annotated[int, Meta(ge=0, le=65535, description="the TCP port (0: any free one)")]
    tls: Annotated[TLSSpec | None, Meta(description="serve HTTPS with this certificate and key")] = None
    max_body: Annotated[int, Meta(ge=1, description="the largest request body in bytes, after decoding (413 past it)")] = \
        DEFAULT_MAX_BODY
    read_timeout: Annotated[PositiveDuration, Meta(description="the longest reading a whole request may take")] = \
        PositiveDuration(60.0)
    header_timeout: Annotated[PositiveDuration, Meta(description="the longest a client may take to send a request head")] = \
        PositiveDuration(_DEFAULTS.header_timeout)
    idle_timeout: Annotated[PositiveDuration, Meta(description="how long an idle keep-alive connection stays open")] = \
        PositiveDuration(_DEFAULTS.idle_timeout)
    max_connections: Annotated[int, Meta(ge=1, description="open connections at most (the oldest idle one is shed)")] = \
        _DEFAULTS.max_connections


class Listener(Node):
    """The live listener. Construct with plain arguments; ``load()`` listens, ``unload()`` drains and releases."""

    def __init__(self, host: str = "", port: int = 0, *, tls: TLS | None = None, max_body: int = DEFAULT_MAX_BODY,
                 read_timeout: float = 60.0, server: str = "granian", registry: Listeners | None = None,
                 label: str = "listener", grace: float = 10.0, protocol: str = "http",
                 reuse_port: bool = False, limits: Limits = _DEFAULTS, access_log: bool = True,
                 log_fields: dict[str, Any] | None = None) -> None:
        self.host = host
        self.configured_port = port
        self.tls = tls
        self.protocol = protocol
        self.reuse_port = reuse_port
        self.max_body = max_body
        self.read_timeout = read_timeout
        # ``read_timeout`` bounds reading the whole request, its head included.
        self.limits = limits if read_timeout >= limits.header_timeout else replace(limits, header_timeout=read_timeout)
        self.server_name = server
        self.registry = registry if registry is not None else Listeners()
        self.label = label
        #: An access line per request (setting ``logging.access``); ``log_fields`` go on every line about it.
        self.access_log = access_log
        self.log_fields = log_fields or {"kind": "listener"}
        self.grace = grace
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self.binding: Any = None
        self.active = 0  # requests and connections being served
        self._idle: asyncio.Event | None = None  # set when active drops to 0 while draining
        self.running: set[asyncio.Task] = set()  # the tasks of requests that are waiting (to cancel them)
        self.streams: set[asyncio.Task] = set()  # the tasks writing a streaming body (ended first on drain)
        self.deadlines = Deadlines()  # requests reading their body, each by ``read_timeout``

    # -- ports and lifecycle ----------------------------------------------------------------------
    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    @property
    def port(self) -> int:
        """The bound port (the configured one until the node has loaded)."""
        return self.binding.server.port if self.binding is not None else self.configured_port

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"  # noqa: S104 - a comparison
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def load(self) -> None:
        await self.registry.acquire(self)

    def not_ready(self) -> str | None:
        """Why the listener is not serving although loaded (its server is gone), for readiness; else None."""
        binding = self.binding
        if binding is None or binding.owner is not self or not binding.server.running:
            return "not listening"
        return None

    async def unload(self) -> None:
        """Stop taking new requests (the server stays open for a successor), then drain in-flight ones."""
        await self.registry.release(self)
        await self.drain(self.grace)

    async def drain(self, timeout: float) -> None:
        """Wait until the requests in flight have been answered; cancel those still running after ``timeout``."""
        if not self.active:
            return
        self._idle = idle = asyncio.Event()
        for task in list(self.streams):  # a stream has no end of its own: end it now (clients resume)
            task.cancel(END_STREAM)
        try:
            await asyncio.wait_for(idle.wait(), timeout)
        except TimeoutError:
            pending = [t for t in self.running if not t.done()]
            log.warning("%s: %d request(s) still running after %.1fs; cancelling", self.label, len(pending), timeout,
                        extra=self.log_fields)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        finally:
            self._idle = None

    # -- requests -----------------------------------------------------------------------------------
    def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        """Serve one ASGI connection scope (returns the coroutine to await)."""
        kind = scope["type"]
        if kind == "http":
            return serve_http(self, AsgiConn(scope, receive, send))
        if kind == "websocket":
            return self._serve_websocket(scope, receive, send)
        return _nothing()

    def handle_rsgi(self, scope: Any, proto: Any) -> Any:
        """Serve one RSGI request (granian's interface; returns the coroutine to await). A WebSocket
        request goes through the ASGI bridge, as ``gateway`` speaks ASGI."""
        if scope.proto == "http":
            return serve_http(self, RsgiConn(scope, proto))
        return asgi_over_rsgi(self.handle, scope, proto)

    async def _serve(self, request: Any) -> None:
        self.active += 1
        try:
            await request
        finally:
            self.served()

    def served(self) -> None:
        """One request or connection less in flight (``active`` counts them; ``drain()`` waits for 0)."""
        self.active -= 1
        if not self.active and self._idle is not None:
            self._idle.set()

    async def _serve_websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        task = asyncio.current_task()
        self.running.add(task)  # type: ignore[arg-type]
        try:
            await self._serve(serve_websocket(self, scope, receive, send))
        finally:
            self.running.discard(task)


async def _nothing() -> None:
    return None


def compile_listener(spec: ListenerSpec, context: Context) -> Listener:
    tls = TLS(spec.tls.cert, spec.tls.key) if spec.tls else None
    limits = Limits(header_timeout=float(spec.header_timeout), idle_timeout=float(spec.idle_timeout),
                    max_connections=spec.max_connections)
    return Listener(
        spec.host, spec.port, tls=tls, max_body=spec.max_body, read_timeout=float(spec.read_timeout),
        server=context.settings.listener_server, registry=listeners(context),
        label=spec.subject, grace=context.settings.grace,
        reuse_port=context.settings.listener_reuse_port, limits=limits,
        access_log=context.settings.access_log, log_fields=spec_fields(spec),
    )
EXAMPLE = """\
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  ports:
    out:
      - name: router
        port: in
  env:
    PORT:
      data: '{{ .PORT }}'
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "listener", ListenerSpec, compile_listener,
        description=ListenerSpec.__doc__ or "",
        ports={"out": "each request as {method, scheme, host, path, query, protocol, header, body, status}",
               "error": "errors the flow answered, and bodies that do not decode"},
        example=EXAMPLE, plugin="net",
    )
