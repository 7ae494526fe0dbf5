"""The store protocol and what every backend shares.

A store holds two collections of JSON documents, ``specs`` and ``values``, and one changelog: every insert,
update and delete writes one changelog row per document in the same transaction as the change. Rows are
numbered by ``seq``, strictly increasing per store, and a watcher reads them in that order, so it loses nothing
and can resume from the last ``seq`` it saw.

This module holds the parts the backends share: :class:`Event`, filter validation and matching (and the
compilation of a filter to SQL, given a dialect), URL masking, document encoding, and the change feed — the
fan-out of changelog rows to watchers (:class:`ChangeFeed`, :class:`Watch`). A backend supplies the storage,
a way to read changelog rows after a ``seq`` (``fetch``), and a doorbell that publishes new rows to the feed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from portflow.errors import ConflictError, StoreError, UserError

log = logging.getLogger("portflow.store")

Doc = dict[str, Any]
"""A JSON-able document. It always has a str ``id`` and a str ``namespace``; ``name`` is a str or absent."""

Filter = Mapping[str, Any]
"""Field equality on top-level keys; a list/tuple/set value means "any of"; ``{"$or": [filter, ...]}``."""

Op = Literal["insert", "update", "delete"]

COLLECTIONS = ("specs", "values")
CHANGELOG_KEEP = 100_000
"""How many of the newest changelog rows a store keeps when it opens; older ones are trimmed. A watcher
that asks to resume from before them (``since=``) gets what is left: runtimes reload everything when they
start, so only a watcher that was away for that many changes would notice."""
COLUMNS = ("id", "namespace", "name")
"""The fields every backend keeps in their own column; the only fields a watch filter may use."""

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ANY_OF = (list, tuple, set, frozenset)


@dataclass(frozen=True, slots=True)
class Event:
    """One change: a changelog row."""

    op: Op
    id: str
    namespace: str
    name: str | None
    seq: int


Change = tuple[str, Event]
"""A changelog row as the feed carries it: (collection name, event)."""


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
        if need_id or "id" in doc:
            if not isinstance(ident, str) or not ident:
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


# ------------------------------------------------------------------------------------------------ filters


def check_filter(filter: Filter | None, *, watch: bool = False) -> dict[str, Any]:
    """Validate a filter and return it normalised: any-of values as tuples, ``$or`` as a tuple of filters.

    Field names must be identifier-like; with ``watch=True`` only ``id``, ``namespace`` and ``name`` are allowed.
    """
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise UserError(f"a filter must be a mapping, got {type(filter).__name__}")
    out: dict[str, Any] = {}
    for key, value in filter.items():
        if key == "$or":
            if not isinstance(value, (list, tuple)):
                raise UserError(f"filter '$or' needs a list of filters, got {type(value).__name__}")
            out[key] = tuple(check_filter(sub, watch=watch) for sub in value)
            continue
        if not isinstance(key, str) or not _FIELD.match(key):
            raise UserError(f"bad filter field {key!r}: use a top-level field name (letters, digits, _)")
        if watch and key not in COLUMNS:
            raise UserError(f"a watch filter may only use id, namespace and name, not {key!r}")
        value = tuple(value) if isinstance(value, _ANY_OF) else value
        for v in value if isinstance(value, tuple) else (value,):
            if not _is_json(v):
                raise UserError(f"filter value for {key!r} is not a JSON value: {v!r}")
        out[key] = value
    return out


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def json_eq(a: Any, b: Any) -> bool:
    """Equality of JSON values: bools are not numbers, 1 == 1.0, objects compare by keys and values."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_eq(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


def _field_eq(doc: Mapping[str, Any], key: str, value: Any) -> bool:
    if value is None:
        return doc.get(key) is None  # a missing field equals None
    return key in doc and json_eq(doc[key], value)


def matches(doc: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies a filter normalised by :func:`check_filter`."""
    for key, value in filter.items():
        if key == "$or":
            if not any(matches(doc, sub) for sub in value):
                return False
        elif isinstance(value, tuple):
            if not any(_field_eq(doc, key, v) for v in value):
                return False
        elif not _field_eq(doc, key, value):
            return False
    return True


def event_matches(event: Event, filter: Mapping[str, Any]) -> bool:
    """Whether a changelog event satisfies a (watch) filter."""
    return matches({"id": event.id, "namespace": event.namespace, "name": event.name}, filter)


class Dialect(Protocol):
    """How a SQL backend says "field equals one of values"; see :func:`compile_filter`."""

    def term(self, field: str, values: tuple[Any, ...]) -> tuple[str, list[Any], bool]:
        """SQL for ``field`` equal to any of ``values``, its parameters, and whether it is exact."""
        ...


def compile_filter(filter: Mapping[str, Any], dialect: Dialect) -> tuple[str, list[Any], bool]:
    """A normalised filter as a SQL condition, its bound parameters, and whether the SQL is exact.

    When it is not exact (a dict or list value that SQL only narrows down), the rows must be checked
    with :func:`matches` too. Field names were validated by :func:`check_filter`; values are always parameters.
    """
    parts: list[str] = []
    params: list[Any] = []
    exact = True
    for key, value in filter.items():
        if key == "$or":
            subs = []
            for sub in value:
                sql, p, e = compile_filter(sub, dialect)
                subs.append(sql)
                params.extend(p)
                exact = exact and e
            parts.append("(" + " OR ".join(subs) + ")" if subs else "1=0")
        else:
            sql, p, e = dialect.term(key, value if isinstance(value, tuple) else (value,))
            parts.append(sql)
            params.extend(p)
            exact = exact and e
    return (" AND ".join(parts) if parts else "1=1"), params, exact


# ------------------------------------------------------------------------------------------- change feed


def backoff(first: float = 0.1, cap: float = 0.5) -> Iterator[float]:
    """Reconnect delays: ``first`` seconds, doubling up to ``cap``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


Fetch = Callable[[str, int, int], Awaitable[list[Change]]]
"""``fetch(collection, after, limit)``: changelog rows of a collection with seq > after, in seq order."""

_CLOSED = object()
_PAGE = 1000


class ChangeFeed:
    """Fans changelog rows out to the watchers of one store, one unbounded queue per watcher.

    The backend calls :meth:`publish` (on the event loop) with the rows it read after ``cursor``, in seq order,
    and :meth:`note_head` whenever it learns of a committed seq (its own write, ``head()``). ``on_active`` is
    called with True when the first watcher starts and with False when the last one ends.
    """

    def __init__(self, fetch: Fetch, on_active: Callable[[bool], None] | None = None) -> None:
        self._fetch = fetch
        self._on_active = on_active
        # Weak: a watcher dropped without aclose() (say, a ``break`` out of ``async for``) must not keep
        # collecting events forever.
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self.cursor = 0
        """The newest seq published to the watchers."""
        self.known_head = 0
        """The newest seq known to be committed; where a ``since=None`` watcher starts."""

    @property
    def active(self) -> bool:
        return bool(self._watches)

    def reset(self, head: int) -> None:
        """Start from ``head`` (when the store opens)."""
        self.cursor = self.known_head = head

    def note_head(self, seq: int) -> None:
        if seq > self.known_head:
            self.known_head = seq

    def publish(self, changes: Iterable[Change], head: int | None = None) -> None:
        """Deliver rows read from the changelog; rows at or below ``cursor`` were delivered already.

        ``head`` (optional) says that every row up to it has been read, even if none was passed.
        """
        for collection, event in changes:
            if event.seq <= self.cursor:
                continue
            self.cursor = event.seq
            for w in tuple(self._watches):
                w._offer(collection, event)
        if head is not None and head > self.cursor:
            self.cursor = head
        self.note_head(self.cursor)

    def watch(self, collection: str, filter: Filter | None = None, *, since: int | None = None) -> Watch:
        """A new watcher on ``collection``; see :meth:`Collection.watch`."""
        flt = check_filter(filter, watch=True)
        if since is not None and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
            raise UserError(f"watch: since must be a seq (an int >= 0), got {since!r}")
        w = Watch(self, collection, flt, since)
        self._watches.add(w)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        weakref.finalize(w, self._watch_collected, loop)
        if len(self._watches) == 1 and self._on_active is not None:
            self._on_active(True)
        return w

    def _drop(self, w: Watch) -> None:
        if w in self._watches:
            self._watches.discard(w)
            self._check_idle()

    def _watch_collected(self, loop: asyncio.AbstractEventLoop | None) -> None:
        # The garbage collector may run this on any thread: get back to the loop.
        if loop is None:
            self._check_idle()
        elif not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._check_idle)

    def _check_idle(self) -> None:
        if not self._watches and self._on_active is not None:
            self._on_active(False)

    def close(self) -> None:
        """End every watcher (their iteration stops)."""
        for w in tuple(self._watches):
            w._end()
        self._watches.clear()


class Watch:
    """An async iterator of :class:`Event` for one collection and filter; also an async context manager.

    With ``since=N`` it first replays every change with seq > N from the changelog, then goes live; with
    ``since=None`` it delivers every change committed after it was created. Never a gap, never a duplicate,
    always in seq order.
    """

    def __init__(self, feed: ChangeFeed, collection: str, filter: dict[str, Any], since: int | None) -> None:
        self._feed = feed
        self._collection = collection
        self._filter = filter
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._backlog: collections.deque[Event] = collections.deque()
        self._catching_up = since is not None
        self._closed = False
        self._pos = since if since is not None else feed.known_head
        self.last_seq: int = self._pos
        """The seq of the last event delivered (or the starting point)."""

    def __repr__(self) -> str:
        return f"<Watch {self._collection} {self._filter or '*'} last_seq={self.last_seq}>"

    def _offer(self, collection: str, event: Event) -> None:
        # Duplicates of what a catch-up replayed are dropped in __anext__, by seq.
        if collection == self._collection and event_matches(event, self._filter):
            self._queue.put_nowait(event)

    def _end(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._backlog:
                event = self._backlog.popleft()
                self.last_seq = event.seq
                return event
            if self._closed:
                raise StopAsyncIteration
            if self._catching_up:
                await self._catch_up()
                continue
            item = await self._queue.get()
            if item is _CLOSED:
                raise StopAsyncIteration
            if item.seq <= self._pos:
                continue  # replayed already
            self._pos = self.last_seq = item.seq
            return item

    async def _catch_up(self) -> None:
        delays = backoff()
        while not self._closed:
            try:
                rows = await self._feed._fetch(self._collection, self._pos, _PAGE)
            except StoreError as exc:
                delay = next(delays)
                log.warning("%s: watch cannot read the changelog (retrying in %.1f s): %s",
                            self._collection, delay, exc)
                await asyncio.sleep(delay)
                continue
            for collection, event in rows:
                if event.seq > self._pos:
                    self._pos = event.seq
                    if collection == self._collection and event_matches(event, self._filter):
                        self._backlog.append(event)
            if len(rows) < _PAGE:
                self._catching_up = False
            return

    async def aclose(self) -> None:
        """Stop watching; a pending or later ``__anext__`` raises ``StopAsyncIteration``."""
        self._end()
        self._backlog.clear()
        self._feed._drop(self)

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# -------------------------------------------------------------------------------------------- protocols


@runtime_checkable
class Collection(Protocol):
    """One collection of a store: ``store.specs`` or ``store.values``."""

    name: str

    async def insert(self, docs: Sequence[Doc]) -> None: ...
    async def update(self, docs: Sequence[Doc]) -> int: ...
    async def delete(self, filter: Filter) -> int: ...
    async def find(self, filter: Filter | None = None, *, limit: int | None = None) -> list[Doc]: ...
    def watch(self, filter: Filter | None = None, *, since: int | None = None) -> Watch: ...


@runtime_checkable
class Store(Protocol):
    """A document store: two collections and their shared changelog."""

    url: str
    specs: Collection
    values: Collection

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def head(self) -> int: ...
    async def __aenter__(self) -> Store: ...
    async def __aexit__(self, *exc: object) -> None: ...


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
        self._feed = ChangeFeed(self._fetch, self._on_active)
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._opened = False

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

    async def _find(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Doc]:  # pragma: no cover
        raise NotImplementedError
