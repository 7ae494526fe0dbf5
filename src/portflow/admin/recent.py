"""What the browser view shows of a node's recent traffic: the last frames of the nodes a page has open and
the namespace's recent errors, from one subscriber of the runtime's hop observer.

``Recent`` subscribes only while somebody watches (``watch()`` returns the function that stops watching;
the view watches while a page follows its event stream), so with no page open a hop costs what it did.
While watched a hop costs one call and one lookup by its in-port; only a hop into a node a page opened
(``open(nodes)``, for ``OPENED`` seconds after the last ask) is kept, in a bounded ring (``FRAMES`` per
node), and an error answer in another (``ERRORS``). Payloads are kept as they are (a long text or body cut
to what a preview shows) and turned into text only when a page asks (``frames(node)``): ``PREVIEW``
characters, credential headers hidden, every secret the runtime bound (``logs.hide``) masked. An error is
listed once, at the node whose answer it first was (the nodes upstream pass the same error back). The
packets a link carried are not counted here: ``/metrics`` counts them per in-port already.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import PortflowError
from ..logs import scrub
from ..observe import Subscriber
from ..packet import Packet
from ..port import InPort, OutPort
from ..process import Process
from ..redact import hide_credentials

__all__ = ["Recent", "preview", "masked", "FRAMES", "ERRORS", "PREVIEW", "OPENED"]

#: Frames kept per node, errors kept for the namespace, characters of a payload's preview.
FRAMES = 20
ERRORS = 100
PREVIEW = 300
_SCRUBBED = 8000  # the part of a payload's text masked before it is cut to PREVIEW
_TEXTS = (str, bytes)
_UNSEEN = object()
#: Seconds a node's frames are kept after a page last asked for them.
OPENED = 30.0


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
        #: node label -> its last frames: (monotonic end, in-port, input payload, answer payload, seconds)
        self._frames: dict[str, deque[tuple[float, str, Any, Any, float]]] = {}
        #: (monotonic end, node, in-port, the error)
        self._errors: deque[tuple[float, str, str, BaseException]] = deque(maxlen=ERRORS)
        self._listed: deque[BaseException] = deque(maxlen=32)  # errors already listed (by identity)
        #: the nodes whose frames are kept -> when a page last asked (monotonic)
        self._opened: dict[str, float] = {}
        #: in-port -> its node's frames ring when the node is opened, else None
        self._rings: dict[Any, deque[tuple[float, str, Any, Any, float]] | None] = {}
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
                self._rings.clear()

        return stop

    def open(self, nodes: Iterable[str], only: bool = False) -> None:
        """Keep the frames of ``nodes`` (a page has them open) for the next ``OPENED`` seconds; ``only``:
        of these nodes alone."""
        now = time.monotonic()
        before = set(self._opened)
        opened = {} if only else {n: t for n, t in self._opened.items() if now - t < OPENED}
        opened.update(dict.fromkeys(nodes, now))
        self._opened = opened
        if set(opened) != before:
            self._rings.clear()  # which in-ports keep frames changed

    def follow(self, directory: str) -> dict[str, Any] | None:
        """A worker, at each report: watch while the supervisor's page does (``run.watched_nodes``) and give
        what the report carries (errors, the asked nodes' frames); None when nobody watches."""
        from .run import watched_nodes

        nodes = watched_nodes(directory)
        if nodes is None:
            self.unfollow()
            return None
        if self._following is None:
            self._following = self.watch()
        self.open(nodes[:20], only=True)
        return {"errors": self.errors(), "frames": {n: self.frames(n) for n in nodes[:20]}}

    def unfollow(self) -> None:
        if self._following is not None:
            self._following()
            self._following = None

    # -- hops ---------------------------------------------------------------------------------------
    def hop_timed(self, source: OutPort, target: InPort, proc: Process, packet: Packet, answer: Packet,
                  seconds: float) -> None:
        """One lookup for a node nobody opened; an error is listed (once, where it was first an answer).
        The counting form of a hop, so that watching makes no Hop object either."""
        ring: Any = self._rings.get(target, _UNSEEN)
        if ring is _UNSEEN:
            ring = self._ring(target)
        payload = answer.payload
        if ring is not None:
            ring.append((time.monotonic(), target.name, _kept(packet.payload), _kept(payload), seconds))
        if isinstance(payload, BaseException) and not any(e is payload for e in self._listed):
            self._listed.append(payload)
            sb = self._symbol(target)
            node = sb.label if sb is not None else getattr(target.node, "label", "?")
            self._errors.append((time.monotonic(), node, target.name, payload))

    def _symbol(self, target: InPort) -> Any:
        return self.runtime.table.observer.symbol_of(target.node)

    def _ring(self, target: InPort) -> deque[tuple[float, str, Any, Any, float]] | None:
        sb = self._symbol(target)
        node = sb.label if sb is not None else None
        ring = None
        if node in self._opened:
            ring = self._frames.get(node)
            if ring is None:
                ring = self._frames[node] = deque(maxlen=FRAMES)
        if len(self._rings) > 10000:  # nodes were replaced many times: forget the old in-ports
            self._rings.clear()
        self._rings[target] = ring
        return ring

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
