"""Observing: the one way to watch packets move and processes come and go.

A symbol table owns an ``Observer`` and installs it on the out-ports it links, but only while somebody
subscribes: with no subscriber ``OutPort.send`` sees ``port.observer is None`` and costs nothing more.
A ``Subscriber`` (override what you need) is told, per hop from an out-port to one linked in-port,
``hop_started(hop)`` before the target runs and ``hop_ended(hop)`` after it answered (or was cancelled:
the answer is then a ``FlowError('cancelled')``); ``hop_started`` may
return an awaitable, and the hop waits for it (a debugger's breakpoint). A process is reported by
``process_started`` before its first observed hop and by ``process_exited`` when it exits (processes
that never hop through an observed port are never seen, and cost nothing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import FlowError
from .packet import Packet, join

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
        self.start = time.monotonic()
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

    def process_started(self, proc: Process) -> None:
        return None

    def process_exited(self, proc: Process) -> None:
        return None


Installer = Callable[["Observer | None"], None]


class Observer:
    """The hub a symbol table installs; ``subscribe(s)`` returns the function that unsubscribes ``s``."""

    def __init__(self) -> None:
        self.subscribers: tuple[Subscriber, ...] = ()
        # Only the methods each subscriber overrides, in subscription order (decided when it subscribes).
        self._starting: tuple[Callable[[Hop], Awaitable[None] | None], ...] = ()
        self._ending: tuple[Callable[[Hop], None], ...] = ()
        self._proc_started: tuple[Callable[[Process], None], ...] = ()
        self._proc_exited: tuple[Callable[[Process], None], ...] = ()
        self._installers: list[Installer] = []
        self._symbol_of: list[Callable[[Any], Any]] = []
        self._seen: set[Process] = set()  # each leaves on its exit

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
        self._starting = _overriding(subscribers, "hop_started")
        self._ending = _overriding(subscribers, "hop_ended")
        self._proc_started = _overriding(subscribers, "process_started")
        self._proc_exited = _overriding(subscribers, "process_exited")

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
    def _track(self, proc: Process) -> None:
        if not (self._proc_started or self._proc_exited):
            return  # nobody asks about processes: none is tracked
        chain: list[Process] = []
        p: Process | None = proc
        while p is not None and p not in self._seen and not p.terminated:
            chain.append(p)
            p = p.parent
        for p in reversed(chain):  # the oldest ancestor first
            self._seen.add(p)
            p.on_exit(self._exited)
            for started in self._proc_started:
                started(p)

    def _exited(self, proc: Process) -> None:
        self._seen.discard(proc)
        for exited in self._proc_exited:
            exited(proc)

    # -- hops ---------------------------------------------------------------------------------------
    async def send(self, port: OutPort, proc: Process, pck: Packet) -> Packet:
        """``port.send`` while observed: every hop reported, answers joined as usual."""
        if proc not in self._seen:
            self._track(proc)
        links = port.links
        if len(links) == 1:  # the common case, inline: one coroutine frame fewer per hop
            hop = Hop(proc, port, links[0], 0, pck, self)
            for started in self._starting:
                held = started(hop)
                if held is not None:
                    await held
            ending = self._ending
            try:
                answer = await hop.target.handler(proc, pck)
            except BaseException as exc:
                hop.answer = Packet(FlowError("cancelled") if isinstance(exc, asyncio.CancelledError) else exc)
                hop.end = time.monotonic()
                for ended in ending:
                    ended(hop)
                raise
            hop.answer, hop.end = answer, time.monotonic()
            for ended in ending:
                ended(hop)
            return answer
        from .port import gather_inline  # port imports this module

        return join(await gather_inline([self._hop(Hop(proc, port, t, i, pck, self)) for i, t in enumerate(links)]))

    async def _hop(self, hop: Hop, raising: bool = False) -> Packet:
        for started in self._starting:
            held = started(hop)
            if held is not None:
                await held
        ending = self._ending  # those subscribed when the hop started see it end
        try:
            answer = await hop.target.handler(hop.process, hop.packet)
        except asyncio.CancelledError:  # subscribers still see the hop end (a span is closed, a count kept)
            hop.answer, hop.end = Packet(FlowError("cancelled")), time.monotonic()
            for ended in ending:
                ended(hop)
            raise
        except Exception as exc:
            hop.answer, hop.end = Packet(exc), time.monotonic()
            for ended in ending:
                ended(hop)
            if raising:
                raise
            return hop.answer
        hop.answer, hop.end = answer, time.monotonic()
        for ended in ending:
            ended(hop)
        return answer


def _overriding(subscribers: Iterable[Subscriber], method: str) -> tuple[Any, ...]:
    """The bound ``method`` of each subscriber whose class overrides the do-nothing default."""
    default = getattr(Subscriber, method)
    return tuple(getattr(sub, method) for sub in subscribers
                 if getattr(type(sub), method, default) is not default)
