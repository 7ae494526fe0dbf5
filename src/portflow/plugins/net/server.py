"""``serve(app, host, port, tls, reuse_port)``: an ASGI-3 application served inside the running event loop.

Two implementations of one small interface, chosen by name:

- ``granian`` (the default): granian's Rust HTTP server driven in embedded mode, its worker scheduling each
  request as a task on *our* loop.
- ``uvicorn``: uvicorn's httptools protocol on the loop's own ``create_server``.

Both serve a socket we bind ourselves, so binding port 0 works and ``server.port`` is the bound port; the
server is listening when ``start()`` returns (or ``async with`` enters), so a client may connect at once.
``stop()`` stops accepting, lets in-flight requests finish (up to ``grace`` seconds) and closes the socket.

::

    async with serve(app, "127.0.0.1", 0) as server:
        ...  # server.port is the bound port
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...errors import ConfigError, UserError
from ...lifetime import current as current_lifetime

__all__ = ["serve", "Server", "TLS", "SERVERS", "bind_socket"]

log = logging.getLogger("portflow.net.server")

ASGIApp = Any
SERVERS = ("granian", "uvicorn")


@dataclass(frozen=True)
class TLS:
    """A certificate and key, each PEM text or a path to a PEM file."""

    cert: str
    key: str


class Server(Protocol):
    host: str
    port: int

    async def start(self) -> None: ...

    async def stop(self, grace: float = 10.0) -> None: ...

    async def __aenter__(self) -> Server: ...

    async def __aexit__(self, *exc: object) -> None: ...


def serve(app: ASGIApp, host: str = "", port: int = 0, tls: TLS | None = None, reuse_port: bool = False, *,
          server: str = "granian", backlog: int = 1024, read_timeout: float = 60.0,
          websockets: bool = True) -> Server:
    """A server for ``app`` on ``host:port`` (not started yet: ``await start()`` or ``async with``)."""
    if server == "granian":
        return GranianServer(app, host, port, tls, reuse_port, backlog=backlog, read_timeout=read_timeout,
                             websockets=websockets)
    if server == "uvicorn":
        return UvicornServer(app, host, port, tls, reuse_port, backlog=backlog, read_timeout=read_timeout,
                             websockets=websockets)
    raise ConfigError(f"listener.server: unknown server {server!r}; expected one of {', '.join(SERVERS)}")


def bind_socket(host: str, port: int, reuse_port: bool = False, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket. ``""`` means every interface (IPv6 and IPv4 where the host has both)."""
    if host in ("", "*"):
        candidates = [("::", socket.AF_INET6), ("0.0.0.0", socket.AF_INET)] if socket.has_ipv6 else []
        candidates = candidates or [("0.0.0.0", socket.AF_INET)]
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        candidates = [(host.strip("[]"), family)]
    last: OSError | None = None
    for addr, family in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port and hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and host in ("", "*"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((addr, port))
            sock.listen(backlog)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
            if exc.errno in (98, 48, 13):  # in use / permission: another family will not help
                break
    assert last is not None
    where = f"{host or '*'}:{port}"
    raise UserError(f"cannot listen on {where}: {last.strerror or last}") from None


class _TLSFiles:
    """PEM text written to private temporary files (servers want paths); paths are used as they are."""

    def __init__(self, tls: TLS) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.cert = self._path(tls.cert, "cert.pem")
        self.key = self._path(tls.key, "key.pem")

    def _path(self, value: str, name: str) -> str:
        if "-----BEGIN" not in value:
            if not Path(value).is_file():
                raise UserError(f"tls: {value!r} is neither PEM text nor a readable file")
            return value
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="portflow-tls-")
        path = os.path.join(self._dir.name, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        return path

    def cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class _Base:
    def __init__(self, app: ASGIApp, host: str, port: int, tls: TLS | None, reuse_port: bool, *,
                 backlog: int, read_timeout: float, websockets: bool) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.reuse_port = reuse_port
        self.backlog = backlog
        self.read_timeout = read_timeout
        self.websockets = websockets
        self.scheme = "https" if tls else "http"
        self._sock: socket.socket | None = None
        self._tls_files: _TLSFiles | None = None
        self.running = False

    def _bind(self) -> socket.socket:
        sock = bind_socket(self.host, self.port, self.reuse_port, self.backlog)
        self.port = sock.getsockname()[1]
        self._sock = sock
        if self.tls is not None:
            try:
                self._tls_files = _TLSFiles(self.tls)
            except BaseException:
                sock.close()
                raise
        return sock

    def _cleanup(self) -> None:
        if self._tls_files is not None:
            self._tls_files.cleanup()
            self._tls_files = None

    async def __aenter__(self) -> _Base:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def stop(self, grace: float = 10.0) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scheme}://{self.host or '*'}:{self.port}>"


class GranianServer(_Base):
    """granian, embedded: its Rust worker accepts and parses, our loop runs each request as a task.

    This drives granian's worker the way ``granian.server.embed`` does, minus the process-manager parts
    (logging configuration, signal handling, lifespan), and hands it a socket we bound.
    """

    async def start(self) -> None:
        from granian._futures import _new_cbscheduler
        from granian._granian import ASGIWorker, SocketHolder, WorkerSignal
        from granian.http import HTTP1Settings

        loop = asyncio.get_running_loop()
        sock = self._bind()
        app = self.app

        async def callback(watcher: Any) -> None:
            try:
                await app(watcher.scope, watcher.proto.receive, watcher.proto.send)
            except BaseException as exc:  # noqa: BLE001 - reported to granian, which logs and answers 500
                watcher.err(exc)
                return
            watcher.done()

        self._stopped: asyncio.Future[None] = loop.create_future()

        def on_stopped() -> None:
            def done() -> None:
                if not self._stopped.done():
                    self._stopped.set_result(None)

            loop.call_soon_threadsafe(done)

        self._signal = WorkerSignal()
        self._signal.add_cb(on_stopped)
        # granian owns (and closes) the descriptor it is given; we keep ours to report the address.
        holder = SocketHolder(os.dup(sock.fileno()), False, self.backlog)
        tls = self._tls_files
        http1 = HTTP1Settings(header_read_timeout=max(1, int(self.read_timeout * 1000)), keep_alive=True)
        try:
            worker = ASGIWorker(
                1, (None, holder), None,
                1, 512, 1, 30,  # runtime threads, runtime blocking threads, py threads, idle timeout
                self.backlog,  # backpressure
                "auto", http1, None, self.websockets, None,
                tls is not None, tls.cert if tls else None, tls.key if tls else None, None, "tls1.2", None, [],
                False, (None, None),
            )
            scheduler = _new_cbscheduler(loop, callback, impl_asyncio=True)
            worker.serve_async(scheduler, loop, self._signal)
        except BaseException:
            sock.close()
            self._cleanup()
            raise
        self._worker = worker
        self._scheduler = scheduler
        self.running = True

    async def stop(self, grace: float = 10.0) -> None:
        if not self.running:
            return
        self.running = False
        self._signal.set()  # stop accepting; granian drains its connections
        try:
            await asyncio.wait_for(asyncio.shield(self._stopped), grace)
        except asyncio.TimeoutError:
            log.warning("%r: connections still open after %.1fs; closing", self, grace)
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._cleanup()


def _header_timeout_protocol(timeout: float) -> type:
    """uvicorn's httptools protocol, closing a connection whose request head takes over ``timeout`` seconds
    (uvicorn has no such limit of its own; granian has ``header_read_timeout``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Protocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(timeout, self._head_timeout)

        def _head_timeout(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

    return Protocol


class UvicornServer(_Base):
    """uvicorn's httptools protocol (h11 when httptools is missing) on the loop's own server."""

    async def start(self) -> None:
        import uvicorn

        sock = self._bind()
        tls = self._tls_files
        ws = "none"
        if self.websockets:
            for module, name in (("websockets", "websockets"), ("wsproto", "wsproto")):
                try:
                    __import__(module)
                except ImportError:
                    continue
                ws = name
                break
        try:
            http: Any = _header_timeout_protocol(self.read_timeout)
        except ImportError:  # pragma: no cover - no httptools
            http = "h11"
        config = uvicorn.Config(
            self.app, loop="none", http=http, ws=ws, lifespan="off", interface="asgi3", access_log=False, log_config=None,
            timeout_keep_alive=max(1, int(self.read_timeout)), backlog=self.backlog, server_header=False,
            ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            self._cleanup()
            raise
        await server.on_tick(0)  # the Date header
        self._server = server
        # The ticker (the Date header) runs in the runtime's task group; outside a runtime the header
        # keeps the time the server started.
        owner = current_lifetime()
        self._ticker = await owner.spawn(self._tick, name="portflow-uvicorn-tick") if owner else None
        self.running = True

    async def _tick(self, status: Any) -> None:
        status.started()
        counter = 0
        while True:
            await asyncio.sleep(1.0)
            counter += 10
            await self._server.on_tick(counter)

    async def stop(self, grace: float = 10.0) -> None:
        if not self.running:
            return
        self.running = False
        if self._ticker is not None:
            await self._ticker.stop()
        server = self._server
        server.config.timeout_graceful_shutdown = grace
        try:
            await server.shutdown(sockets=[self._sock] if self._sock else None)
        finally:
            self._sock = None
            self._cleanup()
