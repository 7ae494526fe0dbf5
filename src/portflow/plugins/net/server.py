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

__all__ = ["serve", "Server", "TLS", "Limits", "SERVERS", "bind_socket"]

log = logging.getLogger("portflow.net.server")

ASGIApp = Any
SERVERS = ("granian", "uvicorn")


@dataclass(frozen=True)
class TLS:
    """A certificate and key, each PEM text or a path to a PEM file."""

    cert: str
    key: str


@dataclass(frozen=True)
class Limits:
    """How long a client may take and how many connections may be open; the defaults are nginx's.

    ``header_timeout``: to send a request head (nginx ``client_header_timeout``); ``idle_timeout``: a
    keep-alive connection between requests (``keepalive_timeout``); ``max_connections``: open connections,
    past which the oldest idle one is closed to let a new one in (uvicorn; granian accepts up to it)."""

    header_timeout: float = 60.0
    idle_timeout: float = 75.0
    max_connections: int = 10_000


class Server(Protocol):
    host: str
    port: int
    scheme: str

    async def start(self) -> None: ...

    async def stop(self, grace: float = 10.0) -> None: ...

    async def __aenter__(self) -> Server: ...

    async def __aexit__(self, *exc: object) -> None: ...


def serve(app: ASGIApp, host: str = "", port: int = 0, tls: TLS | None = None, reuse_port: bool = False, *,
          server: str = "granian", backlog: int = 1024, limits: Limits | None = None,
          websockets: bool = True) -> Server:
    """A server for ``app`` on ``host:port`` (not started yet: ``await start()`` or ``async with``)."""
    limits = limits if limits is not None else Limits()
    if server == "granian":
        return GranianServer(app, host, port, tls, reuse_port, backlog=backlog, limits=limits, websockets=websockets)
    if server == "uvicorn":
        from .uvicorn_server import UvicornServer

        return UvicornServer(app, host, port, tls, reuse_port, backlog=backlog, limits=limits, websockets=websockets)
    raise ConfigError(f"listener.server: unknown server {server!r}; expected one of {', '.join(SERVERS)}")


def bind_socket(host: str, port: int, reuse_port: bool = False, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket. ``""`` means every interface (IPv6 and IPv4 where the host has both)."""
    if host in ("", "*"):
        # Every interface is what host "" asks for (the listener's documented default).
        candidates = [("::", socket.AF_INET6), ("0.0.0.0", socket.AF_INET)] if socket.has_ipv6 else []  # noqa: S104
        candidates = candidates or [("0.0.0.0", socket.AF_INET)]  # noqa: S104
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
                 backlog: int, limits: Limits, websockets: bool) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self.reuse_port = reuse_port
        self.backlog = backlog
        self.limits = limits
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


def _backpressure(backlog: int, max_connections: int) -> int:
    """granian stops accepting past its backpressure and cannot shed an idle connection, so let it accept
    as many as the process may open (it times out slow heads and idle keep-alive connections itself)."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(backlog, max_connections, soft if soft != resource.RLIM_INFINITY else 65536)


class GranianServer(_Base):
    """granian, embedded: its Rust worker accepts and parses, our loop runs each request as a task
    (through ``granian_seam``, the one module that uses granian's private API).

    granian times out a request head (and an idle keep-alive connection) after ``header_timeout`` but never a
    connection that sends nothing, and stops accepting past its backpressure: the socket defers accepting
    until a client sends (``TCP_DEFER_ACCEPT``), and the backpressure is the open-files limit.
    """

    async def start(self) -> None:
        from .granian_seam import Worker

        sock = self._bind()
        if hasattr(socket, "TCP_DEFER_ACCEPT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, int(self.limits.header_timeout)))
        tls = self._tls_files
        timeout = min(self.limits.header_timeout, self.limits.idle_timeout)
        try:
            # granian owns (and closes) the descriptor it is given; we keep ours to report the address.
            self._worker = Worker(self.app, os.dup(sock.fileno()), backlog=self.backlog,
                                  backpressure=_backpressure(self.backlog, self.limits.max_connections),
                                  header_timeout=timeout, websockets=self.websockets,
                                  tls=(tls.cert, tls.key) if tls else None)
        except BaseException:
            sock.close()
            self._cleanup()
            raise
        self.running = True

    async def stop(self, grace: float = 10.0) -> None:
        if not self.running:
            return
        self.running = False
        self._worker.stop()  # stop accepting; granian drains its connections
        try:
            await asyncio.wait_for(asyncio.shield(self._worker.stopped), grace)
        except TimeoutError:
            log.warning("%r: connections still open after %.1fs; closing", self, grace)
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._cleanup()
