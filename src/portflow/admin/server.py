"""The admin address: a small ASGI app with three read-only endpoints, on the net plugin's ``serve()``.

- ``GET /healthz``: 200 ``ok`` — answered by the event loop the runtime runs on, so an answer means the
  loop answers.
- ``GET /readyz``: 200 when everything is ready, else 503; the body is JSON either way:
  ``{"ready": bool, "not_ready": [{spec, kind, reason, message}], "warnings": [...]}``.
- ``GET /metrics``: the Prometheus text format.

``/ui/`` is the browser view (``ui.py``, protected by ``admin.token``). The rest changes nothing and is not
authenticated: bind the address to loopback or a private
network (docs/security.md). Any other path is 404, any other method 405.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, UserError
from ..plugins.net.server import Server, serve
from ..plugins.net.writer import respond

__all__ = ["AdminApp", "parse_listen", "start_admin"]

log = logging.getLogger("portflow.admin")

ReadyFn = Callable[[], dict[str, Any]]
MetricsFn = Callable[[], tuple[bytes, str]]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9090`` for IPv6) -> (host, port); a bad one is one line naming admin.listen."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not host or not 0 <= port <= 65535:
        raise ConfigError(f"admin.listen: expected HOST:PORT (such as 127.0.0.1:9090), got {text!r}")
    return host, port


def _text(status: int, body: bytes, content_type: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return status, [(b"content-type", content_type), (b"content-length", str(len(body)).encode())], body


class AdminApp:
    """The ASGI app of the admin address: ``ready()`` gives the readiness as JSON, ``metrics()`` the
    exposition (body, content type)."""

    def __init__(self, ready: ReadyFn, metrics: MetricsFn | None, ui: Any = None) -> None:
        self.ready = ready
        self.metrics = metrics
        #: The browser view (``ui.UI``) at ``/ui/``, or None.
        self.ui = ui

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if self.ui is not None and (path == "/ui" or path.startswith("/ui/")):
            await self.ui(scope, receive, send)
            return
        if path not in ("/healthz", "/readyz", "/metrics") or (path == "/metrics" and self.metrics is None):
            reply = _text(404, b"Not Found\n", b"text/plain; charset=utf-8")
        elif method not in ("GET", "HEAD"):
            reply = _text(405, b"Method Not Allowed\n", b"text/plain; charset=utf-8")
            reply[1].append((b"allow", b"GET, HEAD"))
        elif path == "/healthz":
            reply = _text(200, b"ok\n", b"text/plain; charset=utf-8")
        elif path == "/readyz":
            report = self.ready()
            body = json.dumps(report, ensure_ascii=False, indent=1).encode() + b"\n"
            reply = _text(200 if report["ready"] else 503, body, b"application/json")
        else:
            body, content_type = self.metrics()  # type: ignore[misc]
            reply = _text(200, body, content_type.encode())
        status, headers, body = reply
        await respond(send, status, headers, b"" if method == "HEAD" else body)


async def start_admin(listen: str, app: AdminApp, server: str = "granian") -> Server:
    """Serve ``app`` on ``listen`` (``HOST:PORT``) until the returned server is stopped."""
    host, port = parse_listen(listen)
    admin = serve(app, host, port, server=server, websockets=False)
    try:
        await admin.start()
    except UserError as exc:
        raise ConfigError(f"admin.listen: {exc}") from None
    where = f"[{host}]" if ":" in host else host
    log.info("admin address: http://%s:%d (/healthz /readyz /metrics)", where, admin.port)
    return admin
