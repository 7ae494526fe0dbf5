"""watch: answer an HTTP request with the store's change events, as server-sent events, until the client leaves.

Where ``signal`` feeds every change into the flow, ``watch`` hands the changes to one HTTP client. Its
input is the request payload a listener produced: ``?namespace=``, ``?name=`` and ``?id=`` narrow the
events (a repeated parameter means any of its values), and a ``Last-Event-ID`` header (the ``id:`` of
the last event the client saw) replays every change after it, so a client that reconnects misses
nothing. The output is a streaming response::

    {status: 200,
     header: {Content-Type: text/event-stream, Cache-Control: no-cache, X-Accel-Buffering: no},
     body: <an async iterator of bytes>}

The body starts with a comment line (so the client sees the response at once), then one event per
change, in the store's order, and a comment every ``heartbeat`` while nothing changes::

    id: 42
    data: {"op":"insert","id":"0193...","namespace":"default","name":"ping"}

The watch is opened when the node answers, before the response is sent, so a client that has seen the
headers sees every later change. It is closed when the request's process ends, which the listener does
when the client goes away. Streaming needs a listener that writes a ``body`` that is an async iterator
chunk by chunk (``net`` plugin); see ``docs/system.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec
from .signal import event_payload
from .syscall import store_of

__all__ = ["WatchSpec", "Watch", "EventStream", "compile_watch", "register", "request_filter"]

HEADERS = {"Content-Type": ["text/event-stream; charset=utf-8"], "Cache-Control": ["no-cache"],
           "X-Accel-Buffering": ["no"]}


class WatchSpec(Spec, kw_only=True):
    """Answers an HTTP request with the changes to the store's ``specs`` or ``values`` as server-sent
    events, until the client leaves. ``?namespace=``, ``?name=``, ``?id=`` filter; ``Last-Event-ID``
    resumes; a comment every ``heartbeat`` keeps idle connections open."""

    topic: Annotated[Literal["specs", "values"], Meta(description="the store collection to watch")]
    heartbeat: Annotated[NonNegativeDuration, Meta(description="a comment this often while idle (0: none)")] = \
        NonNegativeDuration(15.0)


def _values(query: Any, key: str) -> list[str]:
    raw = query.get(key) if isinstance(query, dict) else None
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    return [str(v) for v in items if v not in (None, "")]


def request_filter(payload: Any) -> tuple[dict[str, Any], int | None]:
    """The watch filter (``{namespace, name, id}`` from the query) and the seq to resume after."""
    if not isinstance(payload, dict):
        return {}, None
    query = payload.get("query") or {}
    flt: dict[str, Any] = {}
    for key in ("id", "namespace", "name"):
        values = _values(query, key)
        if values:
            flt[key] = values[0] if len(values) == 1 else values
    since = None
    header = payload.get("header")
    if isinstance(header, dict):
        for key, value in header.items():
            if isinstance(key, str) and key.lower() == "last-event-id":
                text = value[0] if isinstance(value, list) and value else value
                if isinstance(text, str) and text.strip().isdigit():
                    since = int(text.strip())
    return flt, since


class EventStream:
    """An async iterator of server-sent-event chunks over one store watch. Closing it ends the watch."""

    def __init__(self, collection: Any, filter: dict[str, Any] | None = None, *, since: int | None = None,
                 heartbeat: float = 15.0, topic: str = "") -> None:
        self._watch = collection.watch(filter or {}, since=since)  # opened now: nothing after this is missed
        self._heartbeat = heartbeat if heartbeat and heartbeat > 0 else None
        self._greeting: bytes | None = f": watching {topic or collection.name}\n\n".encode()
        self._closed = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        if self._greeting is not None:
            greeting, self._greeting = self._greeting, None
            return greeting
        if self._closed:
            raise StopAsyncIteration
        try:
            async with asyncio.timeout(self._heartbeat):
                event = await self._watch.__anext__()
        except TimeoutError:
            return b": keep-alive\n\n"
        data = json.dumps(event_payload(event), separators=(",", ":"), ensure_ascii=False)
        return f"id: {event.seq}\ndata: {data}\n\n".encode()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                await self._watch.aclose()


class Watch(OneToOne):
    """in (an HTTP request) -> a streaming response of change events. Built from a store collection."""

    def __init__(self, collection: Any, *, heartbeat: float = 15.0) -> None:
        self.collection = collection
        self.heartbeat = heartbeat
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Packet:
        flt, since = request_filter(pck.payload)
        stream = EventStream(self.collection, flt, since=since, heartbeat=self.heartbeat)
        proc.on_exit(lambda _: stream.aclose())
        return Packet({"status": 200, "header": {k: list(v) for k, v in HEADERS.items()}, "body": stream})


def compile_watch(spec: WatchSpec, context: Context) -> Watch:
    store = store_of(context, spec)
    return Watch(store.specs if spec.topic == "specs" else store.values, heartbeat=float(spec.heartbeat))


EXAMPLE = """\
- kind: watch
  name: watch-specs
  topic: specs
  heartbeat: 15s
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "watch", WatchSpec, compile_watch,
        description="Answer an HTTP request with the store's change events as server-sent events.",
        ports={"in": "an HTTP request: ?namespace=, ?name=, ?id= filter; Last-Event-ID resumes",
               "out": "a streaming response: text/event-stream, body an async iterator of bytes",
               "error": "a filter or resume point the store refuses"},
        example=EXAMPLE, plugin="system",
    )
