"""step: child specs run in sequence, each one's out feeding the next one's in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from msgspec import Meta

from ...port import ERROR, IN, OUT
from ...scheme import Context, Scheme
from ...spec import PortRef, Spec
from ...symbol import Hooks, Symbol
from .block import BlockNode, compile_children

__all__ = ["StepSpec", "StepNode", "compile_step", "register"]


class StepSpec(Spec, kw_only=True):
    """Compiles ``specs`` into a private cluster wired in sequence: the step's ``in`` feeds the first
    child, each child's ``out`` feeds the next child's ``in``, and the last child's ``out`` is the step's
    ``out``; every child's ``error`` is the step's ``error``. Children live in the namespace
    ``<namespace>/<name>``, are named ``$0, $1, ...`` unless named, and their own ``ports`` are ignored."""

    specs: Annotated[list[dict[str, Any]], Meta(description="the child specs, run in this order")] = []


class StepNode(BlockNode):
    """A ``BlockNode`` whose children are chained in order (their specs' ports are replaced)."""

    def __init__(self, symbols: Sequence[Symbol], hooks: Hooks | None = None) -> None:
        symbols = list(symbols)
        for current, following in zip(symbols, [*symbols[1:], None], strict=False):  # the second is one longer when empty
            ports = {OUT: [PortRef(port=IN, id=following.id)]} if following is not None else {}
            current.spec.ports = ports
            current.doc = {**current.doc, "ports": {k: [{"id": r.id, "port": r.port} for r in v]
                                                    for k, v in ports.items()}}
        inbounds = {IN: [(symbols[0], IN)]} if symbols and _has_in(symbols[0]) else {}
        outbounds: dict[str, list[tuple[Symbol, str]]] = {}
        if symbols and symbols[-1].node is not None and symbols[-1].node.outport(OUT) is not None:
            outbounds[OUT] = [(symbols[-1], OUT)]
        errors = [(sb, ERROR) for sb in symbols if sb.node is not None and sb.node.outport(ERROR) is not None]
        if errors:
            outbounds[ERROR] = errors
        super().__init__(symbols, inbounds, outbounds, hooks)


def _has_in(sb: Symbol) -> bool:
    return sb.node is not None and sb.node.inport(IN) is not None


def compile_step(spec: StepSpec, context: Context) -> StepNode:
    return StepNode(compile_children(spec, context, spec.specs, keep_ports=False), context.hooks)


def register(scheme: Scheme) -> None:
    scheme.register(
        "step", StepSpec, compile_step,
        description="Run child specs in sequence: in -> $0 -> $1 -> ... -> out.",
        ports={"in": "the first child's input", "out": "the last child's output",
               "error": "any child's error"},
        example=(
            "kind: step\n"
            "name: greet\n"
            "specs:\n"
            "  - kind: snippet\n"
            "    language: cel\n"
            "    code: \"'hello ' + self\"\n"
            "  - kind: snippet\n"
            "    language: cel\n"
            "    code: self + '!'\n"
        ),
        plugin="ctrl",
    )
