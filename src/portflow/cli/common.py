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

def _complete(what: str) -> Any:
    """A shell_complete callback that imports the completion module only when the shell asks."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> Any:
        from . import completion

        return getattr(completion, f"complete_{what}")(ctx, param, incomplete)

    return complete


complete_names = _complete("names")
complete_kinds = _complete("kinds")

namespace_option = click.option(
    "-n", "--namespace", default=None, metavar="NS", help="Namespace to work in (setting runtime.namespace; default 'default').",
    shell_complete=_complete("namespaces"),
)
environment_option = click.option(
    "-e", "--environment", "--env", "environment", multiple=True, metavar="K=V",
    help="Template data for env entries without id or name (repeatable, or K=V,K2=V2; --env is uniflow v0.12's "
         "name).",
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
    store.history_keep = int(settings["history.keep"])
    try:
        await store.open()
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - map at the boundary
        raise StoreError(f"cannot open store {mask_url(settings.database_url)}: {exc}") from None
    return store


# -- documents and tables ----------------------------------------------------------------------

RESOURCES = {"specs": "specs", "nodes": "specs", "values": "values", "secrets": "values", "charts": "charts"}


class ResourceType(click.ParamType):
    """``specs``, ``values`` or ``charts`` (``nodes`` is an alias of ``specs``, as in uniflow's README;
    ``secrets``, uniflow v0.12's name of values, is accepted with a deprecation note; ``charts`` are v0.12's
    reusable composites, ``chart.py``)."""

    name = "specs|values"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        word = str(value).lower()
        resource = RESOURCES.get(word)
        if resource is None:
            self.fail(f"{value!r}: expected specs, values or charts", param, ctx)
        if word == "secrets":
            click.echo("note: 'secrets' is uniflow v0.12's name of values and is deprecated; use 'values'", err=True)
        return resource

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(r) for r in ("specs", "values") if r.startswith(incomplete)]


RESOURCE = ResourceType()

filename_option = click.option(
    "-f", "--filename", "filenames", required=True, multiple=True, metavar="FILE",
    help="A YAML or JSON file of documents (a list, one document, or a multi-document stream), a directory of "
         "them (*.yaml, *.yml, *.json), or - for stdin. Repeatable.",
)
recursive_option = click.option("-R", "--recursive", is_flag=True,
                                help="With -f DIR: also read the files in its subdirectories.")

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


def expand_paths(paths: tuple[str, ...] | list[str], recursive: bool = False) -> list[str]:
    """``-f`` arguments as files: a directory becomes its YAML and JSON files (sorted; with ``recursive``,
    those of its subdirectories too); ``-`` and files stay as given."""
    from pathlib import Path

    out: list[str] = []
    for path in paths:
        p = Path(path)
        if path != "-" and p.is_dir():
            found = p.rglob("*") if recursive else p.glob("*")
            files = sorted(str(f) for f in found if f.is_file() and f.suffix.lower() in DOCUMENT_SUFFIXES)
            if not files:
                raise click.BadParameter(f"{path}: no *.yaml, *.yml or *.json files"
                                         + ("" if recursive else " (use -R for subdirectories)"),
                                         param_hint="'-f'")
            out.extend(files)
        else:
            out.append(path)
    return out


def read_all(paths: tuple[str, ...] | list[str], recursive: bool, limits: dict[str, int] | None = None
             ) -> list[tuple[str, dict[str, Any]]]:
    """Every document of every ``-f`` argument, in order, each with the file it came from."""
    return [(path, doc) for path in expand_paths(paths, recursive) for doc in read_docs(path, limits)]


WRITE_ORDER = ("values", "charts", "specs")
"""The order apply writes the collections of a mixed input in: what specs bind to and build on first."""


def classify(doc: Any) -> str | None:
    """The collection a document belongs to, from its fields: ``specs`` (it has a ``kind``), ``values``
    (``data`` and no ``kind``), ``charts`` (a list of ``specs`` and no ``kind``), else None."""
    if not isinstance(doc, dict):
        return None
    if "kind" in doc:
        return "specs"
    if "data" in doc:
        return "values"
    if isinstance(doc.get("specs"), list):
        return "charts"
    return None


def split_by_resource(sourced: list[tuple[str, dict[str, Any]]], resource: str | None
                      ) -> dict[str, list[dict[str, Any]]]:
    """The documents by collection: all in ``resource`` when it is given, else each where
    :func:`classify` puts it. A document that is neither is a usage error naming its file and place."""
    out: dict[str, list[dict[str, Any]]] = {}
    for i, (path, doc) in enumerate(sourced):
        where = resource or classify(doc)
        if where is None:
            label = doc.get("name") or doc.get("id") if isinstance(doc, dict) else None
            what = f"document {label!r}" if label else f"document #{i + 1}"
            raise click.UsageError(f"{'<stdin>' if path == '-' else path}: {what} is not a spec (it has no kind), "
                                   "a value (no data) or a chart (no specs); say which with `specs`, `values` or "
                                   "`charts`")
        out.setdefault(where, []).append(doc)
    return out


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


def read_charts(path: str, namespace: str, limits: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The charts in ``path``, checked (``--from-charts``); an invalid one is a ``UserError`` naming it."""
    from ..apply import prepare_charts
    from ..errors import UserError

    charts, problems = prepare_charts(read_docs(path, limits), namespace)
    if problems:
        raise UserError("; ".join(problems))
    return charts


from_charts_option = click.option(
    "--from-charts", default=None, metavar="FILE",
    help="Apply (upsert) the charts in this file first: uniflow v0.12's reusable composites, each a kind.")
