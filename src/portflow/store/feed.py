"""The change feed: changelog rows (:class:`Event`) fanned out to watchers (:class:`ChangeFeed`, :class:`Watch`).

A backend supplies a way to read changelog rows after a ``seq`` (``fetch``) and a doorbell that publishes new
rows to the feed; a watcher reads them in seq order, so it loses nothing and can resume from the last ``seq``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from portflow.errors import StoreError, UserError

from .filters import Filter, check_filter, matches

__all__ = ["Op", "Event", "Change", "ChangeFeed", "Watch", "backoff", "event_matches"]

log = logging.getLogger("portflow.store")

Op = Literal["insert", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Event:
    """One change: a changelog row."""

    op: Op
    id: str
    namespace: str
    name: str | None
    seq: int
    #: When the change was written (seconds since the epoch, by the store's clock), when the store knows.
    at: float | None = field(default=None, compare=False)


Change = tuple[str, Event]
"""A changelog row as the feed carries it: (collection name, event)."""


def event_matches(event: Event, filter: Mapping[str, Any]) -> bool:
    """Whether a changelog event satisfies a (watch) filter."""
    return matches({"id": event.id, "namespace": event.namespace, "name": event.name}, filter)



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
