"""Nodes: the live objects a codec builds from a spec.

A node exposes ports by name (``inport`` / ``outport``), may run load/unload hooks when the symbol table
activates or deactivates it, and is closed when it is removed. Three bases carry uniflow's rules
(reference §5 and §7):

- ``OneToOne``: in -> action -> out, or error. An unconnected port answers with the packet written to it.
- ``OneToMany``: in -> action -> out[0..n] (created lazily; ``out`` is ``out[0]``). Answers are joined;
  a node that emits nothing answers with its input.
- ``ManyToOne``: in[0..n] -> action -> out. Per process, the action runs when every created input has a
  packet for the same row; a partial input is answered at once with itself.

An action returns a ``Packet`` (or a plain payload, which is wrapped), ``None`` to emit nothing, or
raises: an exception becomes an error packet routed to ``error`` (and upstream if that is unconnected).
Actions may be coroutine functions; those calls are serialised per process so packets are handled in
arrival order.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import Any, ClassVar, TypeVar

from .packet import Packet, join
from .port import ERROR, IN, OUT, Handler, InPort, OutPort, gather_inline, parse_port, port_name
from .process import Process

__all__ = ["Node", "Relay", "OneToOne", "OneToMany", "ManyToOne", "as_packet", "Action", "port_lookup"]

Action = Callable[[Process, Packet], Any]
T = TypeVar("T")


def port_lookup(table: Mapping[str, T], name: str) -> T | None:
    """``table[name]``, where ``NAME[0]`` and ``NAME`` are one port: each also finds the other."""
    found = table.get(name)
    if found is not None:
        return found
    if name.endswith("[0]"):
        return table.get(name[:-3])
    return table.get(f"{name}[0]") if "[" not in name else None


def as_packet(result: Any) -> Packet:
    return result if isinstance(result, Packet) else Packet(result)


class Node:
    """The base of every live node: ports by name, optional hooks, close.

    A node declares its fixed ports once, as tables of port name -> the attribute holding the port
    (``OUTPORTS = {OUT: "out_port", ERROR: "error_port"}``); ``inport``/``outport`` look names up there
    by ``port_lookup``'s rule (``out`` is ``out[0]``). A node that makes ports on demand (``out[N]``)
    overrides them instead.
    """

    INPORTS: ClassVar[Mapping[str, str]] = {}
    OUTPORTS: ClassVar[Mapping[str, str]] = {}

    @property
    def owner(self) -> Node:
        """The node whose ports these are: itself, or the node a wrapper lends (a block's children)."""
        return self

    def inport(self, name: str) -> InPort | None:
        attr = port_lookup(self.INPORTS, name)
        return getattr(self, attr) if attr is not None else None

    def outport(self, name: str) -> OutPort | None:
        attr = port_lookup(self.OUTPORTS, name)
        return getattr(self, attr) if attr is not None else None

    def inport_names(self) -> list[str]:
        """The names of the in-ports the node has (for did-you-mean messages); override with ``inport``."""
        return [name for name, attr in self.INPORTS.items() if getattr(self, attr, None) is not None]

    def outport_names(self) -> list[str]:
        """The names of the out-ports the node has; override with ``outport``."""
        return [name for name, attr in self.OUTPORTS.items() if getattr(self, attr, None) is not None]

    async def load(self) -> None:
        """Called when the node is activated (all its targets are present). Start listening here."""

    async def unload(self) -> None:
        """Called when the node is deactivated. Stop listening here."""

    async def close(self) -> None:
        """Release what the node holds (pools, files, sessions); no new packet will reach it.

        Do not unlink ports here: links belong to the symbol table, and a replaced node keeps its
        out-links so that packets already inside it finish their way downstream.
        """


class Relay(Node):
    """A node with one ``in`` port handled by ``receive``, an ``out`` port (also named ``out[0]``) and,
    unless ``error=False``, an ``error`` port. Subclasses implement ``receive``."""

    INPORTS = {IN: "in_port"}
    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    def __init__(self, *, error: bool = True) -> None:
        self.in_port = InPort(IN, self, self.receive)
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self) if error else None

    async def receive(self, proc: Process, pck: Packet) -> Packet:  # pragma: no cover - overridden
        raise NotImplementedError


class _ActionRunner:
    """Calls an action, wrapping results and mapping exceptions to error packets.

    A plain action may return a coroutine (it could not answer at once); it is awaited. A coroutine
    action is serialised per process: while one packet of a process is inside it, the next packets of
    that process wait their turn, in arrival order. Nothing is allocated when nobody waits.
    """

    def __init__(self, node: Node, action: Action) -> None:
        self.node = node
        self.action = action
        self.is_async = inspect.iscoroutinefunction(action)
        # process -> the futures of the packets waiting behind the one inside (None: nobody waits)
        self._busy: dict[Process, deque[asyncio.Future[None]] | None] = {}

    def start(self, proc: Process, pck: Packet) -> Any:
        """The result of a plain action that answers at once (an error as its packet), without a coroutine
        of its own; otherwise a coroutine giving the result (await it: ``type(result) is CoroutineType``)."""
        if self.is_async:
            return self(proc, pck)
        try:
            result = self.action(proc, pck)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - errors are data
            return Packet(exc)
        if type(result) is CoroutineType:
            return self._finish(result)
        return result

    @staticmethod
    async def _finish(result: Any) -> Any:
        try:
            return await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - errors are data
            return Packet(exc)

    async def __call__(self, proc: Process, pck: Packet) -> Any:
        if not self.is_async:
            result = self.start(proc, pck)
            return await result if type(result) is CoroutineType else result
        busy = self._busy
        if proc in busy:
            waiters = busy[proc]
            if waiters is None:
                waiters = busy[proc] = deque()
            turn = asyncio.get_running_loop().create_future()
            waiters.append(turn)
            try:
                await turn  # the packet ahead hands its turn over in release()
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release(proc)  # the turn was ours already: pass it on
                raise
        else:
            busy[proc] = None
        try:
            return await self.action(proc, pck)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            return Packet(exc)
        finally:
            self._release(proc)

    def _release(self, proc: Process) -> None:
        waiters = self._busy.get(proc)
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._busy.pop(proc, None)


class OneToOne(Relay):
    """in -> action -> out | error. Pass ``action`` or override ``action`` in a subclass."""

    error_port: OutPort

    def __init__(self, action: Action | None = None) -> None:
        super().__init__()
        self._run = _ActionRunner(self, action or self.action)

    def action(self, proc: Process, pck: Packet) -> Any:  # pragma: no cover - overridden
        return pck

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        result = self._run.start(proc, pck)
        if type(result) is CoroutineType:
            result = await result
        if result is None:
            return pck
        if not isinstance(result, Packet):
            result = Packet(result)
        port = self.error_port if isinstance(result.payload, BaseException) else self.out_port
        if not port.links:  # what ``send`` answers with nothing linked, without its coroutine
            return result
        return await port.send(proc, result, result)


class OneToMany(Node):
    """in -> action -> out[0..n] | error. The action returns one packet (or None) per out index."""

    def __init__(self, action: Action | None = None) -> None:
        self.in_port = InPort(IN, self, self._receive)
        self.out_ports: list[OutPort] = []
        self.error_port = OutPort(ERROR, self)
        self._run = _ActionRunner(self, action or self.action)

    INPORTS = {IN: "in_port"}

    def action(self, proc: Process, pck: Packet) -> Any:  # pragma: no cover - overridden
        return [pck]

    def outport(self, name: str) -> OutPort | None:
        if name == ERROR:
            return self.error_port
        try:
            base, index = parse_port(name)
        except ValueError:
            return None
        if base != OUT:
            return None
        return self.out(index or 0)

    def outport_names(self) -> list[str]:
        return [OUT, *(p.name for p in self.out_ports[1:]), ERROR]

    def out(self, index: int) -> OutPort:
        """``out[index]``, creating ``out[0..index]`` as needed."""
        while len(self.out_ports) <= index:
            self.out_ports.append(OutPort(port_name(OUT, len(self.out_ports)), self))
        return self.out_ports[index]

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        result = self._run.start(proc, pck)
        if type(result) is CoroutineType:
            result = await result
        if result is None:
            return pck
        if isinstance(result, Packet):
            if isinstance(result.payload, BaseException):
                return await self.error_port.send(proc, result, result)
            result = [result]
        ports = self.out_ports
        sends = []
        for i, out in enumerate(result):
            if out is None or i >= len(ports):
                continue
            out = as_packet(out)
            sends.append(ports[i].send(proc, out, out))
        if not sends:
            return pck
        if len(sends) == 1:
            return await sends[0]
        return join(await gather_inline(sends))



class ManyToOne(Node):
    """in[0..n] -> action -> out | error, one row at a time per process."""

    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    def __init__(self, action: Callable[[Process, list[Packet]], Any] | None = None) -> None:
        self.in_ports: list[InPort] = []
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self._action = action or self.action
        self.input(0)

    def action(self, proc: Process, inputs: list[Packet]) -> Any:  # pragma: no cover - overridden
        return join(inputs)

    def input(self, index: int) -> InPort:
        while len(self.in_ports) <= index:
            i = len(self.in_ports)
            self.in_ports.append(InPort(port_name(IN, i), self, self._receiver(i)))
        return self.in_ports[index]

    def inport(self, name: str) -> InPort | None:
        try:
            base, index = parse_port(name)
        except ValueError:
            return None
        return self.input(index or 0) if base == IN else None

    def inport_names(self) -> list[str]:
        return [IN, *(p.name for p in self.in_ports[1:])]

    def _receiver(self, index: int) -> Handler:
        async def receive(proc: Process, pck: Packet) -> Packet:
            return await self._receive(proc, index, pck)

        return receive

    async def _receive(self, proc: Process, index: int, pck: Packet) -> Packet:
        rows: list[deque[Packet]] = proc.local(self, list)
        while len(rows) < len(self.in_ports):
            rows.append(deque())
        rows[index].append(pck)
        if not all(rows):  # a row is complete once every input holds a packet
            return pck
        inputs = [row.popleft() for row in rows]
        try:
            result = self._action(proc, inputs)
            if type(result) is not Packet and inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # noqa: BLE001
            result = Packet(exc)
        if result is None:
            return pck
        result = as_packet(result)
        if isinstance(result.payload, BaseException):
            return await self.error_port.send(proc, result, result)
        return await self.out_port.send(proc, result, result)

