"""What every command shares: settings from flags, logging, running a coroutine, clean errors."""

from __future__ import annotations

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


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Log lines to stderr at ``level``, as ``fmt`` (text or json); see ``portflow.logs``."""
    from .. import logs

    logs.setup(level, fmt)


def say_documents(resource: str, rows: list[tuple[str, dict[str, Any]]], table: str) -> None:
    """What a command did to documents: ``table`` in the text format; in the JSON format one line per
    ``(action, doc)``, e.g. ``{"message": "created spec default/pong", "action": "created", ...}``."""
    from ..logs import is_json, say

    if not is_json():
        say(table)
        return
    noun = singular(resource)
    for action, doc in rows:
        label = doc.get("name") or doc.get("id")
        about = {"action": action, "namespace": doc.get("namespace"), noun: label, "id": doc.get("id")}
        if doc.get("kind"):
            about["kind"] = doc["kind"]
        say(f"{action} {noun} {doc.get('namespace')}/{label}", extra=about)


def run(coro: Coroutine[Any, Any, T], *, quick: bool = False) -> T:
    """Run ``coro`` on uvloop when available. ``quick``: a short store call, where importing uvloop would
    cost more than it saves, runs on the standard loop."""
    import asyncio

    if quick:
        return asyncio.run(coro)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        return asyncio.run(coro)
    return uvloop.run(coro)


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit."""
    from ..logs import say

    say(f"error: {message}", level="error", err=True)
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
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            if logging.getLogger().level <= logging.DEBUG:
                logging.getLogger("portflow").exception("command failed")
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            fail(f"{where}{exc.strerror or exc}")
        except Exception as exc:
            if logging.getLogger().level <= logging.DEBUG:
                logging.getLogger("portflow").exception("command failed")
            fail(f"internal error: {type(exc).__name__}: {exc} (run with --log-level debug for the traceback)")
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


# -- documents and tables ----------------------------------------------------------------------

RESOURCES = {"specs": "specs", "nodes": "specs", "values": "values"}


class ResourceType(click.ParamType):
    """``specs`` or ``values`` (``nodes`` is an alias of ``specs``, as in uniflow's README)."""

    name = "specs|values"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        resource = RESOURCES.get(str(value).lower())
        if resource is None:
            self.fail(f"{value!r}: expected specs or values", param, ctx)
        return resource


RESOURCE = ResourceType()

filename_option = click.option(
    "-f", "--filename", required=True, metavar="FILE",
    help="A YAML or JSON file of documents: a list, one document, or a multi-document stream (- reads stdin).",
)


def read_docs(path: str, limits: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The documents in ``path`` (``-`` is stdin). Unreadable or malformed: ``DocumentError`` (exit 1)."""
    from ..spec import read_documents, read_file

    if path == "-":
        return read_documents(sys.stdin.read(), "<stdin>", **(limits or {}))
    return read_file(path, **(limits or {}))


def singular(resource: str) -> str:
    return resource[:-1]


def cell(value: Any, limit: int = 60) -> str:
    """A value as one short table cell: first line of text, compact JSON for maps and lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        import json

        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        text = str(value)
    lines = text.strip().splitlines() or [""]
    text = lines[0]
    if len(lines) > 1 or len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A borderless table: upper-case headers, columns two spaces apart, no trailing blanks."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = []
    for row in [[h.upper() for h in headers], *rows]:
        lines.append("  ".join(text.ljust(widths[i]) for i, text in enumerate(row)).rstrip())
    return "\n".join(lines)


LEADING_COLUMNS = ("id", "kind", "namespace", "name")


def table_columns(docs: list[dict[str, Any]]) -> list[str]:
    """uniflow's columns: the keys present in at least half the documents; id, kind, namespace and name
    first, then by frequency, shorter values first, then by name."""
    counts: dict[str, int] = {}
    lengths: dict[str, int] = {}
    for doc in docs:
        for key, value in doc.items():
            counts[key] = counts.get(key, 0) + 1
            lengths[key] = lengths.get(key, 0) + len(cell(value))
    kept = [k for k, n in counts.items() if n * 2 >= len(docs)]
    lead = [k for k in LEADING_COLUMNS if k in kept]
    rest = sorted((k for k in kept if k not in LEADING_COLUMNS),
                  key=lambda k: (-counts[k], lengths[k] / counts[k], k))
    return lead + rest


def docs_table(docs: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or table_columns(docs)
    return format_table(columns, [[cell(doc.get(c)) for c in columns] for doc in docs])


def mask_data(value: Any) -> Any:
    """A value's ``data`` with every scalar replaced by ``***`` (map keys and list lengths stay visible)."""
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(v) for v in value]
    return "***"
