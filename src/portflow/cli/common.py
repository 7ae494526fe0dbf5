"""What every command shares: settings from flags, logging, running a coroutine, clean errors."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from ..errors import PortflowError

T = TypeVar("T")

namespace_option = click.option(
    "-n", "--namespace", default=None, metavar="NS", help="Namespace to work in (setting runtime.namespace; default 'default')."
)
environment_option = click.option(
    "-e", "--environment", "environment", multiple=True, metavar="K=V",
    help="Template data for env entries without id or name (repeatable, or K=V,K2=V2).",
)


def parse_environment(items: tuple[str, ...], base: dict[str, Any] | None = None) -> dict[str, str]:
    """``('A=1', 'B=2,C=3')`` -> ``{'A': '1', 'B': '2', 'C': '3'}``; a pair without ``=`` is a usage error."""
    env = {str(k): str(v) for k, v in (base or {}).items()}
    for item in items:
        for pair in item.split(","):
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="'-e/--environment'")
            env[key] = value
    return env


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {"time": self.formatTime(record), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info and logging.getLogger().level <= logging.DEBUG:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One line per record; tracebacks only at debug level."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and logging.getLogger().level > logging.DEBUG:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("granian", "uvicorn.error", "uvicorn.access", "_granian", "asyncio"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)
    return uvloop.run(coro)


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def handle_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Map portflow errors to one clean line and exit status 1; no traceback unless --log-level debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except PortflowError as exc:
            if logging.getLogger().level <= logging.DEBUG:
                logging.getLogger("portflow").exception("command failed")
            fail(str(exc))
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        raise AssertionError("unreachable")

    return wrapper


def load_settings_for(ctx: click.Context, **overrides: Any) -> Any:
    """Settings with this command's flags on top; re-applies logging settings from the file/variables."""
    from ..config import load_settings

    obj = ctx.find_root().obj or {}
    settings = load_settings({"logging.level": obj.get("log_level"), "logging.format": obj.get("log_format"),
                              **overrides})
    setup_logging(settings["logging.level"], settings["logging.format"])
    return settings


async def open_store_for(settings: Any) -> Any:
    """The configured store, opened; a failure names the URL with its password masked."""
    from ..errors import StoreError
    from ..store import open_store
    from ..store.base import mask_url

    store = open_store(settings.database_url)
    try:
        await store.open()
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - map at the boundary
        raise StoreError(f"cannot open store {mask_url(settings.database_url)}: {exc}") from None
    return store
