"""portflow-example-plugin: the kinds ``hash`` and ``counter``, as docs/extending.md walks through them.

portflow finds ``register`` through the entry point ``example`` in the group ``portflow.plugins`` and
calls it with its registries; when the settings have a ``[plugins.example]`` table, that comes too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from portflow import ConfigError, Scheme
from portflow.scheme import decode_struct

from . import counter, hash_
from .hash_ import Algorithm

__all__ = ["register", "Config"]


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[plugins.example]`` settings table."""

    algorithm: Algorithm = "sha256"  # what `hash` uses when a spec names no algorithm


def register(scheme: Scheme, languages: Any = None, hooks: Any = None,
             config: dict[str, Any] | None = None) -> None:
    """Register ``hash`` and ``counter`` into ``scheme``. A bad ``config`` raises ``ConfigError``."""
    settings, problems = decode_struct(config or {}, Config)
    if problems:
        raise ConfigError("plugins.example: " + "; ".join(problems))
    hash_.register(scheme, default=settings.algorithm)
    counter.register(scheme)
