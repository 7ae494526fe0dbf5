"""Wiring mistakes: a spec's port that links to a name, id or in-port that does not exist.

One check, used by the symbol table when it links (``Symbol.warnings``, logged once) and by ``portflow
lint``, ``get`` and ``graph`` on documents that were only compiled: :func:`miswirings` looks at one symbol
with its compiled node and says, per connection, what is wrong and the closest name that does exist
(``suggest.did_you_mean``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .port import LIFECYCLE_PORTS
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .spec import PortRef
    from .symbol import Symbol

__all__ = ["Miswire", "Wires", "miswirings", "inport_names", "outport_names"]


@dataclass(frozen=True)
class Miswire:
    """One wrong connection: the field of the spec (``ports.out[0][1].port``) and what is wrong with it."""

    field: str
    message: str
    #: True when the connection's target does not exist (the symbol stays inactive), False when the
    #: connection is only ignored (a port the node or its target does not have).
    missing: bool = False
    #: The out-port and the index of the connection in it (-1: the whole out-port).
    out: str = ""
    index: int = -1

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def inport_names(node: object) -> list[str]:
    names = getattr(node, "inport_names", None)
    return list(names()) if callable(names) else []


def outport_names(node: object) -> list[str]:
    names = getattr(node, "outport_names", None)
    return list(names()) if callable(names) else []


def miswirings(sb: Symbol, resolve: Callable[[PortRef], Symbol | None], names: Iterable[str]) -> list[Miswire]:
    """What is wrong with ``sb``'s connections. ``resolve`` finds a reference's target in ``sb``'s namespace;
    ``names`` are the names there (for suggestions). Ports are checked only on the nodes there are (a
    symbol or target without one was not compiled: its error says why)."""
    names = list(names)
    found: list[Miswire] = []
    for out, refs in sb.spec.ports.items():
        if sb.node is not None and out not in LIFECYCLE_PORTS and sb.node.outport(out) is None:
            hint = did_you_mean(out, outport_names(sb.node))
            found.append(Miswire(f"ports.{out}", f"kind {sb.kind} has no out-port {out!r}{hint}; "
                                 "its connections are ignored", out=out))
            continue
        for i, ref in enumerate(refs):
            where = f"ports.{out}[{i}]"
            target = resolve(ref)
            if target is None:
                if ref.id:
                    text = f"no spec with id {ref.id!r} in namespace {sb.namespace!r}"
                    found.append(Miswire(f"{where}.id", f"{text}; inactive until it exists", True, out, i))
                elif ref.name:
                    text = f"no spec named {ref.name!r} in namespace {sb.namespace!r}"
                    hint = did_you_mean(ref.name, names)
                    found.append(Miswire(f"{where}.name", f"{text}{hint}; inactive until it exists", True, out, i))
                continue
            if target.node is not None and target.node.inport(ref.port) is None:
                hint = did_you_mean(ref.port, inport_names(target.node))
                found.append(Miswire(f"{where}.port", f"{target.describe()} has no in-port {ref.port!r}{hint}; "
                                     "the connection is ignored", False, out, i))
    return found


class Wires:
    """Symbols that were compiled but not linked (``lint``, ``get``, ``graph``), looked up as the symbol
    table does: by id, or by name within the referring symbol's namespace."""

    def __init__(self, symbols: Iterable[Symbol]) -> None:
        self.symbols = list(symbols)
        self._by_id = {sb.id: sb for sb in self.symbols if sb.id}
        self._by_name = {(sb.namespace, sb.name): sb for sb in self.symbols if sb.name}

    def resolve(self, namespace: str, ref: PortRef) -> Symbol | None:
        if ref.id:
            sb = self._by_id.get(ref.id)
            return sb if sb is not None and sb.namespace == namespace else None
        return self._by_name.get((namespace, ref.name)) if ref.name else None

    def names(self, namespace: str) -> list[str]:
        return [name for ns, name in self._by_name if ns == namespace]

    def miswirings(self, sb: Symbol) -> list[Miswire]:
        return miswirings(sb, lambda ref: self.resolve(sb.namespace, ref), self.names(sb.namespace))

    def referrers(self) -> dict[str, list[tuple[Symbol, str]]]:
        """Target id -> (referring symbol, its out-port) for every connection that resolves."""
        out: dict[str, list[tuple[Symbol, str]]] = {}
        for sb in self.symbols:
            for port, refs in sb.spec.ports.items():
                for ref in refs:
                    target = self.resolve(sb.namespace, ref)
                    if target is not None:
                        out.setdefault(target.id, []).append((sb, port))
        return out

    def inactive(self) -> dict[str, str]:
        """Symbol id -> why it cannot be active: its own error, a missing target, or (transitively) a target
        that cannot be active. A symbol not compiled for lack of its values (``env``) has no reason."""
        reasons: dict[str, str] = {}
        for sb in self.symbols:
            missing = [f"{port} -> {ref.name or ref.id}" for port, refs in sb.spec.ports.items()
                       if port not in LIFECYCLE_PORTS for ref in refs if self.resolve(sb.namespace, ref) is None]
            if sb.error:
                reasons[sb.id] = sb.error
            elif missing:
                reasons[sb.id] = "missing target " + ", ".join(missing)
        referrers = self.referrers()
        queue = list(reasons)
        while queue:
            id = queue.pop()
            target = self._by_id.get(id)
            for up, port in referrers.get(id, ()):
                if up.id not in reasons and port not in LIFECYCLE_PORTS:
                    label = repr(target.label) if target is not None else repr(id)
                    reasons[up.id] = f"{port} leads to {label}, which is inactive"
                    queue.append(up.id)
        return reasons
