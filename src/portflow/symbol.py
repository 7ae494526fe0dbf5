"""Symbols and the symbol table: linking, activation, and load/unload in dependency order.

A ``Symbol`` is a spec together with its live node (``None`` when the kind is unknown or compiling
failed). The table links each symbol's out-ports to the in-ports its spec names, in any insertion order,
within one namespace only. A symbol is *active* when it has a node and every target reachable from it
exists with a node, and its load hooks succeeded. Loading runs downstream first (a listener starts only
after the nodes it feeds); unloading runs in the reverse order. Lifecycle ports (``init``, ``active``,
``deactive``, ``deinit``; and the older names ``begin``, ``term``, ``final`` for the last three) receive the
spec itself, as a map, in a fresh process.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .errors import FlowError
from .hooks import Hook, Hooks
from .hooks import call as _call
from .node import Node
from .observe import Observer
from .packet import Packet
from .port import ACTIVE, DEACTIVE, DEINIT, INIT, LIFECYCLE_ALIASES, LIFECYCLE_PORTS, OutPort
from .process import Process
from .spec import PortRef, Spec
from .wiring import miswirings

__all__ = ["Symbol", "SymbolTable", "Hooks", "Hook"]

log = logging.getLogger("portflow.symbol")

@dataclass(eq=False)
class Symbol:
    """A spec and its live node."""

    spec: Spec
    node: Node | None = None
    doc: dict[str, Any] = field(default_factory=dict)
    #: Why the symbol has no node or could not load, for ``get``/``start`` to show.
    error: str | None = None
    loaded: bool = False
    #: Wiring mistakes found when linking (a port the target lacks, a name that does not exist), each one
    #: line with a did-you-mean where one is close; ``get`` and readiness show them.
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def label(self) -> str:
        return self.spec.name or self.spec.id

    def describe(self) -> str:
        return f"spec {self.label!r} (kind {self.kind})"

    @property
    def fields(self) -> dict[str, str]:
        """The structured fields of a log line about this symbol (``extra=sb.fields``)."""
        return {"namespace": self.namespace, "spec": self.label, "kind": self.kind}

    def __repr__(self) -> str:
        return f"<Symbol {self.namespace}/{self.label} {self.kind}{' loaded' if self.loaded else ''}>"


_RefKey = tuple[str, str, str]  # ("id", namespace, id) or ("name", namespace, name)


def _ref_key(namespace: str, ref: PortRef) -> _RefKey | None:
    if ref.id:
        return ("id", namespace, ref.id)
    if ref.name:
        return ("name", namespace, ref.name)
    return None


class SymbolTable:
    """Symbols by id, linked by their specs' ports, loaded in dependency order.

    The table installs ``observer`` (its own, or one shared with an enclosing table) on every out-port
    it links while the observer has subscribers."""

    def __init__(self, hooks: Hooks | None = None, observer: Observer | None = None) -> None:
        self.hooks = hooks or Hooks()
        self.observer = observer if observer is not None else Observer()
        self._installed: Observer | None = None
        #: True once ``close`` ran: the table no longer offers its out-ports to the observer.
        self.closed = False
        self._by_node: dict[int, Symbol] = {}
        self._symbols: dict[str, Symbol] = {}
        self._names: dict[tuple[str, str], str] = {}
        # Reverse references: target key -> ids of the symbols whose ports point at it.
        self._referrers: dict[_RefKey, set[str]] = {}
        self.observer.attach(self._install, self.symbol_of)  # last: it may install at once

    # -- lookup -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._symbols)

    def __iter__(self) -> Iterator[Symbol]:
        return iter(list(self._symbols.values()))

    def get(self, id: str) -> Symbol | None:
        return self._symbols.get(id)

    def lookup(self, namespace: str, name: str) -> Symbol | None:
        id = self._names.get((namespace, name))
        return self._symbols.get(id) if id else None

    def resolve(self, namespace: str, ref: PortRef) -> Symbol | None:
        """The symbol a port reference points at, in ``namespace`` only."""
        if ref.id:
            sb = self._symbols.get(ref.id)
            return sb if sb is not None and sb.namespace == namespace else None
        if ref.name:
            return self.lookup(namespace, ref.name)
        return None

    def symbol_of(self, node: Any) -> Symbol | None:
        """The symbol whose node is ``node``."""
        return self._by_node.get(id(node))

    def fail(self, node: Any, error: BaseException) -> None:
        """A background task of ``node`` failed: its symbol is failed (not loaded, the error shown)."""
        sb = self.symbol_of(node)
        if sb is not None:
            sb.error = f"failed: {error}"
            sb.loaded = False
            log.error("%s: failed: %s", sb.describe(), error, extra=sb.fields)

    def _install(self, observer: Observer | None) -> None:
        self._installed = observer
        for sb in self._symbols.values():
            if sb.node is None:
                continue
            for out in sb.spec.ports:
                port = sb.node.outport(out)
                if port is not None:
                    port.observer = observer

    def targets(self, sb: Symbol) -> Iterable[tuple[str, PortRef, Symbol | None]]:
        """(out-port, reference, target or None) for every non-lifecycle connection of ``sb``."""
        for out, refs in sb.spec.ports.items():
            if out in LIFECYCLE_PORTS:
                continue
            for ref in refs:
                yield out, ref, self.resolve(sb.namespace, ref)

    def referrers(self, sb: Symbol) -> list[Symbol]:
        """The symbols whose ports point at ``sb``."""
        ids: set[str] = set()
        for key in (("id", sb.namespace, sb.id), ("name", sb.namespace, sb.name)):
            ids |= self._referrers.get(key, set())
        out = []
        for id in ids:
            other = self._symbols.get(id)
            if other is not None and any(t is sb for _, _, t in self.targets(other)):
                out.append(other)
        return out

    # -- activation -----------------------------------------------------------------------------
    def _broken(self) -> set[str]:
        """Ids of symbols that cannot be active: no node, a failed load, a missing target, or
        (transitively) a target that cannot be active."""
        broken: set[str] = set()
        queue: deque[Symbol] = deque()
        for sb in self._symbols.values():
            if sb.node is None or (sb.error is not None) or any(t is None or t.node is None
                                                                for _, _, t in self.targets(sb)):
                broken.add(sb.id)
                queue.append(sb)
        while queue:
            sb = queue.popleft()
            for up in self.referrers(sb):
                if up.id not in broken:
                    broken.add(up.id)
                    queue.append(up)
        return broken

    def is_active(self, sb: Symbol) -> bool:
        return sb.id in self._symbols and sb.id not in self._broken()

    def _upstream(self, seeds: Iterable[Symbol]) -> list[Symbol]:
        """``seeds`` and every symbol that points at them, transitively, downstream first (Kahn order)."""
        found: dict[str, Symbol] = {}
        queue = deque(seeds)
        while queue:
            sb = queue.popleft()
            if sb.id in found:
                continue
            found[sb.id] = sb
            queue.extend(self.referrers(sb))
        # Order: a symbol comes after every found symbol it points at (its targets load first).
        pending = {id: {t.id for _, _, t in self.targets(sb) if t is not None and t.id in found and t.id != id}
                   for id, sb in found.items()}
        order: list[Symbol] = []
        ready = deque(id for id, deps in pending.items() if not deps)
        done: set[str] = set()
        while ready:
            id = ready.popleft()
            if id in done:
                continue
            done.add(id)
            order.append(found[id])
            for up in self.referrers(found[id]):
                if up.id in pending and up.id not in done:
                    pending[up.id].discard(id)
                    if not pending[up.id]:
                        ready.append(up.id)
        order.extend(sb for id, sb in found.items() if id not in done)  # cycles: any order
        return order

    # -- linking --------------------------------------------------------------------------------
    def _connect(self, src: Symbol, out_name: str, dst: Symbol, in_name: str, link: bool = True) -> None:
        if src.node is None or dst.node is None:
            return
        out = src.node.outport(out_name)
        inp = dst.node.inport(in_name)
        if out is None or inp is None:
            return  # a wiring mistake: ``_check_wiring`` reports it once, with a did-you-mean
        if link:
            out.link(inp)
            out.observer = self._installed
        else:
            out.unlink(inp)

    def _link(self, sb: Symbol, link: bool = True) -> None:
        for out, ref, target in self.targets(sb):
            if target is not None and target is not sb:
                self._connect(sb, out, target, ref.port, link)
            elif target is sb:
                self._connect(sb, out, sb, ref.port, link)
        for up in self.referrers(sb):
            if up is sb:
                continue
            for out, ref, target in self.targets(up):
                if target is sb:
                    self._connect(up, out, sb, ref.port, link)

    # -- insert / free --------------------------------------------------------------------------
    async def insert(self, *symbols: Symbol) -> None:
        """Add (or replace, by id) symbols, link them, and load everything that became active."""
        await self.insert_many(symbols)

    async def insert_many(self, symbols: Iterable[Symbol]) -> None:
        """Add symbols; a symbol whose id is already present replaces the old one.

        Replacing deactivates the old symbol and its dependents (upstream last to first) and activates
        the new one and its dependents again (downstream first), as uniflow does. The links from the
        dependents are swapped to the new node in place, in one step, and the old node keeps its own
        out-links: a packet already inside the old node finishes on it, and a packet sent after the swap
        reaches the new one, so no packet meets a port with nothing behind it.
        """
        symbols = list(symbols)
        olds = [self._symbols[s.id] for s in symbols if s.id in self._symbols]
        previous = {old.id: old.warnings for old in olds}
        for sb in symbols:  # a new id that takes a name another symbol holds: that one goes first
            if sb.name:
                clash = self.lookup(sb.namespace, sb.name)
                if clash is not None and clash.id != sb.id:
                    await self.free(clash.id)
        if olds:
            for sb in reversed(self._upstream(olds)):
                await self._unload(sb)
        # Who points at each old symbol, and through which ports, before the bookkeeping changes.
        inbound = {old.id: [(up, out, ref) for up in self.referrers(old) if up.id not in {o.id for o in olds}
                            for out, ref, target in self.targets(up) if target is old] for old in olds}
        for old in olds:
            self._forget(old)
        for sb in symbols:
            self._remember(sb)
        for sb in symbols:
            self._link_out(sb)
        by_id = {sb.id: sb for sb in symbols}
        for old in olds:
            new = by_id[old.id]
            for up, out_name, ref in inbound[old.id]:
                self._swap(up, out_name, ref, old, new)
        for sb in symbols:  # referrers inserted before this symbol existed, or in this same batch
            for up in self.referrers(sb):
                for out_name, ref, target in self.targets(up):
                    if target is sb:
                        self._connect(up, out_name, sb, ref.port)
        for old in olds:
            await self._close_node(old)
        for sb in symbols:  # a replaced symbol's warnings were logged already: only new ones are
            if sb.id in previous and not sb.warnings:
                sb.warnings = previous[sb.id]
        self._check_wiring({s.id: s for sb in symbols for s in (sb, *self.referrers(sb))}.values())
        await self._load_all(self._upstream(symbols))

    def _remember(self, sb: Symbol) -> None:
        self._symbols[sb.id] = sb
        if sb.node is not None:
            self._by_node[id(sb.node.owner)] = sb
        if sb.name:
            self._names[(sb.namespace, sb.name)] = sb.id
        for _, ref, _ in self.targets(sb):
            key = _ref_key(sb.namespace, ref)
            if key is not None:
                self._referrers.setdefault(key, set()).add(sb.id)

    def _forget(self, sb: Symbol) -> None:
        if self._symbols.get(sb.id) is sb:
            del self._symbols[sb.id]
        if sb.node is not None and self._by_node.get(id(sb.node.owner)) is sb:
            del self._by_node[id(sb.node.owner)]
        if sb.name and self._names.get((sb.namespace, sb.name)) == sb.id:
            del self._names[(sb.namespace, sb.name)]
        for _out, refs in sb.spec.ports.items():
            for ref in refs:
                key = _ref_key(sb.namespace, ref)
                if key is not None and key in self._referrers:
                    self._referrers[key].discard(sb.id)
                    if not self._referrers[key]:
                        del self._referrers[key]

    def _link_out(self, sb: Symbol) -> None:
        for out, ref, target in self.targets(sb):
            if target is not None:
                self._connect(sb, out, target, ref.port)

    def _swap(self, up: Symbol, out_name: str, ref: PortRef, old: Symbol, new: Symbol) -> None:
        """Point ``up``'s link at ``new`` instead of ``old`` in one step (or drop it if ``new`` can't take it)."""
        if up.node is None or old.node is None:
            return
        out = up.node.outport(out_name)
        old_in = old.node.inport(ref.port)
        if out is None or old_in is None:
            return
        still_targets = self.resolve(up.namespace, ref) is new
        new_in = new.node.inport(ref.port) if (new.node is not None and still_targets) else None
        out.replace(old_in, new_in)

    async def _close_node(self, sb: Symbol) -> None:
        if sb.node is not None:
            try:
                await sb.node.close()
            except Exception:
                log.exception("%s: close failed", sb.describe(), extra=sb.fields)

    async def _load_all(self, order: list[Symbol]) -> None:
        broken = self._broken()
        for sb in order:
            if sb.loaded or sb.id in broken or sb.id not in self._symbols:
                continue
            # A target that failed to load since ``broken`` was computed keeps this one inactive too.
            if any(t is not None and t.error is not None for _, _, t in self.targets(sb)):
                continue
            try:
                await self._lifecycle(sb, INIT)
                await sb.node.load()  # type: ignore[union-attr]
                for hook in self.hooks.load:
                    await _call(hook, sb)
                await self._lifecycle(sb, ACTIVE)
                sb.loaded = True
            except Exception as exc:
                sb.error = f"load failed: {exc}"
                log.error("%s: load failed: %s", sb.describe(), exc, exc_info=not isinstance(exc, FlowError),
                          extra=sb.fields)
                try:
                    await sb.node.unload()  # type: ignore[union-attr]
                except Exception:
                    log.debug("%s: unload after failed load also failed", sb.describe(), exc_info=True)

    async def _unload(self, sb: Symbol) -> None:
        if not sb.loaded:
            return
        sb.loaded = False
        for step in ("deactive", "hooks", "node", "deinit"):
            try:
                if step == "deactive":
                    await self._lifecycle(sb, DEACTIVE)
                elif step == "hooks":
                    for hook in self.hooks.unload:
                        await _call(hook, sb)
                elif step == "node":
                    await sb.node.unload()  # type: ignore[union-attr]
                else:
                    await self._lifecycle(sb, DEINIT)
            except Exception as exc:
                log.error("%s: unload (%s) failed: %s", sb.describe(), step, exc,
                          exc_info=not isinstance(exc, FlowError), extra=sb.fields)

    async def free(self, *ids: str) -> int:
        """Remove symbols by id: unload them and their dependents (upstream last to first), unlink, close."""
        victims = [self._symbols[id] for id in ids if id in self._symbols]
        if not victims:
            return 0
        for sb in reversed(self._upstream(victims)):
            await self._unload(sb)
        gone = {sb.id for sb in victims}
        referrers = {up.id: up for sb in victims for up in self.referrers(sb) if up.id not in gone}
        for sb in victims:
            self._link(sb, link=False)
            self._forget(sb)
            await self._close_node(sb)
        self._check_wiring(referrers.values())
        return len(victims)

    def _check_wiring(self, symbols: Iterable[Symbol]) -> None:
        """Recompute each symbol's ``warnings`` (see ``wiring``); log each new one once, at warning."""
        names: dict[str, list[str]] = {}
        for ns, name in self._names:
            names.setdefault(ns, []).append(name)
        for sb in symbols:
            if self._symbols.get(sb.id) is not sb:
                continue
            found = [f"{sb.describe()}: {m}"
                     for m in miswirings(sb, functools.partial(self.resolve, sb.namespace), names.get(sb.namespace, ()))]
            for line in found:
                if line not in sb.warnings:
                    log.warning("%s", line)
            sb.warnings = found

    async def close(self) -> None:
        """Free every symbol, sources first, and stop offering out-ports to the observer."""
        self.closed = True
        self.observer.detach(self._install)
        if not self._symbols:
            return
        order = list(reversed(self._upstream(list(self._symbols.values()))))
        for sb in order:
            await self._unload(sb)
        await self.free(*[sb.id for sb in order])

    # -- lifecycle ports ------------------------------------------------------------------------
    async def _lifecycle(self, sb: Symbol, port: str) -> None:
        refs = list(sb.spec.ports.get(port, ()))
        for old, new in LIFECYCLE_ALIASES.items():
            if new == port:
                refs.extend(sb.spec.ports.get(old, ()))
        if not refs:
            return
        out = OutPort(port, sb.node)
        out.observer = self._installed
        for ref in refs:
            target = self.resolve(sb.namespace, ref)
            if target is not None and target.node is not None:
                inp = target.node.inport(ref.port)
                if inp is not None:
                    out.link(inp)
        if not out.links:
            return
        proc = Process()
        try:
            answer = await out.send(proc, Packet(msgspec.to_builtins(sb.doc or sb.spec)))
        finally:
            await proc.exit()
        if isinstance(answer.payload, BaseException):
            raise FlowError(f"{port} port: {answer.payload}")
