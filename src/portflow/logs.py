"""Log lines: the one place where portflow's lines are formatted, as text or as one JSON object per line.

``setup(level, fmt)`` installs one handler on the root logger. Records are handed to a ``QueueHandler`` and
formatted and written by a ``QueueListener`` thread, so a request's access line costs the request little
more than putting a record on a queue. ``fmt="json"`` writes ``{"time", "level", "logger", "message", ...}``
with an ISO-8601 UTC time (``2026-12-02T06:55:51.561Z``) and, where a line is about a spec, the structured
fields ``namespace``, ``spec`` and ``kind`` (given as ``extra=fields(...)``).

The CLI's own lines (``created spec default/x``, ``error: ...``) go through ``say``: plain text as before in
the text format, a JSON object on the same stream in the JSON format, so that with ``--log-format json``
every line portflow prints parses as JSON. Data a command was asked for (``get``'s table, ``explain``)
is output, not a log line, and stays as it is.

Secrets: ``hide(texts)`` registers the texts of bound values (the runtime does, when it binds a spec's
``env``); every line is written with every form of them (``redact.forms``) replaced by ``***``.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from .redact import MIN_LENGTH, forms

__all__ = ["setup", "say", "fields", "hide", "scrub", "iso_time", "JsonFormatter", "TextFormatter", "is_json"]

#: The structured fields a line about a spec carries (``extra=fields(...)``).
SPEC_FIELDS = ("namespace", "spec", "kind")

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

_state: dict[str, Any] = {"format": "text", "listener": None}


def is_json() -> bool:
    """Whether lines are written as JSON (``--log-format json``)."""
    return bool(_state["format"] == "json")


def fields(namespace: str | None = None, spec: str | None = None, kind: str | None = None,
           **more: Any) -> dict[str, Any]:
    """``extra=`` for a line about a spec: the fields that are known, none that are not."""
    out = {k: v for k, v in (("namespace", namespace), ("spec", spec), ("kind", kind)) if v}
    out.update(more)
    return out


# -- secrets ----------------------------------------------------------------------------------------

class _Secrets:
    def __init__(self) -> None:
        self.texts: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, texts: Iterable[str]) -> None:
        new = {t for t in texts if isinstance(t, str) and len(t) >= MIN_LENGTH} - self.texts
        if not new:
            return
        self.texts |= new
        every = sorted({f for t in self.texts for f in forms(t)}, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, every)))


_secrets = _Secrets()


def hide(texts: Iterable[str]) -> None:
    """Never write these texts (in any encoding ``redact`` knows) in a log line from now on."""
    _secrets.add(texts)


def scrub(text: str) -> str:
    """``text`` with every hidden secret replaced by ``***``."""
    pattern = _secrets.pattern
    return text if pattern is None else pattern.sub("***", text)


# -- formatting -------------------------------------------------------------------------------------

_second: list[Any] = [-1, ""]


def iso_time(created: float) -> str:
    """``2026-12-02T06:55:51.561Z``: UTC, milliseconds."""
    whole = int(created)
    if whole != _second[0]:  # one strftime per second, not per line
        _second[0], _second[1] = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


def _show_traceback() -> bool:
    return logging.getLogger().level <= logging.DEBUG


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": iso_time(record.created), "level": record.levelname.lower(),
                                 "logger": record.name, "message": scrub(record.getMessage())}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info and _show_traceback():
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``06:55:51 INFO    portflow.runtime: message``; tracebacks only at debug level."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not _show_traceback():
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return scrub(super().format(record))


class _Enqueue(logging.handlers.QueueHandler):
    """Puts the record itself on the queue: the listener thread formats it (the caller only merges args)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info and record.exc_text is None and _show_traceback():
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        return record


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every logger's records to ``stream`` (stderr) as ``fmt`` lines, at ``level`` and above."""
    stop()
    _state["format"] = fmt
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, out)
    listener.start()
    _state["listener"] = listener
    root.addHandler(_Enqueue(records))
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("granian", "uvicorn.error", "uvicorn.access", "_granian", "asyncio"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def stop() -> None:
    """Write what is queued and stop the writing thread (at exit, or before ``setup`` again)."""
    listener = _state["listener"]
    if listener is not None:
        _state["listener"] = None
        listener.stop()


def flush() -> None:
    """Write what is queued now (before the CLI prints a line of its own, so lines keep their order)."""
    listener = _state["listener"]
    if listener is not None and not listener.queue.empty():
        listener.stop()
        listener.start()


atexit.register(stop)


# -- the CLI's own lines ------------------------------------------------------------------------------

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def say(message: str, *, level: str = "info", logger: str = "portflow.cli", err: bool = False,
        extra: Mapping[str, Any] | None = None) -> None:
    """Print one line of the CLI's own: ``message`` as it is in the text format, a JSON object (on the same
    stream, with ``extra``'s fields) in the JSON format."""
    import click

    if is_json():
        record = logging.makeLogRecord({"name": logger, "levelno": _LEVELS[level], "levelname": level.upper(),
                                        "msg": message, **(extra or {})})
        line = JsonFormatter().format(record)
    else:
        line = scrub(message)
    flush()
    click.echo(line, err=err)
