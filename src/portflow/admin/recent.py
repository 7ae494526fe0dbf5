"""What the browser view shows of a node's recent traffic: its last frames, the namespace's recent errors
and the packets each link carried, from one subscriber of the runtime's hop observer.

``Recent`` subscribes only while somebody watches (``watch()`` returns the function that stops watching;
the view watches while a page follows its event stream), so with no page open a hop costs what it did.
While watched a hop costs one call: a few appends to bounded ring buffers (``FRAMES`` per node,
``ERRORS`` for the namespace) and one addition; payloads are kept as they are (a long text or body cut to
what a preview shows) and turned into text only
when a page asks (``frames(node)``), truncated to ``PREVIEW`` characters, credential headers hidden and
every secret the runtime bound (``logs.hide``) masked. An error is listed once, at the node whose answer
it first was (the nodes upstream pass the same error back).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import PortflowError
from ..logs import scrub
from ..observe import Hop, Subscriber
from ..redact import hide_credentials

__all__ = ["Recent", "preview", "masked", "FRAMES", "ERRORS", "PREVIEW"]

#: Frames kept per node, errors kept for the namespace, characters of a payload's preview.
FRAMES = 20
ERRORS = 100
PREVIEW = 300
_SCRUBBED = 8000  # the part of a payload's text masked before it is cut to PREVIEW
_TEXTS = (str, bytes)


def preview(payload: Any, limit: int = PREVIEW) -> str:
    """A payload as short masked text: JSON where it is JSON-able, credential headers hidden."""
    if isinstance(payload, PortflowError):
        text = str(payload) or type(payload).__name__
    elif isinstance(payload, BaseException):
        text = f"{type(payload).__name__}: {payload}"
    else:
        try:
            text = json.dumps(hide_credentials(payload), ensure_ascii=False, default=_plain)
        except (TypeError, ValueError):
            text = repr(payload)
    return masked(text, limit)


def masked(text: str, limit: int = PREVIEW) -> str:
    """``text`` with every secret the runtime bound masked, then cut to ``limit`` characters (so that a cut
    never leaves part of a secret)."""
    text = scrub(text[:_SCRUBBED])
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _kept(payload: Any) -> Any:
    """What a frame keeps of a payload: a long text or body cut to what a preview can show, so that the
    ring never holds large bodies (one type check for the common small payload)."""
    kind = type(payload)
    if kind is dict:
        body = payload.get("body")
        if type(body) in _TEXTS and len(body) > _SCRUBBED:
            return {**payload, "body": body[:_SCRUBBED]}
    elif kind in _TEXTS and len(payload) > _SCRUBBED:
        return payload[:_SCRUBBED]
    return payload


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class Recent(Subscriber):
    """Ring buffers of one runtime's recent traffic (see the module docstring)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.watchers = 0
        self._unsubscribe: Callable[[], None] | None = None
        #: node label -> its last frames: (time, in-port, input payload, answer payload, seconds)
        self._frames: dict[str, deque[tuple[float, str, Any, Any, float]]] = {}
        #: (time, node, in-port, the error)
        self._errors: deque[tuple[float, str, str, BaseException]] = deque(maxlen=ERRORS)
        self._listed: deque[BaseException] = deque(maxlen=32)  # errors already listed (by identity)
        self._links: dict[str, list[int]] = {}  # "from.out->to.in" -> [packets that crossed it]
        #: (out-port, in-port) -> (its node's frames, its link's counter, in-port name, node name)
        self._cells: dict[tuple[Any, Any], tuple[deque[tuple[float, str, Any, Any, float]], list[int], str, str]] = {}
        self._following: Callable[[], None] | None = None  # a worker watching for the supervisor

    # -- watching -----------------------------------------------------------------------------------
    def watch(self) -> Callable[[], None]:
        """Start watching (the first watcher subscribes); returns the function that stops."""
        self.watchers += 1
        if self._unsubscribe is None:
            self._unsubscribe = self.runtime.table.observer.subscribe(self)
        done = False

        def stop() -> None:
            nonlocal done
            if done:
                return
            done = True
            self.watchers -= 1
            if self.watchers == 0 and self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
                self._cells.clear()

        return stop

    def follow(self, directory: str) -> dict[str, Any] | None:
        """A worker, at each report: watch while the supervisor's page does (``run.watched_nodes``) and give
        what the report carries (errors, links, the asked nodes' frames); None when nobody watches."""
        from .run import watched_nodes

        nodes = watched_nodes(directory)
        if nodes is None:
            self.unfollow()
            return None
        if self._following is None:
            self._following = self.watch()
        return {"errors": self.errors(), "links": self.links, "frames": {n: self.frames(n) for n in nodes[:20]}}

    def unfollow(self) -> None:
        if self._following is not None:
            self._following()
            self._following = None

    # -- hops ---------------------------------------------------------------------------------------
    def hop_ended(self, hop: Hop) -> None:
        cells = self._cells.get((hop.source, hop.target))
        if cells is None:
            cells = self._cell(hop)
        cells[1][0] += 1
        answer = hop.answer.payload  # type: ignore[union-attr]  # set before a hop is reported ended
        given = hop.packet.payload
        if type(given) is dict:  # _kept, inlined for the common request payload: once per hop
            body: Any = given.get("body")
            if type(body) in _TEXTS and len(body) > _SCRUBBED:
                given = {**given, "body": body[:_SCRUBBED]}
        else:
            given = _kept(given)
        end = hop.end or hop.start
        cells[0].append((end, cells[2], given, answer if type(answer) is str and len(answer) <= _SCRUBBED
                         else _kept(answer), end - hop.start))
        if isinstance(answer, BaseException) and not any(e is answer for e in self._listed):
            self._listed.append(answer)
            self._errors.append((end, cells[3], cells[2], answer))

    def _cell(self, hop: Hop) -> tuple[deque[tuple[float, str, Any, Any, float]], list[int], str, str]:
        """The frames ring and link counter of a hop's (out-port, in-port), its port's and node's names."""
        node, link = self._name(hop)
        frames = self._frames.get(node)
        if frames is None:
            frames = self._frames[node] = deque(maxlen=FRAMES)
        count = self._links.get(link)
        if count is None:
            count = self._links[link] = [0]
        if len(self._cells) > 10000:  # nodes were replaced many times: forget the old ports
            self._cells.clear()
        cells = self._cells[(hop.source, hop.target)] = (frames, count, hop.target.name, node)
        return cells

    @property
    def links(self) -> dict[str, int]:
        """Link (``from.out->to.in``) -> packets that crossed it while watched."""
        return {link: count[0] for link, count in self._links.items()}

    def _name(self, hop: Hop) -> tuple[str, str]:
        observer = self.runtime.table.observer
        target = hop.symbol
        source = observer.symbol_of(hop.source.node)
        to = target.label if target is not None else getattr(hop.target.node, "label", "?")
        frm = source.label if source is not None else getattr(hop.source.node, "label", "?")
        return to, f"{frm}.{hop.source.name}->{to}.{hop.target.name}"

    # -- reading ------------------------------------------------------------------------------------
    def frames(self, node: str) -> list[dict[str, Any]]:
        """The node's last frames, newest first, as JSON (payloads as masked previews)."""
        wall = time.time() - time.monotonic()  # frames are stamped with the hop's monotonic end
        return [{"time": at + wall, "port": port, "input": preview(given), "output": preview(answer),
                 "error": isinstance(answer, BaseException), "seconds": took}
                for at, port, given, answer, took in reversed(self._frames.get(node, ()))]

    def errors(self, node: str | None = None, since: float = 0.0) -> list[dict[str, Any]]:
        """Recent errors (of ``node``, after ``since``), newest first: time, node, port, masked message."""
        wall = time.time() - time.monotonic()
        return [{"time": at + wall, "node": name, "port": port, "message": preview(exc, 500)}
                for at, name, port, exc in reversed(self._errors)
                if (node is None or name == node) and at + wall > since]
