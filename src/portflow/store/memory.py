"""``memory://[name]``: an in-process store for tests and throw-away runs.

Every :class:`MemoryStore` opened with the same URL in one OS process shares the same state (documents,
changelog and watchers): a module-level dict keyed by the URL holds it, and it lives as long as the process
(:func:`forget` drops one). Changes reach watchers in-process immediately. The changelog is kept in memory
whole, so that ``watch(since=N)`` can replay it. Use it from one event loop.

The history keeps each document's newest revisions (``history_keep``) in memory too.

Documents are kept as JSON (and handed out as fresh copies), so what comes back equals what a durable
backend would return, and a caller mutating a document does not change the store.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import time
from collections.abc import Iterable
from typing import Any

from portflow.errors import UserError

from .base import (
    BaseStore,
    Batch,
    Change,
    ChangeFeed,
    Doc,
    Event,
    Op,
    Revision,
    check_expect,
    conflict,
    decode_doc,
    doc_key,
    encode_doc,
    matches,
)

_Entry = tuple[Doc, bytes]  # (private decoded copy for matching, the JSON handed out as copies)


class _Collection:
    __slots__ = ("by_id", "by_name", "order", "counter")

    def __init__(self) -> None:
        self.by_id: dict[str, _Entry] = {}  # insertion order = find order
        self.by_name: dict[tuple[str, str], str] = {}
        self.order: dict[str, int] = {}  # id -> insertion number, to sort index lookups
        self.counter = 0

    def snapshot(self) -> tuple[dict, dict, dict, int]:
        return dict(self.by_id), dict(self.by_name), dict(self.order), self.counter

    def restore(self, saved: tuple[dict, dict, dict, int]) -> None:
        self.by_id, self.by_name, self.order, self.counter = saved

    def add(self, entry: _Entry) -> None:
        ident = entry[0]["id"]
        self.by_id[ident] = entry
        self.counter += 1
        self.order[ident] = self.counter
        key = doc_key(entry[0])
        if key is not None:
            self.by_name[key] = ident


class _State:
    """One memory store's data, shared by every MemoryStore with the same URL."""

    def __init__(self) -> None:
        self.collections = {"specs": _Collection(), "values": _Collection(), "charts": _Collection()}
        self.changelog: list[Change] = []
        self.seqs: list[int] = []  # the changelog's seqs, for bisect
        self.seq = 0
        self.feed = ChangeFeed(self.fetch)
        self.history: dict[tuple[str, str], list[Revision]] = {}  # (collection, id) -> revisions, oldest first
        self.revision = 0
        self.leases: dict[str, tuple[str, float]] = {}  # name -> (holder, monotonic expiry)

    async def fetch(self, collection: str, after: int, limit: int) -> list[Change]:
        out: list[Change] = []
        for change in self.changelog[bisect.bisect_right(self.seqs, after):]:
            if change[0] == collection:
                out.append(change)
                if len(out) >= limit:
                    break
        return out

    def log_many(self, runs: list[tuple[str, Op, list[Doc]]], keep: int) -> dict[str, int]:
        """Append the changelog and history rows of one transaction and publish them together; returns
        the new revision of each document written."""
        changes: list[Change] = []
        written: dict[str, int] = {}
        at = _now()
        written_at = time.time()
        for collection, op, docs in runs:
            for doc in docs:
                self.seq += 1
                self.revision += 1
                event = Event(op, doc["id"], doc["namespace"], doc.get("name"), self.seq, written_at)
                changes.append((collection, event))
                kept = self.history.setdefault((collection, doc["id"]), [])
                kept.append(Revision(self.revision, op, doc["id"], doc["namespace"], doc.get("name"),
                                     None if op == "delete" else decode_doc(encode_doc(collection, doc)), at))
                del kept[:-keep]
                written[doc["id"]] = self.revision
        self.changelog.extend(changes)
        self.seqs.extend(e.seq for _, e in changes)
        if changes:
            self.feed.publish(changes)
        return written

    def current(self, collection: str, ids: Iterable[str]) -> dict[str, int]:
        """The revision of each stored document of ``ids``."""
        coll = self.collections[collection]
        out: dict[str, int] = {}
        for ident in ids:
            if ident in coll.by_id:
                kept = self.history.get((collection, ident))
                out[ident] = kept[-1].revision if kept else 0
        return out


def _now() -> str:
    """The current UTC time as the history writes it: ``2026-12-02T06:50:01.123Z``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_STATES: dict[str, _State] = {}


def forget(url: str) -> None:
    """Drop the shared state of the memory store ``url`` (its documents and changelog)."""
    _STATES.pop(url, None)


class MemoryStore(BaseStore):
    """The in-process store; see the module docstring."""

    def __init__(self, url: str = "memory://") -> None:
        if not url.startswith("memory:"):
            raise UserError(f"not a memory store URL: {url}")
        super().__init__(url)
        self._state = _STATES.setdefault(url, _State())
        self._feed = self._state.feed
        self._pending: list[tuple[str, Op, list[Doc]]] | None = None

    async def open(self) -> None:
        self._opened = True

    async def close(self) -> None:
        await self._end_watches()
        self._opened = False

    async def head(self) -> int:
        self._check_open()
        return self._state.seq

    async def _fetch(self, collection: str, after: int, limit: int) -> list[Change]:
        return await self._state.fetch(collection, after, limit)

    async def _acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        now = time.monotonic()
        current = self._state.leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._state.leases[name] = (holder, now + ttl)
        return True

    async def _release_lease(self, name: str, holder: str) -> None:
        current = self._state.leases.get(name)
        if current is not None and current[0] == holder:
            del self._state.leases[name]

    async def _insert(self, collection: str, docs: list[Doc]) -> None:
        coll = self._state.collections[collection]
        entries: list[_Entry] = []
        ids: set[str] = set()
        keys: set[tuple[str, str]] = set()
        for doc in docs:
            data = encode_doc(collection, doc)
            if doc["id"] in coll.by_id or doc["id"] in ids:
                raise conflict(collection, doc, "id")
            key = doc_key(doc)
            if key is not None and (key in coll.by_name or key in keys):
                raise conflict(collection, doc, "name")
            ids.add(doc["id"])
            if key is not None:
                keys.add(key)
            entries.append((decode_doc(data), data))
        for entry in entries:
            coll.add(entry)
        self._log(collection, "insert", [p for p, _ in entries])

    async def _update(self, collection: str, docs: list[Doc]) -> int:
        coll = self._state.collections[collection]
        undo: list[tuple[str, _Entry]] = []  # (id, old entry), to roll back on a conflict
        replaced: list[Doc] = []
        try:
            for doc in docs:
                if "id" in doc:
                    ident = doc["id"] if doc["id"] in coll.by_id else None
                else:
                    ident = coll.by_name.get((doc["namespace"], doc["name"]))
                if ident is None:
                    continue
                data = encode_doc(collection, dict(doc, id=ident))
                private = decode_doc(data)
                old = coll.by_id[ident]
                old_key, key = doc_key(old[0]), doc_key(private)
                if key is not None and key != old_key and key in coll.by_name:
                    raise conflict(collection, private, "name")
                self._replace(coll, ident, (private, data))
                undo.append((ident, old))
                replaced.append(private)
        except BaseException:
            for ident, old in reversed(undo):
                self._replace(coll, ident, old)
            raise
        if undo:
            self._log(collection, "update", replaced)
        return len(undo)

    async def _commit(self, collection: str, batch: Batch) -> int:
        coll = self._state.collections[collection]
        check_expect(collection, batch.expect, self._state.current(collection, batch.expect))
        saved = coll.snapshot()
        self._pending = []  # the steps below never await: no other write interleaves
        try:
            if batch.insert:
                await self._insert(collection, batch.insert)
            if batch.update:
                await self._update(collection, batch.update)
            if batch.delete:
                await self._delete(collection, {"id": tuple(batch.delete)})
        except BaseException:
            coll.restore(saved)
            raise
        finally:
            runs, self._pending = self._pending, None
        batch.revisions = self._state.log_many(runs, self.history_keep)
        return sum(len(docs) for *_, docs in runs)

    def _log(self, collection: str, op: Op, docs: list[Doc]) -> None:
        """Log a write now, or with the rest of the batch being committed."""
        if self._pending is not None:
            self._pending.append((collection, op, docs))
        else:
            self._state.log_many([(collection, op, docs)], self.history_keep)

    @staticmethod
    def _replace(coll: _Collection, ident: str, entry: _Entry) -> None:
        """Put ``entry`` in the place of the document ``ident`` (keeping its place in the order)."""
        old_key = doc_key(coll.by_id[ident][0])
        if old_key is not None and coll.by_name.get(old_key) == ident:
            del coll.by_name[old_key]
        coll.by_id[ident] = entry
        key = doc_key(entry[0])
        if key is not None:
            coll.by_name[key] = ident

    async def _delete(self, collection: str, filter: dict[str, Any]) -> int:
        coll = self._state.collections[collection]
        gone = [private for private, _ in _candidates(coll, filter) if matches(private, filter)]
        for private in gone:
            del coll.by_id[private["id"]]
            del coll.order[private["id"]]
            key = doc_key(private)
            if key is not None:
                coll.by_name.pop(key, None)
        if gone:
            self._log(collection, "delete", gone)
        return len(gone)

    async def _revisions(self, collection: str, ids: list[str]) -> dict[str, int]:
        return self._state.current(collection, ids)

    async def _history(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Revision]:
        found = [r for (c, _), kept in self._state.history.items() if c == collection for r in kept
                 if matches({"id": r.id, "namespace": r.namespace, "name": r.name}, filter)]
        found.sort(key=lambda r: -r.revision)
        found = found[:limit] if limit is not None else found
        return [r if r.doc is None else dataclasses.replace(r, doc=decode_doc(encode_doc(collection, r.doc)))
                for r in found]

    async def _find(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Doc]:
        out: list[Doc] = []
        for private, data in _candidates(self._state.collections[collection], filter):
            if matches(private, filter):
                out.append(decode_doc(data))
                if limit is not None and len(out) >= limit:
                    break
        return out


def _candidates(coll: _Collection, filter: dict[str, Any]) -> Iterable[_Entry]:
    """The entries that may match, in insertion order: an index lookup for id or (namespace, name)."""
    ident, ns, name = filter.get("id"), filter.get("namespace"), filter.get("name")
    if isinstance(ident, str):
        entry = coll.by_id.get(ident)
        return [entry] if entry else []
    if isinstance(ns, str) and isinstance(name, str):
        found = coll.by_name.get((ns, name))
        return [coll.by_id[found]] if found else []
    if isinstance(ident, tuple) and len(ident) < len(coll.by_id) // 8:
        wanted = {i for i in ident if isinstance(i, str) and i in coll.by_id}
        return [coll.by_id[i] for i in sorted(wanted, key=coll.order.__getitem__)]
    return coll.by_id.values()
