"""block: a private cluster of child specs, wired by their own ports, exposed through inbounds/outbounds."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any

from msgspec import Meta

from ...errors import FlowError, SpecError, UserError
from ...node import Node, port_lookup
from ...observe import Observer
from ...packet import Packet
from ...port import InPort, OutPort, parse_port
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import PortRef, Spec, new_id
from ...symbol import Hooks, Symbol, SymbolTable

__all__ = ["BlockSpec", "BlockNode", "compile_block", "compile_children", "find_child", "register"]

log = logging.getLogger("portflow.plugins.ctrl.block")

Binding = tuple[Symbol, str]  # (child symbol, port name on the child)


class BlockSpec(Spec, kw_only=True):
    """Compiles ``specs`` into a private cluster: children live in the namespace ``<namespace>/<name>``,
    are named ``$0, $1, ...`` unless named, and connect to each other through their own ``ports``
    (targets by ``$i``, name or id). ``inbounds`` maps the block's in-ports to children's in-ports and
    ``outbounds`` exposes children's out-ports as the block's. The children load (listeners listen,
    tests register) when the block loads, and unload with it."""

    specs: Annotated[list[dict[str, Any]], Meta(description="the child specs; they connect by their own ports")] = []
    inbounds: Annotated[dict[str, list[PortRef]], Meta(description="the block's in-port -> children's in-ports")] = {}
    outbounds: Annotated[dict[str, list[PortRef]],
                         Meta(description="the block's out-port -> children's out-ports")] = {}


class _Borrowed(Node):
    """A child node lent to the private table: the table loads and unloads it, the block closes it.

    Every other attribute reads through to the child (``listener.port``, ...); ``node`` is the child.
    """

    def __init__(self, node: Node) -> None:
        self.node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)

    @property
    def owner(self) -> Node:
        return self.node.owner

    def inport(self, name: str) -> InPort | None:
        return self.node.inport(name)

    def outport(self, name: str) -> OutPort | None:
        return self.node.outport(name)

    def inport_names(self) -> list[str]:
        return self.node.inport_names()

    def outport_names(self) -> list[str]:
        return self.node.outport_names()

    async def load(self) -> None:
        await self.node.load()

    async def unload(self) -> None:
        await self.node.unload()


class BlockNode(Node):
    """A cluster of child symbols behind the block's own ports.

    ``inbounds[port]`` lists the children's in-ports a packet on the block's in-port ``port`` goes to;
    ``outbounds[port]`` lists the children's out-ports whose packets leave on the block's ``port``.
    ``load()`` inserts the children into a private ``SymbolTable`` (linking them by their specs' ports and
    running their load hooks and ``hooks``) and fails when a child fails to load; ``unload()`` frees them;
    ``close()`` closes them.
    """

    def __init__(
        self,
        symbols: Sequence[Symbol],
        inbounds: Mapping[str, Iterable[Binding]] | None = None,
        outbounds: Mapping[str, Iterable[Binding]] | None = None,
        hooks: Hooks | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.symbols = list(symbols)
        self._hooks, self._observer = hooks, observer
        self.table = SymbolTable(hooks, observer)
        self.loaded = False
        self._inputs: dict[str, InPort] = {}
        self._outputs: dict[str, OutPort] = {}
        for name, targets in (inbounds or {}).items():
            bridge = OutPort(name, self)
            for sb, port in targets:
                target = sb.node.inport(port) if sb.node is not None else None
                if target is None:
                    log.warning("block: child %s has no in-port %r; inbound %r ignored", sb.label, port, name)
                    continue
                bridge.link(target)
            self._inputs[name] = InPort(name, self, _forward(bridge))
        for name, sources in (outbounds or {}).items():
            out = OutPort(name, self)
            bridge_in = InPort(name, self, _forward(out))
            for sb, port in sources:
                source = sb.node.outport(port) if sb.node is not None else None
                if source is None:
                    log.warning("block: child %s has no out-port %r; outbound %r ignored", sb.label, port, name)
                    continue
                source.link(bridge_in)
            self._outputs[name] = out

    def inport(self, name: str) -> InPort | None:
        return port_lookup(self._inputs, name)

    def outport(self, name: str) -> OutPort | None:
        return port_lookup(self._outputs, name)

    def inport_names(self) -> list[str]:
        return list(self._inputs)

    def outport_names(self) -> list[str]:
        return list(self._outputs)

    async def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        if self.table.closed:  # a table is closed with the unload it served; each load has its own
            self.table = SymbolTable(self._hooks, self._observer)
        await self.table.insert_many(
            Symbol(spec=sb.spec, node=_Borrowed(sb.node), doc=sb.doc) for sb in self.symbols if sb.node is not None
        )
        failed = [sb for sb in self.table if sb.error]
        if failed:
            raise FlowError("; ".join(f"{sb.describe()}: {sb.error}" for sb in failed))

    async def unload(self) -> None:
        if not self.loaded:
            return
        self.loaded = False
        await self.table.close()

    async def close(self) -> None:
        await self.unload()
        for sb in self.symbols:
            if sb.node is not None:
                await sb.node.close()
        for out in self._outputs.values():
            out.unlink_all()


def _forward(out: OutPort):
    async def forward(proc: Process, pck: Packet) -> Packet:
        return await out.send(proc, pck, pck)

    return forward


def compile_children(spec: Spec, context: Context, docs: Sequence[Any], *, keep_ports: bool) -> list[Symbol]:
    """Decode and compile the child specs of a block or step into symbols of their private namespace.

    A child gets the namespace ``<namespace>/<name or id>`` of its parent unless it names one, the name
    ``$i`` unless it has one, and a fresh id. Any problem raises ``SpecError`` naming ``specs[i]``.
    """
    namespace = f"{spec.namespace}/{spec.name or spec.id or spec.kind}"
    symbols: list[Symbol] = []
    names: set[str] = set()
    for i, raw in enumerate(docs):
        if not isinstance(raw, Mapping):
            raise SpecError(spec.subject, f"specs[{i}]: expected a mapping, got {type(raw).__name__}")
        doc = dict(raw)
        doc["namespace"] = doc.get("namespace") or namespace
        doc["name"] = doc.get("name") or f"${i}"
        doc["id"] = doc.get("id") or new_id()
        if not keep_ports:
            doc.pop("ports", None)
        if doc["name"] in names:
            raise SpecError(spec.subject, f"specs[{i}].name: {doc['name']!r} is used twice")
        names.add(doc["name"])
        try:
            child = context.scheme.decode(doc)
            node = context.scheme.compile(child, context)
        except UserError as exc:
            raise SpecError(spec.subject, f"specs[{i}]: {exc}") from None
        symbols.append(Symbol(spec=child, node=node, doc=doc))
    return symbols


def find_child(symbols: Sequence[Symbol], ref: PortRef) -> Symbol | None:
    """The child a reference names, by id or by name."""
    for sb in symbols:
        if (ref.id and ref.id == sb.id) or (ref.name and ref.name == sb.name):
            return sb
    return None


def _bindings(spec: Spec, symbols: Sequence[Symbol], field: str, ports: Mapping[str, list[PortRef]],
              inbound: bool) -> dict[str, list[Binding]]:
    out: dict[str, list[Binding]] = {}
    for name, refs in ports.items():
        try:
            parse_port(name)
        except ValueError as exc:
            raise SpecError(spec.subject, f"{field}.{name}: {exc}") from None
        for i, ref in enumerate(refs):
            where = f"{field}.{name}[{i}]"
            sb = find_child(symbols, ref)
            if sb is None:
                raise SpecError(spec.subject, f"{where}: no child spec with {_ref_text(ref)}")
            port = sb.node.inport(ref.port) if inbound else sb.node.outport(ref.port)  # type: ignore[union-attr]
            if port is None:
                side = "in-port" if inbound else "out-port"
                raise SpecError(spec.subject, f"{where}.port: {sb.describe()} has no {side} {ref.port!r}")
            out.setdefault(name, []).append((sb, ref.port))
    return out


def _ref_text(ref: PortRef) -> str:
    if ref.id:
        return f"id {ref.id!r}"
    if ref.name:
        return f"name {ref.name!r}"
    return "no name or id"


def compile_block(spec: BlockSpec, context: Context) -> BlockNode:
    symbols = compile_children(spec, context, spec.specs, keep_ports=True)
    inbounds = _bindings(spec, symbols, "inbounds", spec.inbounds, inbound=True)
    outbounds = _bindings(spec, symbols, "outbounds", spec.outbounds, inbound=False)
    return BlockNode(symbols, inbounds, outbounds, context.hooks, context.observer)


def register(scheme: Scheme) -> None:
    scheme.register(
        "block", BlockSpec, compile_block,
        description="A private cluster of child specs wired by their own ports, behind inbounds/outbounds.",
        ports={"<inbound>": "each key of `inbounds`: packets for the children's in-ports it lists",
               "<outbound>": "each key of `outbounds`: packets from the children's out-ports it lists"},
        example=(
            "kind: block\n"
            "name: greeter\n"
            "specs:\n"
            "  - kind: snippet\n"
            "    language: cel\n"
            "    code: \"'hello ' + self\"\n"
            "    ports:\n"
            "      out:\n"
            "        - name: $1\n"
            "          port: in\n"
            "  - kind: snippet\n"
            "    language: cel\n"
            "    code: self + '!'\n"
            "inbounds:\n"
            "  in:\n"
            "    - name: $0\n"
            "      port: in\n"
            "outbounds:\n"
            "  out:\n"
            "    - name: $1\n"
            "      port: out\n"
            "  error:\n"
            "    - name: $0\n"
            "      port: error\n"
            "    - name: $1\n"
            "      port: error\n"
        ),
        plugin="ctrl",
    )
