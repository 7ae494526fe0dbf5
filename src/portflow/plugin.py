"""Plugins: ``register(scheme, languages, hooks)`` functions found through the entry-point group
``portflow.plugins``. Entry points are read and imported lazily, once per OS process; a plugin that
fails to import or to register is reported and skipped, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import RuntimeSettings

__all__ = ["Registries", "load_plugins", "discover", "GROUP", "default_registries"]

GROUP = "portflow.plugins"
log = logging.getLogger("portflow.plugin")

Register = Callable[..., Any]
_loaded: dict[str, Register | BaseException] | None = None


def discover() -> dict[str, Register | BaseException]:
    """Every plugin's register function by name (or the exception that loading it raised). Cached."""
    global _loaded
    if _loaded is None:
        found: dict[str, Register | BaseException] = {}
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            try:
                found[ep.name] = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the engine
                found[ep.name] = exc
        _loaded = found
    return _loaded


@dataclass
class Registries:
    """The scheme, languages and hooks a runtime compiles with."""

    scheme: Any
    languages: Any
    hooks: Any
    problems: list[str]


def load_plugins(
    scheme: Any,
    languages: Any,
    hooks: Any,
    *,
    enable: Iterable[str] | None = None,
    disable: Iterable[str] = (),
    config: dict[str, Any] | None = None,
) -> list[str]:
    """Register the installed plugins into the given registries; return one line per plugin that failed.

    ``enable`` (when given) limits the plugins to those names; ``disable`` removes names. A plugin's
    register function may accept a fourth argument, its own config mapping (``plugins.<name>``), and may
    name the plugins it extends in an ``after`` attribute; those register first.
    """
    wanted = set(enable) if enable else None
    skipped = set(disable)
    problems = []
    chosen = {name: register for name, register in discover().items()
              if (wanted is None or name in wanted) and name not in skipped}
    for name, register in _ordered(chosen).items():
        if isinstance(register, BaseException):
            problems.append(f"plugin {name!r} failed to load: {register}")
            continue
        try:
            cfg = (config or {}).get(name)
            if cfg is not None:
                register(scheme, languages, hooks, cfg)
            else:
                register(scheme, languages, hooks)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"plugin {name!r} failed to register: {exc}")
    for line in problems:
        log.warning("%s; skipped", line)
    return problems


def _ordered(plugins: dict[str, Register | BaseException]) -> dict[str, Register | BaseException]:
    """Plugins by name, except that one whose register function says ``after = ("sql",)`` comes after
    those plugins (when they are there): a plugin that extends another's typed API finds it registered."""
    done: dict[str, Register | BaseException] = {}
    pending = dict(plugins)
    while pending:
        ready = [n for n, r in pending.items()
                 if not any(dep in pending and dep != n for dep in getattr(r, "after", ()))]
        for name in ready or list(pending):  # a cycle: by name
            done[name] = pending.pop(name)
    return done


def default_registries(settings: RuntimeSettings | Mapping[str, Any] | None = None) -> Registries:
    """Fresh registries with the built-in languages and every installed plugin."""
    from .config import RuntimeSettings
    from .lang import builtin_languages
    from .scheme import Scheme
    from .symbol import Hooks

    settings = RuntimeSettings.of(settings)
    scheme, languages, hooks = Scheme(), builtin_languages(), Hooks()
    problems = load_plugins(
        scheme, languages, hooks,
        enable=settings.plugins_enable or None,
        disable=settings.plugins_disable,
        config=dict(settings.plugins_config) or None,
    )
    return Registries(scheme, languages, hooks, problems)
