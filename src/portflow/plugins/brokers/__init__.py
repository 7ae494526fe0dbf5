"""The ``brokers`` plugin: message brokers as triggers and targets (``nats``, ``mqtt``, ``redis``, ``amqp``).

Each broker's client is an extra (``pip install 'portflow[nats]'``); a kind whose client is missing says
which extra to install when it compiles. Nothing registers at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    from . import amqp, mqtt, nats, redis

    nats.register(scheme)
    mqtt.register(scheme)
    redis.register(scheme)
    amqp.register(scheme)
