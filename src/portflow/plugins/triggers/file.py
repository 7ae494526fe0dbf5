"""The ``file`` kind: a process on ``out`` for every change to a watched path or glob (watchfiles).

``path`` is a file, a directory (watched recursively) or a glob (``logs/*.json``, ``data/**/*.csv``): the
directory before its first wildcard is watched and each changed path is matched against the glob. Each
change sends ``{path, event}`` (``event``: added, modified or deleted); with ``read`` the file's content
is passed as ``data`` too: ``text`` (UTF-8), ``bytes``, ``json`` or ``yaml`` (parsed), and a file larger
than ``max_size`` is not read (its change goes to ``error``). Changes within ``debounce`` are grouped, so a
file written in several steps is one change.
"""

from __future__ import annotations

import asyncio
import glob
import inspect
import logging
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...errors import FlowError, UserError
from ...lifetime import TaskStatus
from ...logs import spec_fields
from ...scheme import Context, Scheme
from ...spec import PositiveDuration, Spec, load_yaml
from ..net import mime
from .source import Source

__all__ = ["FileSpec", "FileWatcher", "compile_file", "register"]

log = logging.getLogger("portflow.triggers.file")

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
_EVENTS = {1: "added", 2: "modified", 3: "deleted"}


class FileSpec(Spec, kw_only=True):
    """Opens a process on ``out`` for every change to a watched file, directory or glob, with ``{path, event}``.

    ``event`` is added, modified or deleted. With ``read`` the content comes as ``data``; a file over
    ``max_size`` or that does not decode goes to ``error`` instead. A glob's ``*`` stays within one
    directory, ``**/`` spans any.
    """

    path: Annotated[str, Meta(min_length=1, description="a file, a directory or a glob (* ? [..] **) to watch")]
    read: Annotated[Literal["text", "bytes", "json", "yaml"] | None, Meta(
        description="pass the file's content as data: text, bytes, or parsed json or yaml")] = None
    max_size: Annotated[int, Meta(ge=1, description="the largest file read, in bytes")] = DEFAULT_MAX_SIZE
    debounce: Annotated[PositiveDuration, Meta(description="changes this close together are one")] = \
        PositiveDuration(0.05)


def split_glob(path: str) -> tuple[str, str | None]:
    """``(directory to watch, glob or None)``: the glob's part before its first wildcard, or the path itself."""
    if not glob.has_magic(path):
        return path, None
    parts = Path(path).parts
    base = [p for p in parts[:next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    return str(Path(*base)) if base else ".", path


class FileWatcher(Source):
    """The live watcher; ``load()`` starts watching, ``unload()`` stops and drains."""

    def __init__(self, path: str, *, read: str | None = None, max_size: int = DEFAULT_MAX_SIZE,
                 debounce: float = 0.05, **source: Any) -> None:
        super().__init__(**source)
        self.root, self.pattern = split_glob(path)
        self.read = read
        self.max_size = max_size
        self.debounce = debounce

    async def load(self) -> None:
        if not await asyncio.to_thread(os.path.exists, self.root):  # at activation: lint and apply run elsewhere
            raise UserError(f"path: {self.root!r} does not exist")
        await self.run(self._watch)

    def _wanted(self, path: str) -> bool:
        if self.pattern is None:
            return True
        pattern = os.path.abspath(self.pattern)
        return _glob_match(os.path.abspath(path), pattern)

    async def _watch(self, status: TaskStatus[Any]) -> None:
        import watchfiles

        stop = asyncio.Event()
        status.started()
        try:
            async for changes in watchfiles.awatch(self.root, watch_filter=None, debounce=int(self.debounce * 1000),
                                                   step=20, stop_event=stop, recursive=True):
                for change, path in sorted(changes, key=lambda c: (c[1], c[0])):
                    if self._wanted(path):
                        self.spawn(self._changed(path, _EVENTS.get(int(change), "modified")))
        finally:
            stop.set()

    async def _changed(self, path: str, event: str) -> None:
        await self.fire(await asyncio.to_thread(self._payload, path, event))

    def _payload(self, path: str, event: str) -> Any:
        payload: dict[str, Any] = {"path": path, "event": event}
        if self.read is None or event == "deleted" or not os.path.isfile(path):
            return payload
        try:
            size = os.path.getsize(path)
            if size > self.max_size:
                return FlowError(f"{self.label}: {path} is {size} bytes, more than max_size {self.max_size}")
            with open(path, "rb") as f:
                raw = f.read(self.max_size + 1)
            payload["data"] = _decode(raw, self.read)
        except (OSError, ValueError, mime.BodyError) as exc:
            return FlowError(f"{self.label}: cannot read {path} as {self.read}: {exc}")
        return payload


def _decode(raw: bytes, read: str) -> Any:
    if read == "bytes":
        return raw
    if read == "json":
        return mime.decode_json(raw)
    text = raw.decode("utf-8")
    if read == "yaml":
        docs = load_yaml(text)
        return docs[0] if len(docs) == 1 else docs
    return text


def _glob_match(path: str, pattern: str) -> bool:
    """``Path.full_match`` for Pythons before 3.13: ``**/`` any directories, ``*`` and ``?`` within one name."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            j = pattern.index("]", i + 1)
            out.append("[" + pattern[i + 1:j].replace("!", "^", 1) + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.fullmatch("".join(out), path) is not None


def compile_file(spec: FileSpec, context: Context) -> FileWatcher:
    return FileWatcher(spec.path, read=spec.read, max_size=spec.max_size, debounce=float(spec.debounce),
                       label=spec.subject, log_fields=spec_fields(spec), lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: file
  name: inbox
  path: inbox/*.json
  read: json
  ports:
    out:
      - name: line
        port: in
- kind: snippet
  name: line
  language: cel
  code: '["%s %s: %v\\n", self.event, self.path, self.data]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("file", FileSpec, compile_file, description=inspect.cleandoc(FileSpec.__doc__ or ""),
                    ports={"out": "each change as {path, event} (and data with read)",
                           "error": "changes whose flow failed, files too large or that do not decode"},
                    example=EXAMPLE, plugin="triggers")
