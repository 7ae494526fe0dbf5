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
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from .redact import MIN_LENGTH, forms

__all__ = ["setup", "say", "access", "fields", "spec_fields", "hide", "scrub", "iso_time", "JsonFormatter", "TextFormatter", "is_json"]

#: The structured fields a line about a spec carries (``extra=fields(...)``).
SPEC_FIELDS = ("namespace", "spec", "kind")

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

_state: dict[str, Any] = {"format": "text", "writer": None}


def is_json() -> bool:
    """Whether lines are written as JSON (``--log-format json``)."""
    return bool(_state["format"] == "json")


def fields(namespace: str | None = None, spec: str | None = None, kind: str | None = None,
           **more: Any) -> dict[str, Any]:
    """``extra=`` for a line about a spec: the fields that are known, none that are not."""
    out = {k: v for k, v in (("namespace", namespace), ("spec", spec), ("kind", kind)) if v}
    out.update(more)
    return out


def spec_fields(spec: Any) -> dict[str, Any]:
    """``extra=`` for the lines about a node compiled from ``spec``: its namespace, name and kind."""
    return fields(spec.namespace, spec.label, spec.kind)


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

_second: tuple[int, str] = (-1, "")


def iso_time(created: float) -> str:
    """``2026-12-02T06:55:51.561Z``: UTC, milliseconds."""
    global _second
    whole = int(created)
    second = _second
    if whole != second[0]:  # one strftime per second, not per line
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int((created - whole) * 1000):03d}Z"


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


_clock: tuple[int, str] = (-1, "")


def _local_clock(created: float) -> str:
    """``06:55:51``, local time, as the text format's other lines show it (one strftime per second)."""
    global _clock
    whole = int(created)
    clock = _clock
    if whole != clock[0]:
        clock = _clock = (whole, time.strftime("%H:%M:%S", time.localtime(whole)))
    return clock[1]


def _text_access(items: list[tuple[Any, ...]]) -> list[str]:
    """The text lines of access tuples (a batch: the clock is looked up once per second of them)."""
    lines = []
    second, clock = -1, ""
    for created, method, path, status, size, seconds, _ in items:
        if int(created) != second:
            second, clock = int(created), _local_clock(created)
        lines.append(f"{clock} INFO    portflow.access: {method} {path} {status} "
                     f"{'-' if size is None else size}B {seconds * 1000:.2f}ms")
    return lines


_quote = json.encoder.encode_basestring  # a str as a JSON string (non-ASCII kept, as ensure_ascii=False)
_about_json: dict[int, tuple[Mapping[str, Any], str]] = {}  # id(fields) -> (fields, their JSON members)


def _json_access(items: list[tuple[Any, ...]]) -> list[str]:
    """The JSON lines of access tuples."""
    return [_json_line(item) for item in items]


def _json_line(item: tuple[Any, ...]) -> str:
    created, method, path, status, size, seconds, about = item
    ms = round(seconds * 1000, 3)
    known = _about_json.get(id(about))
    if known is not None and known[0] is about:  # a listener's fields: the same for each of its lines
        fragment = known[1]
    else:
        fragment = "".join(f"{_quote(k)}:{json.dumps(v, ensure_ascii=False, default=str)}," for k, v in about.items())
        if len(_about_json) > 1000:
            _about_json.clear()
        _about_json[id(about)] = (about, fragment)
    shown = "-" if size is None else size
    return (f'{{"time":"{iso_time(created)}","level":"info","logger":"portflow.access",'
            f'"message":{_quote(f"{method} {path} {status} {shown}B {ms:.2f}ms")},{fragment}'
            f'"method":{_quote(method)},"path":{_quote(path)},"status":{status},'
            f'"bytes":{"null" if size is None else size},"duration_ms":{ms}}}')


#: How long the writer lets lines gather after the first one: the most a line waits before it is written.
BATCH_SECONDS = 0.01


class _Writer:
    """The thread that formats and writes every line: it takes all that is queued at once and writes it with
    one ``write``, so a busy listener's access lines cost a queue put each, not a system call each."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self.stream = stream
        self.formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
        self.access = _json_access if fmt == "json" else _text_access
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.handler = _Enqueue(self)
        self.thread = threading.Thread(target=self._run, name="portflow-logs", daemon=True)
        self.thread.start()

    def _lines(self, batch: list[Any], lines: list[str]) -> None:
        """Format ``batch`` (records, and access lines as tuples) onto ``lines``, in order. Each run of
        access tuples is formatted at once (``self.access``), and scrubbed only when secrets are hidden."""
        i, n = 0, len(batch)
        while i < n:
            if type(batch[i]) is tuple:  # (created, method, path, status, size, seconds, about)
                j = i + 1
                while j < n and type(batch[j]) is tuple:
                    j += 1
                try:
                    formatted = self.access(batch[i:j])
                except Exception:  # noqa: BLE001 - one by one, so that one bad tuple loses only its line
                    lines.extend(self._one(item) for item in batch[i:j])
                else:
                    lines.extend(formatted if _secrets.pattern is None else map(scrub, formatted))
                i = j
            else:
                lines.append(self._one(batch[i]))
                i += 1

    def _one(self, item: Any) -> str:
        """One record or access tuple as its line, scrubbed (the formatters scrub what they format)."""
        try:
            if type(item) is tuple:
                return scrub(self.access([item])[0])
            return self.formatter.format(item)
        except Exception:  # noqa: BLE001 - a record that does not format must not stop the others
            return scrub(f"unformattable log record: {item!r}")

    def _run(self) -> None:
        get, take = self.queue.get, self.queue.get_nowait
        running = True
        while running:
            batch = [get()]
            if batch[0] is not None and not isinstance(batch[0], threading.Event):
                time.sleep(BATCH_SECONDS)  # let a busy listener's lines gather: one wake-up and write per batch
            while True:
                try:
                    batch.append(take())
                except queue.Empty:
                    break
            lines: list[str] = []
            start = 0
            for i, item in enumerate(batch):
                if item is None or isinstance(item, threading.Event):
                    self._lines(batch[start:i], lines)
                    start = i + 1
                    if item is None:
                        running = False
                    else:
                        self._write(lines)
                        lines = []
                        item.set()
            self._lines(batch[start:], lines)
            self._write(lines)

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the stream went away (a closed pipe): nothing to tell it
            pass

    def flush(self) -> None:
        done = threading.Event()
        self.queue.put(done)
        done.wait(5.0)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(5.0)


class _Enqueue(logging.Handler):
    """Puts the record on the writer's queue (the caller only merges the arguments into the message)."""

    def __init__(self, writer: _Writer) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info and record.exc_text is None and _show_traceback():
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        self.writer.queue.put(record)


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every logger's records to ``stream`` (stderr) as ``fmt`` lines, at ``level`` and above."""
    stop()
    _state["format"] = fmt
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    writer = _state["writer"] = _Writer(stream or sys.stderr, fmt)
    root.addHandler(writer.handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.captureWarnings(True)  # Python's warnings as lines too (logger py.warnings), JSON in the JSON format
    for noisy in ("granian", "uvicorn.error", "uvicorn.access", "_granian", "asyncio"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def stop() -> None:
    """Write what is queued and stop the writing thread (at exit, or before ``setup`` again)."""
    writer = _state["writer"]
    if writer is not None:
        _state["writer"] = None
        writer.stop()


def flush() -> None:
    """Write what is queued now (before the CLI prints a line of its own, so lines keep their order)."""
    writer = _state["writer"]
    if writer is not None and not writer.queue.empty():
        writer.flush()


atexit.register(stop)


# -- access lines ----------------------------------------------------------------------------------

_access = logging.getLogger("portflow.access")
_NO_FIELDS: Mapping[str, Any] = {}


def _direct(writer: _Writer) -> bool:
    """Whether an access line may skip the logging machinery: only ``setup``'s handler would see it."""
    node: logging.Logger = _access
    while True:
        handlers = node.handlers
        parent = node.parent
        if parent is None:  # the root
            return len(handlers) == 1 and handlers[0] is writer.handler
        if handlers or not node.propagate:
            return False
        node = parent


def access(method: str, path: str, status: int, size: int | None, seconds: float,
           about: Mapping[str, Any] | None = None) -> None:
    """One access line (logger ``portflow.access``, info): ``GET /ping 200 4B 0.41ms``. ``size`` is the
    body's bytes (None for a streamed body); ``about`` the listener's ``fields``. The query is left out.

    When only ``setup``'s handler would see it, the line goes to the writer as a tuple, formatted there."""
    writer = _state["writer"]
    if writer is not None and _direct(writer) and _access.isEnabledFor(logging.INFO):
        writer.queue.put((time.time(), method, path, status, size, seconds, about or _NO_FIELDS))
        return
    if not _access.isEnabledFor(logging.INFO):
        return
    ms = round(seconds * 1000, 3)
    record = _access.makeRecord(_access.name, logging.INFO, "", 0, "%s %s %d %sB %.2fms",
                                (method, path, status, "-" if size is None else size, ms), None)
    record.__dict__.update(about or {})
    record.__dict__.update(method=method, path=path, status=status, bytes=size, duration_ms=ms)
    _access.handle(record)


# -- the CLI's own lines ------------------------------------------------------------------------------

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def say(message: str, *, level: str = "info", logger: str = "portflow.cli", err: bool = False,
        extra: Mapping[str, Any] | None = None) -> None:
    """Print one line of the CLI's own: ``message`` as it is in the text format, a JSON object (on the same
    stream, with ``extra``'s fields) in the JSON format."""
    import click

    if is_json():
        prefix = f"{level}: "  # "error: ..." in the text format; the level says it in JSON
        text = message[len(prefix):] if message.startswith(prefix) else message
        record = logging.makeLogRecord({"name": logger, "levelno": _LEVELS[level], "levelname": level.upper(),
                                        "msg": text, **(extra or {})})
        line = JsonFormatter().format(record)
    else:
        line = scrub(message)
    flush()
    click.echo(line, err=err)
