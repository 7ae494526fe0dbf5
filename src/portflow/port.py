"""Ports: how packets move from one node to the next.

An ``OutPort`` is linked to any number of ``InPort``s. Sending on it is an awaited call of each linked
in-port's handler, which returns that reader's answer; with several links the answers are joined
(``packet.join``) in link order. There is no task and no queue per hop: a single link is one ``await``.

Per process and in-port, packets are handled in arrival order and every caller gets the answer to its
own packet, by construction. A node whose action is itself asynchronous serialises its calls per process
(see ``node.OneToOne``), so a slow packet never overtakes an earlier one.

While somebody observes the hops (``observe.Observer``, installed on the port by the symbol table),
``port.observer`` is set and the hop goes through it; otherwise observing costs one attribute check.
"""

from __future__ import annotations

import asyncio
import re
import time
import types
from collections.abc import Callable, Coroutine
from contextvars import Context, copy_context
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any

from .errors import FlowError
from .packet import NONE, Packet, failed_answer, join

if TYPE_CHECKING:
    from .observe import Observer
    from .process import Process

__all__ = [
    "InPort", "OutPort", "Frame", "Handler", "parse_port", "port_name", "gather_inline", "resume",
    "IN", "OUT", "ERROR", "IO", "INIT", "ACTIVE", "DEACTIVE", "DEINIT", "LIFECYCLE_PORTS",
    "LIFECYCLE_ALIASES",
]

#: An in-port's handler: an ``async`` function of the process and the packet, giving the answer.
Handler = Callable[["Process", Packet], Coroutine[Any, Any, Packet]]

IN, OUT, ERROR, IO = "in", "out", "error", "io"
INIT, ACTIVE, DEACTIVE, DEINIT = "init", "active", "deactive", "deinit"
#: Earlier uniflow releases named three lifecycle ports differently (``begin`` after the load hooks,
#: ``term`` before the unload hooks, ``final`` after them); specs written for them still fire.
LIFECYCLE_ALIASES = {"begin": ACTIVE, "term": DEACTIVE, "final": DEINIT}
LIFECYCLE_PORTS = frozenset({INIT, ACTIVE, DEACTIVE, DEINIT, *LIFECYCLE_ALIASES})

_PORT_RE = re.compile(r"^(\w+?)(?:\[(\d+)\])?$")


def parse_port(name: str) -> tuple[str, int | None]:
    """``'out[3]'`` -> ``('out', 3)``, ``'out'`` -> ``('out', None)``. Raises ValueError on other shapes."""
    match = _PORT_RE.match(name)
    if match is None:
        raise ValueError(f"invalid port name {name!r}: expected NAME or NAME[INDEX]")
    index = match.group(2)
    return match.group(1), (int(index) if index is not None else None)


def port_name(base: str, index: int) -> str:
    return f"{base}[{index}]"


@dataclass(slots=True)
class Frame:
    """One recorded hop (the testing plugin's record): ``port`` of ``node`` saw ``input`` and answered ``output``."""

    node: Any
    port: str
    input: Packet | None
    output: Packet | None = None
    start: float = field(default_factory=time.time)
    end: float | None = None


async def _unhandled(proc: Process, pck: Packet) -> Packet:
    return Packet(FlowError("in-port has no handler"))


class InPort:
    """A node's entry point. ``handler(process, packet)`` returns the answer packet."""

    __slots__ = ("name", "node", "handler")

    def __init__(self, name: str, node: Any = None, handler: Handler | None = None) -> None:
        self.name = name
        self.node = node
        self.handler: Handler = handler or _unhandled

    def __repr__(self) -> str:
        return f"<InPort {self.name} of {type(self.node).__name__}>"


class OutPort:
    """A node's exit. ``send`` delivers a packet to every linked in-port and returns the joined answer."""

    __slots__ = ("name", "node", "links", "observer")

    def __init__(self, name: str, node: Any = None) -> None:
        self.name = name
        self.node = node
        self.links: tuple[InPort, ...] = ()
        #: The observer of the table that linked this port, while it has subscribers (else None).
        self.observer: Observer | None = None

    def __repr__(self) -> str:
        return f"<OutPort {self.name} of {type(self.node).__name__} -> {len(self.links)} links>"

    def link(self, target: InPort) -> None:
        if target not in self.links:
            self.links = (*self.links, target)

    def unlink(self, target: InPort) -> None:
        self.links = tuple(t for t in self.links if t is not target)

    def replace(self, old: InPort, new: InPort | None) -> None:
        """Swap one link for another in place (one step, so no packet sees neither)."""
        if new is None or new in self.links:
            self.unlink(old)
        else:
            self.links = tuple(new if t is old else t for t in self.links)

    def unlink_all(self) -> None:
        self.links = ()

    def send(self, proc: Process, pck: Packet, fallback: Packet = NONE) -> Coroutine[Any, Any, Packet]:
        """Send ``pck`` in ``proc``: a coroutine giving the answer (``fallback`` when nothing is linked).

        With one link and nobody observing, it is the linked handler's own coroutine: a hop costs one
        coroutine, not two."""
        links = self.links
        if len(links) == 1 and self.observer is None:
            return links[0].handler(proc, pck)
        return self._send(proc, pck, fallback)

    async def _send(self, proc: Process, pck: Packet, fallback: Packet) -> Packet:
        links = self.links
        if not links:
            return fallback
        observer = self.observer
        if observer is not None:
            route = observer.untracked or observer.route(proc, pck)
            if route.hops or len(links) != 1:
                return await observer.send(self, proc, pck, route)
            timing = route.timing
            if timing:  # only counting subscribers (the metrics): timed here, no Hop object, no extra frame
                target = links[0]
                start = monotonic()
                try:
                    answer = await target.handler(proc, pck)
                except BaseException as exc:
                    for timed in timing:
                        timed(self, target, proc, pck, failed_answer(exc), monotonic() - start)
                    raise
                took = monotonic() - start
                for timed in timing:
                    timed(self, target, proc, pck, answer, took)
                return answer
        if len(links) == 1:
            return await links[0].handler(proc, pck)
        return join(await gather_inline([_call(t, proc, pck) for t in links]))


async def gather_inline(coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """``asyncio.gather(*coros)`` without a task per coroutine while none has to wait.

    Each coroutine starts in order, in a copy of the context (as gather's tasks do), and runs inline until
    it finishes or first suspends. The first one that suspends goes on in the calling task (so deadlines it
    set apply to it); the ones after it start then as tasks, as under gather. Errors and cancellation follow
    gather: the first error is raised (the others still run), and cancelling the caller cancels them all.
    N coroutines that never wait cost N inline calls.
    """
    results: list[Any] = [None] * len(coros)
    for i, coro in enumerate(coros):
        context = copy_context()
        try:
            waiting = context.run(coro.send, None)
        except StopIteration as stop:
            results[i] = stop.value
            continue
        except BaseException:
            for rest in coros[i + 1:]:
                asyncio.ensure_future(rest).add_done_callback(_retrieve)
            raise
        tasks = [asyncio.ensure_future(rest) for rest in coros[i + 1:]]
        try:
            results[i] = await resume(coro, waiting, context)
        except BaseException as exc:
            for task in tasks:
                if isinstance(exc, asyncio.CancelledError):
                    task.cancel()
                task.add_done_callback(_retrieve)
            raise
        if tasks:
            results[i + 1:] = await asyncio.gather(*tasks)
        return results
    return results


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned sibling's outcome as seen (gather does the same for its children)."""
    if not task.cancelled():
        task.exception()


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], waiting: Any, context: Context | None = None) -> Any:
    """Await the rest of ``coro``, which has already run up to its first suspension on ``waiting``, inside
    the calling task; each step in ``context`` when given (else in the task's own)."""
    send: Callable[[Any], Any] = coro.send
    throw: Callable[[BaseException], Any] = coro.throw
    if context is not None:
        def send(value: Any) -> Any:
            return context.run(coro.send, value)

        def throw(exc: BaseException) -> Any:
            return context.run(coro.throw, exc)
    while True:
        try:
            value = yield waiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - cancellation and errors go into the coroutine
            try:
                waiting = throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting = send(value)
        except StopIteration as stop:
            return stop.value


async def _call(target: InPort, proc: Process, pck: Packet) -> Packet:
    """Call one handler; a handler that raises (a bug) answers with the error instead of tearing down siblings."""
    try:
        return await target.handler(proc, pck)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - errors are data past this point
        return Packet(exc)
