"""Settings: defaults < ``.portflow.toml`` (or the file ``PORTFLOW_CONFIG`` names) < ``PORTFLOW_*``
variables < flags.

Keys are dotted: ``database.url``, ``runtime.namespace``, ``runtime.language``, ``listener.server``,
``plugins.enable``, ``plugins.disable``, ``plugins.<name>`` (that plugin's own table), ``logging.level``,
``logging.format``, ``logging.access`` (an access line per HTTP request),
``admin.listen`` (``HOST:PORT`` of /healthz, /readyz and /metrics; off when empty),
``documents.max_bytes`` and ``documents.max_nodes`` (the bounds on a spec file's size and on its YAML
aliases' expansion), ``history.keep`` (revisions kept per document), ``environment`` (a table of ``-e``
defaults). A variable maps to a key by lowering it and turning the first ``_`` into a dot:
``PORTFLOW_DATABASE_URL`` is ``database.url``. An unknown key is an error naming it and where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Settings", "RuntimeSettings", "load_settings", "default_database_url", "CONFIG_FILE"]

CONFIG_FILE = ".portflow.toml"
ENV_PREFIX = "PORTFLOW_"


def default_database_url() -> str:
    """``sqlite:///~/.portflow/portflow.db``, expanded."""
    return "sqlite:///" + str(Path.home() / ".portflow" / "portflow.db")


_KEYS: dict[str, type | tuple[type, ...]] = {
    "database.url": str,
    "runtime.namespace": str,
    "runtime.language": str,
    "runtime.grace": (int, float),
    "documents.max_bytes": int,
    "documents.max_nodes": int,
    "listener.server": str,
    "plugins.enable": list,
    "plugins.disable": list,
    "logging.level": str,
    "logging.format": str,
    "logging.access": bool,
    "environment": dict,
    # admin address (start --admin): /healthz, /readyz, /metrics; "" is off
    "admin.listen": str,
    # the browser view /ui/ on the admin address: its bearer token ("" : read-only, loopback only)
    "admin.token": str,
    # revisions (history, rollback)
    "history.keep": int,
}
_BOOLS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_CHOICES = {
    "listener.server": ("granian", "uvicorn"),
    "logging.level": ("debug", "info", "warning", "error"),
    "logging.format": ("text", "json"),
}


@dataclass(frozen=True)
class RuntimeSettings:
    """What a ``Runtime`` and its codecs read (``context.settings``). Each default is written here only."""

    #: The default expression language (``runtime.language``).
    language: str = "cel"
    #: Seconds a stopping runtime (and each listener) lets in-flight work finish (``runtime.grace``).
    grace: float = 10.0
    #: The HTTP server listeners run on (``listener.server``): granian or uvicorn.
    listener_server: str = "granian"
    #: Bind listeners with SO_REUSEPORT (set for ``start --workers``).
    listener_reuse_port: bool = False
    plugins_enable: tuple[str, ...] = ()
    plugins_disable: tuple[str, ...] = ()
    #: An access log line per HTTP request, at info (``logging.access``).
    access_log: bool = True
    #: Per-plugin tables (``plugins.<name>``), by plugin name.
    plugins_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: RuntimeSettings | Mapping[str, Any] | None) -> RuntimeSettings:
        """``settings`` as a ``RuntimeSettings``; a mapping names fields (an unknown one is a ConfigError)."""
        if isinstance(settings, RuntimeSettings):
            return settings
        known = {f.name for f in fields(cls)}
        given = dict(settings or {})
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"unknown runtime setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        for key in ("plugins_enable", "plugins_disable"):
            if key in given:
                given[key] = tuple(given[key] or ())
        given = {k: v for k, v in given.items() if v is not None}
        return cls(**given)


@dataclass
class Settings:
    """Resolved settings. ``values`` maps dotted keys to values; ``plugins`` holds per-plugin tables."""

    values: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None
    #: Where each key that is not a default came from: the file's path, ``$PORTFLOW_...`` or ``flag``.
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def database_url(self) -> str:
        return str(self.values["database.url"])

    @property
    def namespace(self) -> str:
        return str(self.values["runtime.namespace"])

    def document_limits(self) -> dict[str, int]:
        """The bounds on a YAML or JSON file read by a command (``read_documents``'s keywords)."""
        return {"max_bytes": self.values["documents.max_bytes"], "max_nodes": self.values["documents.max_nodes"]}

    def runtime_settings(self, **overrides: Any) -> RuntimeSettings:
        """What a ``Runtime`` and its codecs read (``context.settings``), with ``overrides`` by field."""
        return RuntimeSettings(
            language=self.values["runtime.language"],
            listener_server=self.values["listener.server"],
            grace=float(self.values["runtime.grace"]),
            plugins_enable=tuple(self.values["plugins.enable"]),
            plugins_disable=tuple(self.values["plugins.disable"]),
            plugins_config=dict(self.plugins),
            access_log=bool(self.values["logging.access"]),
            **overrides,
        )


def _defaults() -> dict[str, Any]:
    return {
        "database.url": default_database_url(),
        "runtime.namespace": "default",
        "runtime.language": RuntimeSettings.language,
        "runtime.grace": RuntimeSettings.grace,
        "documents.max_bytes": 16 * 1024 * 1024,
        "documents.max_nodes": 1_000_000,
        "listener.server": RuntimeSettings.listener_server,
        "plugins.enable": [],
        "plugins.disable": [],
        "logging.level": "info",
        "logging.format": "text",
        "logging.access": RuntimeSettings.access_log,
        "environment": {},
        "admin.listen": "",
        "admin.token": "",
        "history.keep": 50,
    }


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if dotted == "environment" or (dotted.startswith("plugins.") and dotted not in _KEYS):
            out[dotted] = value
        elif isinstance(value, Mapping):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _check(key: str, value: Any, where: str, settings: Settings) -> None:
    if key.startswith("plugins.") and key not in _KEYS:
        name = key.split(".", 1)[1]
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key}: expected a table of that plugin's settings")
        settings.plugins[name] = dict(value)
        settings.sources[key] = where
        return
    expected = _KEYS.get(key)
    if expected is None:
        known = ", ".join(sorted(_KEYS))
        raise ConfigError(f"{where}: unknown setting {key!r} (known: {known}, plugins.<name>)")
    if expected is list and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if expected in ((int, float),) and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{where}: {key}: expected a number, got {value!r}") from None
    if expected is int and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ConfigError(f"{where}: {key}: expected an integer, got {value!r}") from None
    if expected is bool:
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            value = _BOOLS[value.strip().lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key}: expected true or false, got {value!r}")
        settings.values[key] = value
        return
    if expected is int and isinstance(value, int) and value < 1:
        raise ConfigError(f"{where}: {key}: must be at least 1, got {value}")
    if not isinstance(value, expected) or isinstance(value, bool):
        want = expected.__name__ if isinstance(expected, type) else "number"
        raise ConfigError(f"{where}: {key}: expected {want}, got {type(value).__name__}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{where}: {key}: expected one of {', '.join(_CHOICES[key])}, got {value!r}")
    settings.values[key] = value
    settings.sources[key] = where


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> Settings:
    """Resolve settings from the defaults, the config file, ``PORTFLOW_*`` variables and ``overrides``
    (dotted keys, from flags; ``None`` values are ignored)."""
    environ = os.environ if environ is None else environ
    settings = Settings(values=_defaults())
    path_text = environ.get("PORTFLOW_CONFIG")
    path = Path(path_text).expanduser() if path_text else Path(cwd or ".") / CONFIG_FILE
    if path_text or path.exists():
        import tomllib  # only when there is a file to read: keeps start-up fast

        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found (named by PORTFLOW_CONFIG)") from None
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        settings.source = str(path)
        for key, value in _flatten(table).items():
            _check(key, value, str(path), settings)
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "PORTFLOW_CONFIG":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        key = rest.replace("_", ".", 1)
        if key.startswith("plugins.") and key not in _KEYS:
            continue  # per-plugin tables come from the file only
        _check(key, value, f"${name}", settings)
    for key, value in (overrides or {}).items():
        if value is not None:
            _check(key, value, "flag", settings)
    return settings
