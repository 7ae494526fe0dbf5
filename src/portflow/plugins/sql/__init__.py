"""The sql plugin: the ``sql`` kind and its drivers (sqlite, postgres, mysql)."""

from __future__ import annotations

from typing import Any

from .drivers import Drivers, default_drivers
from .node import SQLCodec, SQLNode, SQLSpec
from .node import register as _register_node

__all__ = ["register", "drivers_of", "SQLSpec", "SQLNode", "Drivers"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    """Register the ``sql`` kind with the built-in drivers."""
    _register_node(scheme, default_drivers())


def drivers_of(scheme: Any) -> Drivers | None:
    """The driver registry the scheme's ``sql`` kind compiles with (None when the kind is not registered):
    the place for another plugin to add a driver, ``drivers_of(scheme).register(MyDriver())``."""
    kind = scheme.kind("sql")
    codec = getattr(kind, "codec", None)
    return codec.drivers if isinstance(codec, SQLCodec) else None
