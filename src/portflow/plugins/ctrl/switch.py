"""switch: route each packet to the port of the first condition that holds."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...node import OneToMany
from ...packet import Packet
from ...port import OUT, parse_port
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec
from ._support import compile_code, truthy

__all__ = ["SwitchSpec", "SwitchMatch", "SwitchNode", "compile_switch", "register"]


class SwitchMatch(msgspec.Struct, kw_only=True):
    """One case: when ``when`` holds, the packet goes to ``port`` (``out[N]``)."""

    when: Annotated[str, Meta(description="the condition, evaluated on the payload")]
    port: Annotated[str, Meta(description="where a match goes: out[N] (other ports are ignored, as in uniflow)")]


class SwitchSpec(Spec, kw_only=True):
    """Evaluates ``matches`` in order on each payload and sends the packet unchanged to the ``port``
    (``out[N]``) of the first ``when`` that holds. No match answers the input back; an evaluation error
    goes to ``error``. As in uniflow, a ``port`` that is not ``out[N]`` is ignored."""

    matches: Annotated[list[SwitchMatch], Meta(description="the cases, tried in order (required, as in uniflow)")]
    language: Annotated[str, Meta(description="the expression language (default: the runtime's, cel)")] = ""
    timeout: Annotated[NonNegativeDuration | None,
                       Meta(description="the longest one evaluation may run (0 or unset: no limit)")] = None


class SwitchNode(OneToMany):
    """in -> the first ``(condition, index)`` whose condition holds -> out[index]."""

    def __init__(self, matches: Sequence[tuple[Callable[[Any], Any], int]]) -> None:
        self.matches = list(matches)
        super().__init__()

    async def action(self, proc: Process, pck: Packet) -> list[Packet | None]:
        for condition, index in self.matches:
            result = condition(pck.payload)
            if inspect.isawaitable(result):
                result = await result
            if truthy(result):
                outs: list[Packet | None] = [None] * (index + 1)
                outs[index] = pck
                return outs
        return []


def _index(port: str) -> int | None:
    try:
        base, index = parse_port(port)
    except ValueError:
        return None
    return index if base == OUT and index is not None else None


def compile_switch(spec: SwitchSpec, context: Context) -> SwitchNode:
    matches = []
    for i, match in enumerate(spec.matches):
        index = _index(match.port)
        if index is None:
            continue
        program = compile_code(context, spec, field=f"matches[{i}].when", code=match.when,
                               language=spec.language or None, timeout=spec.timeout)
        matches.append((program, index))
    return SwitchNode(matches)


def register(scheme: Scheme) -> None:
    scheme.register(
        "switch", SwitchSpec, compile_switch,
        description="Route each packet to the port of the first matching condition.",
        ports={"in": "the packet to route", "out[N]": "packets whose first matching case names out[N]",
               "error": "evaluation errors"},
        example=(
            "kind: switch\n"
            "name: by-method\n"
            "matches:\n"
            "  - when: self.method == 'GET'\n"
            "    port: out[0]\n"
            "  - when: 'true'\n"
            "    port: out[1]\n"
        ),
        plugin="ctrl",
    )
