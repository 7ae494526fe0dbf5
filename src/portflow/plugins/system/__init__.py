"""The ``system`` plugin: the kinds a workflow needs to offer an API for changing the engine's specs.

The engine has no API of its own for that (``seed/architecture.md``, "Workflow Modification"); a
workflow, usually in the ``system`` namespace, provides one (``examples/system.yaml``, ``docs/system.md``):

- ``syscall``: create, read, update, delete specs and values (``opcode: specs.create``, ...);
- ``signal``: the store's change events, fed into the flow;
- ``watch``: the store's change events, streamed to an HTTP client as server-sent events;
- ``auth``: let HTTP requests through only with ``Authorization: Bearer <token>``;
- ``mask``: hide values' data in an HTTP flow's answers unless the request says ``?show_data=true``;
- the SQL driver ``internal`` for the ``sql`` node: ``specs``, ``values``, ``symbols``, ``processes``
  and ``frames`` as read-only tables.

Nothing registers at import time: ``register(scheme, languages, hooks)`` does it.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["register"]

log = logging.getLogger("portflow.system")


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    """Register ``syscall``, ``signal``, ``watch``, ``auth`` and ``mask`` into ``scheme``; add the
    ``internal`` driver to the ``sql`` kind's drivers when the sql plugin is installed."""
    from . import auth, internal, mask, signal, syscall, watch

    syscall.register(scheme)
    signal.register(scheme)
    watch.register(scheme)
    auth.register(scheme)
    mask.register(scheme)
    internal.register(scheme)


register.after = ("sql",)  # type: ignore[attr-defined]  # it adds the internal driver to sql's registry
