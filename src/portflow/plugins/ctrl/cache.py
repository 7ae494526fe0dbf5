"""cache: answer a repeated input from an LRU cache of earlier answers."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Any

from msgspec import Meta

from ...node import Relay
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec

__all__ = ["CacheSpec", "CacheNode", "LRU", "compile_cache", "register"]


class CacheSpec(Spec, kw_only=True):
    """Answers an input it has seen before with the answer it got then; a miss goes to ``out`` and its
    answer is kept unless it is an error. Keys are the payloads (maps compare by content). ``capacity``
    bounds the entries (least recently used go first; 0: no bound) and ``ttl`` their age (0: forever;
    ``interval`` is the uniflow v0.12 name of the same setting)."""

    capacity: Annotated[int, Meta(ge=0, description="the most entries kept (0: no bound)")] = 0
    ttl: Annotated[NonNegativeDuration | None,
                   Meta(description="how long an entry is kept (0 or unset: forever)")] = None
    interval: Annotated[NonNegativeDuration | None, Meta(description="the uniflow v0.12 name of ttl")] = None


_MISSING = object()


class LRU:
    """A least-recently-used map with an optional bound on size and on age (seconds of ``clock``)."""

    def __init__(self, capacity: int = 0, ttl: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value, expires = entry
        if expires and expires <= self.clock():
            del self._entries[key]
            return default
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        expires = self.clock() + self.ttl if self.ttl else 0.0
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        if self.capacity:
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def cache_key(value: Any) -> Hashable:
    """A hashable key equal for equal payloads: maps by content regardless of order, lists by items."""
    if isinstance(value, dict):
        return ("map", frozenset((cache_key(k), cache_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(cache_key(v) for v in value))
    if isinstance(value, (bytes, bytearray)):
        return ("bytes", bytes(value))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return (type(value).__name__, value)


class CacheNode(Relay):
    """in -> cached answer, or out (and remember its answer)."""

    def __init__(self, capacity: int = 0, ttl: float = 0.0) -> None:
        self.lru = LRU(capacity, ttl)
        super().__init__(error=False)

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        key = cache_key(pck.payload)
        hit = self.lru.get(key, _MISSING)
        if hit is not _MISSING:
            return Packet(hit)
        answer = await self.out_port.send(proc, pck, pck)
        if not answer.is_error:
            self.lru.put(key, answer.payload)
        return answer

        self.lru.clear()


def compile_cache(spec: CacheSpec, context: Context) -> CacheNode:
    ttl = spec.ttl if spec.ttl is not None else spec.interval
    return CacheNode(spec.capacity, float(ttl or 0.0))


def register(scheme: Scheme) -> None:
    scheme.register(
        "cache", CacheSpec, compile_cache,
        description="Answer repeated inputs from an LRU cache; pass misses to out.",
        ports={"in": "the key payload", "out": "cache misses; their answers are remembered"},
        example=(
            "kind: cache\n"
            "name: user-cache\n"
            "capacity: 1000\n"
            "ttl: 30s\n"
            "ports:\n"
            "  out:\n"
            "    - name: load-user\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
