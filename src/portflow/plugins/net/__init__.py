"""The ``net`` plugin: HTTP listener, router, HTTP client, reverse proxy, WebSocket gateway and client.

``register(scheme, languages, hooks)`` adds the kinds ``listener``, ``router``, ``http``, ``proxy``,
``gateway`` and ``websocket`` to a scheme. Nothing registers at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    from . import http, listener, proxy, router, websocket

    listener.register(scheme)
    router.register(scheme)
    http.register(scheme)
    proxy.register(scheme)
    websocket.register(scheme)
