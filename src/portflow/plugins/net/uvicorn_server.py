"""The ``uvicorn`` implementation of ``server.serve``: uvicorn's httptools protocol on the loop's own server.

Our protocol adds what uvicorn lacks: a deadline for the request head (``header_timeout``; a client that
connects and sends nothing, or trickles a head, is closed), and a connection limit that closes the
oldest *idle* connection (no request being served: between keep-alive requests, or still sending its head)
when a new one would pass ``max_connections``, so that a flood of idle connections never locks clients out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...lifetime import current as current_lifetime
from .server import Limits, _Base

__all__ = ["UvicornServer"]


def _protocol(limits: Limits) -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    open_: dict[Any, None] = {}  # this server's connections, oldest first

    class Protocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.header_timeout, self._close)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _close(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(open_) >= limits.max_connections:
                oldest = next((c for c in open_ if c.idle()), None)
                if oldest is not None:
                    open_.pop(oldest, None)
                    oldest._close()  # noqa: SLF001 - one protocol class sheds another of its own
            open_[self] = None
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            open_.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

    return Protocol


def _ws_implementation() -> str:
    for module in ("websockets", "wsproto"):
        try:
            __import__(module)
        except ImportError:
            continue
        return module
    return "none"


class UvicornServer(_Base):
    """uvicorn's httptools protocol (h11 when httptools is missing) on the loop's own server."""

    async def start(self) -> None:
        import uvicorn

        sock = self._bind()
        tls = self._tls_files
        try:
            http: Any = _protocol(self.limits)
        except ImportError:  # pragma: no cover - no httptools
            http = "h11"
        config = uvicorn.Config(
            self.app, loop="none", http=http, ws=_ws_implementation() if self.websockets else "none",
            lifespan="off", interface="asgi3", access_log=False, log_config=None,
            timeout_keep_alive=max(1, int(self.limits.idle_timeout)), backlog=self.backlog, server_header=False,
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
        server.config.timeout_graceful_shutdown = grace  # type: ignore[assignment]  # a float works (wait_for)
        try:
            await server.shutdown(sockets=[self._sock] if self._sock else None)
        finally:
            self._sock = None
            self._cleanup()
