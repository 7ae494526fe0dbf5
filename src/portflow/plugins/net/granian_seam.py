"""The one place portflow touches granian's private API (``granian._granian``, ``granian._futures``).

granian's public embed API (``granian.server.embed.Server``) binds its own socket and reports neither the
bound port nor readiness, so it cannot take over a socket we bound (port 0, ``--workers`` sharing one
socket, a listener's hand-over on reload). This module drives granian's worker the way that API does,
minus the process-manager parts. It is written against granian ``SUPPORTED`` (pinned in pyproject.toml);
``check()`` says, naming the installed version, when an assumption no longer holds.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

from ...errors import ConfigError
from .asgi_bridge import asgi_over_rsgi

__all__ = ["SUPPORTED", "Worker", "check", "installed"]

#: The granian minor versions this module is written against (``>=2.8,<2.9`` in pyproject.toml).
SUPPORTED = ((2, 8),)
def installed() -> str:
    return version("granian")


def check() -> None:
    """Raise ``ConfigError`` naming the installed granian when this module's assumptions do not hold."""
    found = installed()
    try:
        minor = tuple(int(part) for part in found.split(".")[:2])
        from granian._futures import _new_cbscheduler  # noqa: F401
        from granian._granian import RSGIWorker, SocketHolder, WorkerSignal  # noqa: F401
        from granian.http import HTTP1Settings

        HTTP1Settings(header_read_timeout=1000, keep_alive=True)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"granian {found}: its private API changed ({exc}); portflow supports granian "
                          f"{_supported()}") from None
    if minor not in SUPPORTED:
        raise ConfigError(f"granian {found} is not a version portflow supports ({_supported()})")


def _supported() -> str:
    return ", ".join(f"{a}.{b}.x" for a, b in SUPPORTED)


class Worker:
    """One granian RSGI worker serving ``app`` on the listening descriptor ``fd`` inside the running loop.

    ``app`` is served by its ``__rsgi__(scope, proto)`` when it has one, else as an ASGI-3 app through
    ``asgi_bridge``. granian takes ownership of ``fd``. ``stopped`` resolves once granian has closed its
    connections."""

    def __init__(self, app: Any, fd: int, *, backlog: int, backpressure: int, header_timeout: float,
                 websockets: bool, tls: tuple[str, str] | None) -> None:
        try:
            from granian._futures import _new_cbscheduler
            from granian._granian import RSGIWorker, SocketHolder, WorkerSignal
            from granian.http import HTTP1Settings
        except ImportError as exc:
            raise ConfigError(f"granian {installed()}: its private API changed ({exc}); portflow supports granian "
                              f"{_supported()}") from None

        loop = asyncio.get_running_loop()
        self.stopped: asyncio.Future[None] = loop.create_future()
        self._signal = WorkerSignal()
        self._signal.add_cb(lambda: loop.call_soon_threadsafe(self._done))
        http1 = HTTP1Settings(header_read_timeout=max(1, int(header_timeout * 1000)), keep_alive=True)
        cert, key = tls if tls is not None else (None, None)
        try:
            worker = RSGIWorker(
                1, (None, SocketHolder(fd, False, backlog)), None,
                1, 512, 1, 30,  # runtime threads, runtime blocking threads, py threads, py threads' idle timeout
                backpressure, "auto", http1, None, websockets, None,
                tls is not None, cert, key, None, "tls1.2", None, [], False, (None, None),
            )
        except TypeError as exc:  # the worker's signature moved: say so, naming the version
            raise ConfigError(f"granian {installed()}: RSGIWorker no longer takes portflow's arguments ({exc}); "
                              f"portflow supports granian {_supported()}") from None
        self._scheduler = _new_cbscheduler(loop, _callback(app), impl_asyncio=True)
        worker.serve_async(self._scheduler, loop, self._signal)
        self._worker = worker

    def _done(self) -> None:
        if not self.stopped.done():
            self.stopped.set_result(None)

    def stop(self) -> None:
        """Stop accepting; granian drains its connections, then ``stopped`` resolves."""
        self._signal.set()


def _callback(app: Any) -> Any:
    rsgi = getattr(app, "__rsgi__", None)
    if rsgi is None:
        def rsgi(scope: Any, proto: Any) -> Any:
            return asgi_over_rsgi(app, scope, proto)

    async def callback(watcher: Any) -> None:
        try:
            await rsgi(watcher.scope, watcher.proto)
        except BaseException as exc:  # noqa: BLE001 - reported to granian, which logs and answers 500
            watcher.err(exc)
            return
        watcher.done()

    return callback
