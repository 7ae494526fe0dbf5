"""snippet: run code in a language on each packet; the return value is the output."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from msgspec import Meta

from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import NonNegativeDuration, Spec
from ._support import compile_code

__all__ = ["SnippetSpec", "SnippetNode", "compile_snippet", "register"]

#: Results that are never awaitable (``inspect.isawaitable`` costs an ABC check on each).
_PLAIN = frozenset({str, dict, list, int, float, bool, bytes, type(None)})


class SnippetSpec(Spec, kw_only=True):
    """Runs a program on each input payload and outputs its return value; a raised error goes to ``error``.

    ``text`` outputs ``code`` verbatim; ``json``/``yaml`` output the parsed constant; ``cel`` evaluates an
    expression (a map input's keys are variables, ``self`` is the whole input); ``javascript``,
    ``typescript`` and ``python`` call the default export / function with the input.

    ``typescript`` is compiled by the TypeScript compiler itself (no type-checking): type annotations,
    interfaces, type aliases, generics, ``as``, ``satisfies``, non-null ``!``, access modifiers,
    ``enum`` and ``namespace`` all run; a syntax error names its line and column.
    """

    language: Annotated[str, Meta(description="text, json, yaml, cel, javascript, typescript or python")]
    code: Annotated[str, Meta(description="the program, or the constant for text, json and yaml")]
    timeout: Annotated[NonNegativeDuration | None,
                       Meta(description="the longest one call may run (0 or unset: no limit)")] = None


class SnippetNode(OneToOne):
    """in -> ``program(payload)`` -> out | error. ``program`` may be a plain or a coroutine function, or
    have a ``call`` fast path (as compiled code does) that answers at once when it can."""

    def __init__(self, program: Callable[[Any], Any]) -> None:
        self.program = program
        self.call = getattr(program, "call", program)
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Any:
        result = self.call(pck.payload)
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            return self._later(result)
        return Packet(result)

    @staticmethod
    async def _later(result: Awaitable[Any]) -> Packet:
        return Packet(await result)


def compile_snippet(spec: SnippetSpec, context: Context) -> SnippetNode:
    program = compile_code(context, spec, field="code", code=spec.code, language=spec.language,
                           timeout=spec.timeout)
    return SnippetNode(program)


def register(scheme: Scheme) -> None:
    scheme.register(
        "snippet", SnippetSpec, compile_snippet,
        description="Run code (text, json, yaml, cel, javascript, typescript, python) on each packet.",
        ports={"in": "the payload given to the program", "out": "the program's return value",
               "error": "what the program raised (or its timeout)"},
        example=(
            "kind: snippet\n"
            "name: greet\n"
            "language: javascript\n"
            "code: |\n"
            "  export default function (args) {\n"
            "    return { body: `hello ${args.body}` };\n"
            "  }\n"
        ),
        plugin="ctrl",
    )
