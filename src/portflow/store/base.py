"""The store protocol and what every backend shares.

A store holds three collections of JSON documents, ``specs``, ``values`` and ``charts``, one changelog and one
history: every insert, update and delete writes one changelog row and one history row (a :class:`Revision`: the
document as written, or the fact of its deletion) per document in the same transaction as the change. Rows are
numbered by ``seq``, strictly increasing per store, and a watcher reads them in that order, so it loses nothing
and can resume from the last ``seq`` it saw.

This module holds the protocols, the skeleton the backends share (:class:`BaseCollection`,
:class:`BaseStore`), URL masking and document encoding. Filters live in ``filters.py``, the change feed in
``feed.py``; both are re-exported here. A backend supplies the storage, a way to read changelog rows after a
``seq`` (``fetch``), and a doorbell that publishes new rows to the feed.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from portflow.errors import ConflictError, RevisionConflict, StoreError, UserError

from .feed import Change, ChangeFeed, Event, Op, Watch, backoff, event_matches
from .filters import COLUMNS, Dialect, Filter, check_filter, compile_filter, json_eq, matches

log = logging.getLogger("portflow.store")

__all__ = [
    "Doc", "Filter", "Op", "Event", "Change", "ChangeFeed", "Watch", "Batch", "Revision", "Collection", "Store",
    "BaseCollection", "BaseStore", "COLLECTIONS", "COLUMNS", "CHANGELOG_KEEP", "HISTORY_KEEP", "Dialect", "backoff",
    "check_docs", "check_filter", "compile_filter", "conflict", "decode_doc", "doc_key", "encode_doc",
    "check_expect", "event_matches", "json_eq", "mask_url", "matches", "one_line", "scrub", "stale", "undecodable",
]

Doc = dict[str, Any]
"""A JSON-able document. It always has a str ``id`` and a str ``namespace``; ``name`` is a str or absent."""

COLLECTIONS = ("specs", "values", "charts")
CHANGELOG_KEEP = 100_000
"""How many of the newest changelog rows a store keeps when it opens; older ones are trimmed. A watcher
that asks to resume from before them (``since=``) gets what is left: runtimes reload everything when they
start, so only a watcher that was away for that many changes would notice."""
HISTORY_KEEP = 50
"""How many revisions a store keeps per document (setting ``history.keep``); older ones are trimmed in the
transaction that writes a new one."""


@dataclass
class Batch:
    """Writes to one collection that commit together, in this order: inserts, updates, deletes (by id).

    One batch is one transaction and one run of changelog rows: all of it is stored, or none of it.
    ``expect`` maps document ids to the revision each must be at when the transaction starts; any other
    revision (or no such document) refuses the whole batch with :class:`RevisionConflict`. After the
    commit, ``revisions`` maps each written id to its new revision.
    """

    insert: list[Doc] = field(default_factory=list)
    update: list[Doc] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    expect: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.insert or self.update or self.delete)


@dataclass(frozen=True, slots=True)
class Revision:
    """One write of one document, as the history keeps it.

    ``revision`` numbers every write of a store (both collections), strictly increasing; a document's
    revision is the number of its last write. ``doc`` is the document as written (None: it was deleted);
    ``at`` is the UTC time of the write, ISO 8601 (``2026-12-02T06:50:01.123Z``).
    """

    revision: int
    op: Op
    id: str
    namespace: str
    name: str | None
    doc: Doc | None
    at: str


def stale(collection: str, ident: str, expected: int, actual: int | None) -> RevisionConflict:
    """The one-line :class:`RevisionConflict` for document ``ident`` at ``actual`` instead of ``expected``."""
    if actual is None:
        return RevisionConflict(f"{collection}: document {ident!r} was expected at revision {expected}, "
                                "but it does not exist (deleted since?)", ident, expected, actual)
    return RevisionConflict(f"{collection}: document {ident!r} is at revision {actual}, not {expected}: "
                            "it changed since it was read; read it again and retry", ident, expected, actual)


def check_expect(collection: str, expect: Mapping[str, int], current: Mapping[str, int]) -> None:
    """Raise :func:`stale` for the first id of ``expect`` whose ``current`` revision differs."""
    for ident, rev in expect.items():
        if current.get(ident) != rev:
            raise stale(collection, ident, rev, current.get(ident))


# --------------------------------------------------------------------------------------------------- URLs


def mask_url(url: str) -> str:
    """``url`` with its password (in the user info or a ``password=`` query parameter) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return re.sub(r"(password=)[^&\s]*", r"\1***", url, flags=re.IGNORECASE)
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if i != -1:
            end = min(end, i)
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    tail = re.sub(r"([?&]password=)[^&#]*", r"\1***", tail, flags=re.IGNORECASE)
    return f"{scheme}://{netloc}{tail}"


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (if any) masked, flattened to one line."""
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***").replace(urllib.parse.quote(password, safe=""), "***")
    return " ".join(str(text).split())


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (or its type name)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


# ---------------------------------------------------------------------------------------------- documents

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def check_docs(collection: str, docs: Sequence[Doc], *, need_id: bool = True) -> list[Doc]:
    """Validate a batch of documents; returns it as a list. Raises :class:`UserError` naming the problem."""
    if isinstance(docs, Mapping):
        raise UserError(f"{collection}: expected a sequence of documents, got a single document")
    out = list(docs)
    for doc in out:
        if not isinstance(doc, Mapping):
            raise UserError(f"{collection}: a document must be a mapping, got {type(doc).__name__}")
        ident = doc.get("id")
        if (need_id or "id" in doc) and (not isinstance(ident, str) or not ident):
            raise UserError(f"{collection}: a document needs a non-empty str 'id', got {ident!r}")
        if not isinstance(doc.get("namespace"), str) or not doc["namespace"]:
            raise UserError(f"{collection}: document {ident!r} needs a non-empty str 'namespace'")
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            raise UserError(f"{collection}: document {ident!r} has a 'name' that is not a str: {name!r}")
    return out


def encode_doc(collection: str, doc: Doc) -> bytes:
    """The document as JSON bytes; :class:`UserError` if it is not JSON-able."""
    try:
        return _encoder.encode(doc)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UserError(f"{collection}: document {doc.get('id')!r} is not JSON-able: {one_line(exc)}") from None


def decode_doc(data: bytes | str) -> Doc:
    """Decode a stored document. Raises ``ValueError`` if it does not decode to a JSON object."""
    try:
        doc = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def undecodable(collection: str, ident: str, exc: BaseException) -> None:
    """Log a stored row that does not decode (it is skipped, not fatal)."""
    log.warning("%s: skipping document %r: its stored JSON does not decode: %s", collection, ident, exc)


def conflict(collection: str, doc: Mapping[str, Any], by: Literal["id", "name"]) -> ConflictError:
    """The one-line :class:`ConflictError` for ``doc`` clashing on its id or its (namespace, name)."""
    if by == "id":
        return ConflictError(f"{collection}: a document with id {doc.get('id')!r} already exists")
    return ConflictError(
        f"{collection}: namespace {doc.get('namespace')!r} already has a document named {doc.get('name')!r}"
    )


def doc_key(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (namespace, name) key of a document, or None if it has no name."""
    name = doc.get("name")
    return None if name is None else (doc["namespace"], name)


# -------------------------------------------------------------------------------------------- protocols


@runtime_checkable
class Collection(Protocol):
    """One collection of a store: ``store.specs`` or ``store.values``."""

    name: str

    async def insert(self, docs: Sequence[Doc]) -> None: ...
    async def update(self, docs: Sequence[Doc]) -> int: ...
    async def delete(self, filter: Filter) -> int: ...
    async def commit(self, batch: Batch) -> int: ...
    async def find(self, filter: Filter | None = None, *, limit: int | None = None) -> list[Doc]: ...
    async def revisions(self, ids: Sequence[str]) -> dict[str, int]: ...
    async def history(self, filter: Filter | None = None, *, limit: int | None = None) -> list[Revision]: ...
    def watch(self, filter: Filter | None = None, *, since: int | None = None) -> Watch: ...


@runtime_checkable
class Store(Protocol):
    """A document store: two collections and their shared changelog."""

    url: str
    specs: Collection
    values: Collection
    history_keep: int
    charts: Collection

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def head(self) -> int: ...
    async def __aenter__(self) -> Store: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool: ...
    async def release_lease(self, name: str, holder: str) -> None: ...


# -------------------------------------------------------------------------------------- shared skeleton


class BaseCollection:
    """A collection that checks its arguments and hands the work to its store's ``_insert`` etc."""

    def __init__(self, store: BaseStore, name: str) -> None:
        self.name = name
        self._store = store

    def __repr__(self) -> str:
        return f"<Collection {self.name} of {mask_url(self._store.url)}>"

    async def insert(self, docs: Sequence[Doc]) -> None:
        """Insert documents, all or nothing; :class:`ConflictError` on a duplicate id or (namespace, name)."""
        batch = check_docs(self.name, docs)
        self._store._check_open()
        if batch:
            await self._store._insert(self.name, batch)

    async def update(self, docs: Sequence[Doc]) -> int:
        """Replace each stored document matched by the doc's id (else its namespace and name).

        Documents that match nothing are skipped; returns how many were replaced. All or nothing.
        """
        batch = check_docs(self.name, docs, need_id=False)
        for doc in batch:
            if "id" not in doc and doc.get("name") is None:
                raise UserError(f"{self.name}: a document to update needs an 'id' or a 'name'")
        self._store._check_open()
        return await self._store._update(self.name, batch) if batch else 0

    async def commit(self, batch: Batch) -> int:
        """Insert, update and delete (each document by its id) in one transaction, all or nothing.

        Watchers see the batch's changes as one run of events. Returns how many documents changed.
        """
        inserts = check_docs(self.name, batch.insert)
        updates = check_docs(self.name, batch.update)
        deletes = list(batch.delete)
        if not all(isinstance(i, str) and i for i in deletes):
            raise UserError(f"{self.name}: documents to delete are named by non-empty str ids")
        expect = dict(batch.expect)
        for ident, rev in expect.items():
            if not isinstance(ident, str) or not isinstance(rev, int) or isinstance(rev, bool) or rev < 0:
                raise UserError(f"{self.name}: an expected revision maps an id to an int >= 0, got {ident!r}: {rev!r}")
        self._store._check_open()
        if not (inserts or updates or deletes):
            if expect:  # nothing to write, but the caller still learns whether its revisions are current
                check_expect(self.name, expect, await self.revisions(list(expect)))
            return 0
        done = Batch(inserts, updates, deletes, expect)
        count = await self._store._commit(self.name, done)
        batch.revisions = done.revisions
        return count

    async def delete(self, filter: Filter) -> int:
        """Delete the documents that match ``filter`` (``{}`` deletes all); returns how many."""
        flt = check_filter(filter)
        self._store._check_open()
        return await self._store._delete(self.name, flt)

    async def find(self, filter: Filter | None = None, *, limit: int | None = None) -> list[Doc]:
        """The documents that match ``filter``, in insertion order, at most ``limit`` of them."""
        flt = check_filter(filter)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UserError(f"find: limit must be an int >= 0, got {limit!r}")
        self._store._check_open()
        if limit == 0:
            return []
        return await self._store._find(self.name, flt, limit)

    async def revisions(self, ids: Sequence[str]) -> dict[str, int]:
        """The current revision of each stored document of ``ids`` (ids of no document are left out).

        A document stored before this store kept a history has revision 0 until it is written again.
        """
        wanted = list(ids)
        if not all(isinstance(i, str) for i in wanted):
            raise UserError(f"{self.name}: revisions are asked for by str ids")
        self._store._check_open()
        return await self._store._revisions(self.name, wanted) if wanted else {}

    async def history(self, filter: Filter | None = None, *, limit: int | None = None) -> list[Revision]:
        """The kept revisions whose id, namespace and name match ``filter`` (those fields only), newest first."""
        flt = check_filter(filter, watch=True)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise UserError(f"history: limit must be an int >= 0, got {limit!r}")
        self._store._check_open()
        if limit == 0:
            return []
        return await self._store._history(self.name, flt, limit)

    def watch(self, filter: Filter | None = None, *, since: int | None = None) -> Watch:
        """Watch changes; the filter may use id, namespace and name only.

        ``since=None``: every change committed after this call returns (a change another process committed
        just before may be delivered too). ``since=N``: first every change with seq > N, then live.
        """
        self._store._check_open()
        w = self._store._feed.watch(self.name, filter, since=since)
        self._store._watches.add(w)
        return w


class BaseStore:
    """Open/close bookkeeping, the collections and the change feed; backends fill in the ``_`` methods."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.specs = BaseCollection(self, "specs")
        self.values = BaseCollection(self, "values")
        self.charts = BaseCollection(self, "charts")  # uniflow v0.12's reusable composites, shaped as values
        self._feed = ChangeFeed(self._fetch, self._on_active)
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._opened = False
        self.history_keep = HISTORY_KEEP
        """How many revisions to keep per document (at least 1)."""

    def __repr__(self) -> str:
        state = "open" if self._opened else "closed"
        return f"<{type(self).__name__} {mask_url(self.url)} {state}>"

    def _check_open(self) -> None:
        if not self._opened:
            raise StoreError(f"store {mask_url(self.url)} is not open")

    async def _end_watches(self) -> None:
        """End the watchers started through this store object."""
        for w in tuple(self._watches):
            await w.aclose()

    async def __aenter__(self) -> BaseStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- leases: one holder at a time among every runtime on this store (``timer cluster: once``) -----

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take the lease ``name`` for ``holder`` for ``ttl`` seconds, or renew it; True if ``holder`` holds it.

        It is taken when nobody holds it, when its holder let it expire (died, say), or when ``holder`` already
        holds it (then it is renewed). The store's clock decides expiry (PostgreSQL's, the machine's for
        SQLite), so holders on several machines need not agree on the time.
        """
        if not isinstance(name, str) or not name or not isinstance(holder, str) or not holder:
            raise UserError("lease: the name and the holder are non-empty strs")
        if not ttl > 0:
            raise UserError(f"lease: ttl must be > 0 seconds, got {ttl!r}")
        self._check_open()
        return await self._acquire_lease(name, holder, float(ttl))

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (another holder may take it at once); else do nothing."""
        self._check_open()
        await self._release_lease(name, holder)

    async def _acquire_lease(self, name: str, holder: str, ttl: float) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _release_lease(self, name: str, holder: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def head(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _on_active(self, active: bool) -> None:
        """The first watcher started (True) or the last one ended (False)."""

    async def _fetch(self, collection: str, after: int, limit: int) -> list[Change]:  # pragma: no cover
        raise NotImplementedError

    async def _insert(self, collection: str, docs: list[Doc]) -> None:  # pragma: no cover
        raise NotImplementedError

    async def _update(self, collection: str, docs: list[Doc]) -> int:  # pragma: no cover
        raise NotImplementedError

    async def _delete(self, collection: str, filter: dict[str, Any]) -> int:  # pragma: no cover
        raise NotImplementedError

    async def _commit(self, collection: str, batch: Batch) -> int:  # pragma: no cover
        raise NotImplementedError

    async def _find(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Doc]:  # pragma: no cover
        raise NotImplementedError

    async def _revisions(self, collection: str, ids: list[str]) -> dict[str, int]:  # pragma: no cover
        raise NotImplementedError

    async def _history(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Revision]:  # pragma: no cover
        raise NotImplementedError

