"""Observing: the one way to watch packets move and processes come and go.

A symbol table owns an ``Observer`` and installs it on the out-ports it links, but only while somebody
subscribes: with no subscriber ``OutPort.send`` sees ``port.observer is None`` and costs nothing more.
A ``Subscriber`` (override what you need) is told, per hop from an out-port to one linked in-port,
``hop_started(hop)`` before the target runs and ``hop_ended(hop)`` after it answered (or was cancelled:
the answer is then a ``FlowError('cancelled')``); ``hop_started`` may
return an awaitable, and the hop waits for it (a debugger's breakpoint). ``hop_timed`` is the cheap form
for counting: plain values, and while no subscriber wants ``Hop`` objects, none is made.

A process is reported by ``process_started(proc, packet)`` before its first observed hop (``packet`` is
that hop's; None for an ancestor reported on the way) and by ``process_exited`` when it exits; processes
that never hop through an observed port are never seen, and a process is tracked at all only while a
subscriber overrides one of the two. ``process_started`` may return False: that subscriber then sees
nothing of the process, nor of the processes it starts (a trace sampled out costs it no hop). A listener
reports each HTTP request it answered by ``request_ended`` (method, status, seconds), so that counting
requests needs no process tracking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from time import monotonic
from typing import TYPE_CHECKING, Any

from .packet import Packet, failed_answer, join

if TYPE_CHECKING:
    from .port import InPort, OutPort
    from .process import Process

__all__ = ["Observer", "Subscriber", "Hop"]


class Hop:
    """One packet from ``source`` (an out-port) to ``target`` (the ``index``-th in-port linked to it).

    ``answer`` is None until the target answered (an exception it raised, as a packet); ``start`` and
    ``end`` are ``time.monotonic()`` readings; ``symbol`` is the symbol whose node owns the target
    in-port (None when unknown), looked up on first use only.
    """

    __slots__ = ("process", "source", "target", "index", "packet", "answer", "start", "end", "_symbol",
                 "_observer")

    def __init__(self, process: Process, source: OutPort, target: InPort, index: int, packet: Packet,
                 observer: Observer | None = None) -> None:
        self.process = process
        self.source = source
        self.target = target
        self.index = index
        self.packet = packet
        self.answer: Packet | None = None
        self.start = monotonic()
        self.end: float | None = None
        self._symbol: Any = _UNKNOWN
        self._observer = observer

    @property
    def symbol(self) -> Any:
        sb = self._symbol
        if sb is _UNKNOWN:
            observer = self._observer
            sb = self._symbol = observer.symbol_of(self.target.node) if observer is not None else None
        return sb

    @symbol.setter
    def symbol(self, value: Any) -> None:
        self._symbol = value

    def __repr__(self) -> str:
        return f"<Hop {self.source.name} -> {self.target.name} #{self.index}>"


_UNKNOWN = object()


class Subscriber:
    """Override what you need; every method does nothing by default."""

    def hop_started(self, hop: Hop) -> Awaitable[None] | None:
        return None

    def hop_ended(self, hop: Hop) -> None:
        return None

    def hop_timed(self, source: OutPort, target: InPort, proc: Process, packet: Packet, answer: Packet,
                  seconds: float) -> None:
        """The end of a hop as plain values, the cheap form for counting: while no subscriber overrides
        ``hop_started`` or ``hop_ended``, a hop makes no :class:`Hop` object at all."""
        return None

    def process_started(self, proc: Process, packet: Packet | None = None) -> bool | None:
        """Return False to see nothing of ``proc`` (nor of its children) from now on."""
        return None

    def process_exited(self, proc: Process) -> None:
        return None

    def request_ended(self, listener: Any, method: str, status: int, seconds: float, proc: Process | None) -> None:
        """``listener`` answered one HTTP request; ``proc`` (None when it was refused before its process
        started) has not exited yet."""
        return None


Installer = Callable[["Observer | None"], None]


class _Route:
    """Whom one process's hops are reported to: the subscribers that took the process (every subscriber,
    unless a ``process_started`` returned False), with only the methods each overrides."""

    __slots__ = ("observer", "epoch", "known", "subscribers", "starters", "starting", "ending", "timing", "exited",
                 "hops", "refused")

    def __init__(self, observer: Observer, epoch: object, subscribers: tuple[Subscriber, ...]) -> None:
        self.observer = observer
        self.epoch = epoch  # the observer's when decided: stale once its subscribers change
        self.known = observer.subscribers  # who was subscribed then
        self.subscribers = subscribers
        self.starters = tuple(s for s in subscribers if _overrides(s, "process_started"))
        self.starting: tuple[Callable[[Hop], Awaitable[None] | None], ...] = _overriding(subscribers, "hop_started")
        self.ending: tuple[Callable[[Hop], None], ...] = _overriding(subscribers, "hop_ended")
        self.timing: tuple[Callable[..., None], ...] = _overriding(subscribers, "hop_timed")
        self.exited: tuple[Callable[[Process], None], ...] = _overriding(subscribers, "process_exited")
        self.hops = bool(self.starting or self.ending)  # whether a Hop object is wanted
        self.refused: dict[Subscriber, _Route] = {}  # subscriber -> this route less it (``without``)

    def without(self, subscriber: Subscriber) -> _Route:
        """This route less ``subscriber`` (it refused a process), decided once per route."""
        route = self.refused.get(subscriber)
        if route is None:
            route = self.refused[subscriber] = self.observer.route_of(
                tuple(s for s in self.subscribers if s is not subscriber))
        return route


class Observer:
    """The hub a symbol table installs; ``subscribe(s)`` returns the function that unsubscribes ``s``."""

    def __init__(self) -> None:
        self.subscribers: tuple[Subscriber, ...] = ()
        self._epoch = object()  # a new one each time the subscribers change
        self._all = _Route(self, self._epoch, ())  # the route of a process all took (and of all, untracked)
        self._routes: dict[tuple[Subscriber, ...], _Route] = {}
        self._tracking = False  # whether a subscriber wants processes (process_started or process_exited)
        #: The route of every hop while no subscriber wants processes (no lookup per hop), else None.
        self.untracked: _Route | None = self._all
        #: The ``request_ended`` of each subscriber that overrides it (a listener calls them itself).
        self.requests_ended: tuple[Callable[..., None], ...] = ()
        self._installers: list[Installer] = []
        self._symbol_of: list[Callable[[Any], Any]] = []

    # -- who is watched -----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self.subscribers)

    def attach(self, install: Installer, symbol_of: Callable[[Any], Any]) -> None:
        """A table offers its out-ports: ``install(self)`` while subscribed, ``install(None)`` after."""
        self._installers.append(install)
        self._symbol_of.append(symbol_of)
        if self.active:
            install(self)

    def detach(self, install: Installer) -> None:
        """Forget a table that ``attach`` offered (it closed)."""
        for i, known in enumerate(self._installers):
            if known == install:
                del self._installers[i], self._symbol_of[i]
                return

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        was = self.active
        self._set((*self.subscribers, subscriber))
        if not was:
            self._install(self)

        def unsubscribe() -> None:
            self._set(tuple(s for s in self.subscribers if s is not subscriber))
            if not self.subscribers:
                self._install(None)

        return unsubscribe

    def _set(self, subscribers: tuple[Subscriber, ...]) -> None:
        self.subscribers = subscribers
        self._epoch = object()  # every process's route is re-decided at its next hop
        self._all = _Route(self, self._epoch, subscribers)
        self._routes = {subscribers: self._all}
        self._tracking = bool(self._all.starters or self._all.exited)
        self.untracked = None if self._tracking else self._all
        self.requests_ended = _overriding(subscribers, "request_ended")

    def _install(self, observer: Observer | None) -> None:
        for install in self._installers:
            install(observer)

    def symbol_of(self, node: Any) -> Any:
        for lookup in self._symbol_of:
            sb = lookup(node)
            if sb is not None:
                return sb
        return None

    # -- processes ----------------------------------------------------------------------------------
    def route_of(self, subscribers: tuple[Subscriber, ...]) -> _Route:
        """The route of a process that exactly ``subscribers`` took (one per set, until they change)."""
        route = self._routes.get(subscribers)
        if route is None:
            route = self._routes[subscribers] = _Route(self, self._epoch, subscribers)
        return route

    def _takes(self, subscriber: Subscriber, proc: Process, packet: Packet | None) -> bool:
        return subscriber not in self._all.starters or subscriber.process_started(proc, packet) is not False

    def _settle(self, proc: Process, route: _Route, had_exits: bool = False) -> _Route:
        proc.observed = route
        if route.exited and not had_exits:
            proc.on_exit(self._exited)
        return route

    def _start(self, proc: Process, packet: Packet | None, offered: _Route) -> _Route:
        """Report ``proc`` to the subscribers of ``offered`` (a current route); the route of its hops (those
        that took it)."""
        route = offered
        for starter in offered.starters:
            if starter.process_started(proc, packet) is False:
                route = route.refused.get(starter) or route.without(starter)
        proc.observed = route
        if route.exited:
            proc.on_exit(self._exited)
        return route

    def _current(self, proc: Process) -> _Route | None:
        """``proc``'s route now, or None when this observer never reported it. A route decided before the
        subscribers changed is re-decided: a new subscriber is offered the process, one that left dropped."""
        route: _Route | None = proc.observed
        if route is None or route.observer is not self:
            return None
        if route.epoch is self._epoch:
            return route
        kept = tuple(s for s in self.subscribers
                     if (s in route.subscribers if s in route.known else self._takes(s, proc, None)))
        return self._settle(proc, self._all if kept == self.subscribers else self.route_of(kept), bool(route.exited))

    def _track(self, proc: Process, packet: Packet) -> _Route:
        """Report ``proc`` (and its ancestors not seen yet, the oldest first); the route of its hops. A
        subscriber that refused a process is not offered its children."""
        parent = proc.parent
        if proc.observed is not None:  # reported before the subscribers changed, or by another observer
            current = self._current(proc)
            if current is not None:
                return current
        if parent is None:
            return self._start(proc, packet, self._all)
        chain: list[Process] = [proc]
        route = self._current(parent)
        while route is None and not parent.terminated:
            chain.append(parent)
            parent = parent.parent
            if parent is None:
                break
            route = self._current(parent)
        offered = route if route is not None else self._all
        for p in reversed(chain):
            offered = self._start(p, packet if p is proc else None, offered)
        return offered

    def _exited(self, proc: Process) -> None:
        route: _Route | None = proc.observed
        if route is None or route.observer is not self:
            return
        for exited in route.exited:
            if route.epoch is self._epoch or getattr(exited, "__self__", None) in self.subscribers:  # not one that left
                exited(proc)

    # -- hops ---------------------------------------------------------------------------------------
    def route(self, proc: Process, pck: Packet) -> _Route:
        """Whom a hop of ``proc`` is reported to (``proc`` is reported first when it is new)."""
        if not self._tracking:
            return self._all
        route: _Route | None = proc.observed
        if route is not None and route.epoch is self._epoch:
            return route
        if route is None and proc.parent is None:  # the common case: a trigger's new process
            return self._start(proc, pck, self._all)
        return self._track(proc, pck)

    async def send(self, port: OutPort, proc: Process, pck: Packet, route: _Route) -> Packet:
        """``port.send`` of a hop some subscriber wants as a ``Hop`` (or of several links): every hop
        reported, answers joined as usual. A one-link hop only counted is timed by the port itself."""
        links = port.links
        if len(links) == 1:  # the common case, inline: one coroutine frame fewer per hop
            target = links[0]
            hop = Hop(proc, port, target, 0, pck, self)
            for started in route.starting:
                held = started(hop)
                if held is not None:
                    await held
            try:
                answer = await target.handler(proc, pck)
            except BaseException as exc:
                hop.answer, hop.end = failed_answer(exc), monotonic()
                _ended(hop, route)
                raise
            hop.answer, hop.end = answer, monotonic()
            _ended(hop, route)
            return answer
        from .port import gather_inline  # port imports this module

        return join(await gather_inline([self._hop(Hop(proc, port, t, i, pck, self), route)
                                         for i, t in enumerate(links)]))

    async def _hop(self, hop: Hop, route: _Route) -> Packet:
        for started in route.starting:
            held = started(hop)
            if held is not None:
                await held
        try:
            answer = await hop.target.handler(hop.process, hop.packet)
        except asyncio.CancelledError as exc:  # subscribers still see the hop end (a span is closed, a count kept)
            hop.answer, hop.end = failed_answer(exc), monotonic()
            _ended(hop, route)
            raise
        except Exception as exc:  # noqa: BLE001 - as unobserved: the error is this link's answer, joined
            hop.answer, hop.end = Packet(exc), monotonic()
            _ended(hop, route)
            return hop.answer
        hop.answer, hop.end = answer, monotonic()
        _ended(hop, route)
        return answer


def _ended(hop: Hop, route: _Route) -> None:
    for ended in route.ending:
        ended(hop)
    if route.timing:
        took = hop.end - hop.start  # type: ignore[operator]
        for timed in route.timing:
            timed(hop.source, hop.target, hop.process, hop.packet, hop.answer, took)


def _overrides(subscriber: Subscriber, method: str) -> bool:
    return getattr(type(subscriber), method) is not getattr(Subscriber, method)


def _overriding(subscribers: Iterable[Subscriber], method: str) -> tuple[Any, ...]:
    """The bound ``method`` of each subscriber whose class overrides the do-nothing default."""
    return tuple(getattr(sub, method) for sub in subscribers if _overrides(sub, method))
