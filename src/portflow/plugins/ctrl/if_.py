"""if: route each packet to out[0] when a condition holds, to out[1] when it does not."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from msgspec import Meta

from ...node import OneToMany
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec
from ._support import compile_code, truthy

__all__ = ["IfSpec", "IfNode", "compile_if", "register"]


class IfSpec(Spec, kw_only=True):
    """Evaluates ``when`` on each payload: truthy sends the packet unchanged to ``out[0]``, falsy to
    ``out[1]``. Falsy is the zero value: false, 0, "", null and empty collections. A branch port that is
    not connected answers the input back; an evaluation error goes to ``error``."""

    when: Annotated[str, Meta(description="the condition, evaluated on each payload")]
    language: Annotated[str, Meta(description="the expression language (default: the runtime's, cel)")] = ""
    timeout: Annotated[NonNegativeDuration | None,
                       Meta(description="the longest one evaluation may run (0 or unset: no limit)")] = None


class IfNode(OneToMany):
    """in -> ``condition(payload)`` ? out[0] : out[1]; evaluation errors -> error."""

    def __init__(self, condition: Callable[[Any], Any]) -> None:
        self.condition = condition
        super().__init__()

    async def action(self, proc: Process, pck: Packet) -> list[Packet | None]:
        result = self.condition(pck.payload)
        if inspect.isawaitable(result):
            result = await result
        return [pck, None] if truthy(result) else [None, pck]


def compile_if(spec: IfSpec, context: Context) -> IfNode:
    return IfNode(compile_code(context, spec, field="when", code=spec.when, language=spec.language or None,
                               timeout=spec.timeout))


def register(scheme: Scheme) -> None:
    scheme.register(
        "if", IfSpec, compile_if,
        description="Route each packet by a condition: true to out[0], false to out[1].",
        ports={"in": "the packet to test", "out[0]": "packets for which `when` is true",
               "out[1]": "packets for which `when` is false", "error": "evaluation errors"},
        example=(
            "kind: if\n"
            "name: is-admin\n"
            "when: self.role == 'admin'\n"
            "ports:\n"
            "  out[0]:\n"
            "    - name: admin\n"
            "      port: in\n"
            "  out[1]:\n"
            "    - name: guest\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
