"""The debugger: breakpoints on hops, the hops they hold, and the processes and frames around them.

A ``Debugger`` is one subscriber of a symbol table's hop observer, subscribed from ``attach()`` until
``close()``; with no debugger attached a hop costs what it did. A breakpoint names nothing (every hop), a
symbol (every hop into or out of it), or a symbol and one of its ports (an in-port: hops into it; an
out-port: hops out of it). A hop that matches waits, before its target runs, until it is resumed: only
that process (that branch of it) waits, every other process keeps flowing. Held hops queue in the order
they arrived; the first is the *current* one, the one ``frame`` shows and ``continue`` resumes. Deleting a
breakpoint, or closing the debugger, resumes what it holds. Processes and their frames are kept by the
system agent's model (``plugins.system.agent.Agent``), fed by this same subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .observe import Hop, Subscriber
from .packet import Packet
from .plugins.system.agent import Agent, frame_row, hop_frame
from .process import Process
from .symbol import Symbol, SymbolTable

__all__ = ["Debugger", "Breakpoint", "Pause", "port_names"]


def _same_port(a: str, b: str) -> bool:
    """``out`` and ``out[0]`` are one port."""
    return a.removesuffix("[0]") == b.removesuffix("[0]")


def port_names(sb: Symbol) -> list[str]:
    """The ports of a symbol one can break on: its node's in-ports, then the out-ports it declares or links."""
    node = sb.node
    if node is None:
        return []
    names = [*type(node).INPORTS, *type(node).OUTPORTS, *sb.spec.ports]
    return [n for n in dict.fromkeys(names) if node.inport(n) is not None or node.outport(n) is not None]


@dataclass(eq=False)
class Breakpoint:
    """Where hops stop: every hop (no symbol), a symbol's hops, or one port's (``side`` says in or out)."""

    id: int
    symbol_id: str | None = None
    symbol_name: str = ""
    port: str | None = None
    side: str | None = None  # "in" | "out" when ``port`` is set
    hits: int = 0

    def matches(self, hop: Hop, source_of: Callable[[Hop], Symbol | None]) -> bool:
        if self.symbol_id is None:
            return True
        into = hop.symbol is not None and hop.symbol.id == self.symbol_id
        if self.side != "out" and into and (self.port is None or _same_port(hop.target.name, self.port)):
            return True
        if self.side == "in":
            return False
        source = source_of(hop)
        return source is not None and source.id == self.symbol_id and (
            self.port is None or _same_port(hop.source.name, self.port))

    def row(self) -> dict[str, Any]:
        """uniflow's JSON of a breakpoint (id, symbol_id, port), with the symbol's name and the hits."""
        row: dict[str, Any] = {"id": self.id}
        if self.symbol_id is not None:
            row.update({"symbol_id": self.symbol_id, "symbol": self.symbol_name})
        if self.port is not None:
            row["port"] = self.port
        row["hits"] = self.hits
        return row


@dataclass(eq=False)
class Pause:
    """A hop held by a breakpoint until ``released`` is done."""

    hop: Hop
    breakpoint: Breakpoint
    #: The symbol whose out-port sent the hop (None when unknown).
    source: Symbol | None = None
    released: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def process(self) -> Process:
        return self.hop.process

    def where(self) -> str:
        """``listener out -> router in``: the hop, by symbol names and ports."""
        def name(sb: Symbol | None, node: Any) -> str:
            return sb.label if sb is not None else type(node).__name__

        hop = self.hop
        return (f"{name(self.source, hop.source.node)} {hop.source.name} -> "
                f"{name(hop.symbol, hop.target.node)} {hop.target.name}")


class Debugger(Subscriber):
    """Breakpoints and held hops over one symbol table; see the module docstring."""

    def __init__(self, table: SymbolTable) -> None:
        self.table = table
        self.agent = Agent()
        self.breakpoints: list[Breakpoint] = []
        #: Held hops, in the order they arrived; the first is the current one.
        self.paused: list[Pause] = []
        self.closed = False
        self._next_id = 1
        self._unsubscribe: Callable[[], None] | None = None
        self._changed = asyncio.Event()

    # -- lifetime -------------------------------------------------------------------------------------
    def attach(self) -> Debugger:
        if self._unsubscribe is None and not self.closed:
            self._unsubscribe = self.table.observer.subscribe(self)
        return self

    def close(self) -> None:
        """Resume every held hop, forget the breakpoints and unsubscribe."""
        self.closed = True
        self.breakpoints.clear()
        while self.paused:
            self.resume(self.paused[0])
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._changed.set()

    # -- the subscriber -------------------------------------------------------------------------------
    def process_started(self, proc: Process, packet: Packet | None = None) -> None:
        self.agent.process_started(proc)

    def process_exited(self, proc: Process) -> None:
        self.agent.process_exited(proc)

    def hop_ended(self, hop: Hop) -> None:
        self.agent.hop_ended(hop)

    def hop_started(self, hop: Hop) -> Awaitable[None] | None:
        self.agent.hop_started(hop)
        if not self.breakpoints:
            return None
        for bp in self.breakpoints:
            if bp.matches(hop, self._source_of):
                bp.hits += 1
                pause = Pause(hop, bp, self._source_of(hop))
                self.paused.append(pause)
                self._changed.set()
                return self._hold(pause)
        return None

    def _source_of(self, hop: Hop) -> Symbol | None:
        found: Symbol | None = self.table.observer.symbol_of(hop.source.node)
        return found

    async def _hold(self, pause: Pause) -> None:
        try:
            await pause.released
        finally:  # resumed, or the process was cancelled (its client went away) while held
            if pause in self.paused:
                self.paused.remove(pause)
                self._changed.set()

    # -- what is held -----------------------------------------------------------------------------
    @property
    def current(self) -> Pause | None:
        return self.paused[0] if self.paused else None

    def resume(self, pause: Pause | None = None) -> Pause | None:
        """Let a held hop (the current one by default) go on; returns it, or None when nothing is held."""
        pause = pause or self.current
        if pause is None:
            return None
        if pause in self.paused:
            self.paused.remove(pause)
        if not pause.released.done():
            pause.released.set_result(None)
        self._changed.set()
        return pause

    async def changed(self) -> None:
        """Wait until something is held, resumed or closed."""
        await self._changed.wait()
        self._changed.clear()

    def frame(self, pause: Pause | None = None) -> dict[str, Any] | None:
        """uniflow's JSON of the held hop's frame (the current one by default): the packet it carries."""
        pause = pause or self.current
        if pause is None:
            return None
        recorded = self.agent.frame_of(pause.hop) or hop_frame(pause.hop)
        return frame_row(pause.process.id, recorded)

    # -- breakpoints ----------------------------------------------------------------------------------
    def find_symbols(self, key: str) -> list[Symbol]:
        """The symbols whose id or name is ``key``."""
        return [sb for sb in self.table if key in (sb.id, sb.name)]

    def add(self, symbol: Symbol | None = None, port: str | None = None) -> tuple[Breakpoint, bool]:
        """A breakpoint on every hop, a symbol's hops, or one of its ports; (it, whether it is new)."""
        side = None
        if symbol is not None and port is not None:
            node = symbol.node
            if node is None:
                raise UserError(f"symbol {symbol.label!r} did not compile: it has no ports")
            if node.inport(port) is not None:
                side = "in"
            elif node.outport(port) is not None:
                side = "out"
            else:
                ports = ", ".join(port_names(symbol)) or "none"
                raise UserError(f"symbol {symbol.label!r} has no port {port!r} (its ports: {ports})")
        symbol_id = symbol.id if symbol is not None else None
        for bp in self.breakpoints:
            if bp.symbol_id == symbol_id and bp.side == side and (
                    bp.port == port or (bp.port is not None and port is not None and _same_port(bp.port, port))):
                return bp, False
        bp = Breakpoint(self._next_id, symbol_id, symbol.label if symbol is not None else "", port, side)
        self._next_id += 1
        self.breakpoints.append(bp)
        return bp, True

    def get(self, id: int) -> Breakpoint | None:
        return next((bp for bp in self.breakpoints if bp.id == id), None)

    def remove(self, bp: Breakpoint) -> None:
        """Delete a breakpoint and resume the hops it holds."""
        if bp in self.breakpoints:
            self.breakpoints.remove(bp)
        for pause in [p for p in self.paused if p.breakpoint is bp]:
            self.resume(pause)

    # -- processes --------------------------------------------------------------------------------
    def process(self, id: str) -> Process | None:
        return self.agent.processes.get(id)
