"""An HTTP server that collects what flows POST to it: ``(path, JSON body)`` pairs, in arrival order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


class Sink:
    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.url = ""
        self._arrived = asyncio.Condition()

    async def _handle(self, request: web.Request) -> web.Response:
        text = await request.text() if request.can_read_body else None
        try:
            body = json.loads(text) if text is not None else None
        except ValueError:
            body = text
        async with self._arrived:
            self.received.append((request.path, body))
            self._arrived.notify_all()
        return web.json_response(None)

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[tuple[str, Any]]:
        """Wait until ``predicate(received)`` is true; returns ``received``. Fails after ``timeout``."""
        async with self._arrived:
            try:
                await asyncio.wait_for(self._arrived.wait_for(lambda: predicate(self.received)), timeout)
            except TimeoutError:
                raise AssertionError(f"the sink did not get what was awaited; it has {self.received!r}") from None
        return self.received


@asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", s._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    s.url = f"http://127.0.0.1:{port}"
    try:
        yield s
    finally:
        await runner.cleanup()
