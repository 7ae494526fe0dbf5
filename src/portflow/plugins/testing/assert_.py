"""assert: check a payload (or what a node saw earlier in the test) with an expression."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...errors import CompileError, FlowError, FlowTimeout, PortflowError
from ...gotypes import truthy
from ...node import Node, OneToOne
from ...packet import Packet
from ...port import Frame
from ...process import Process
from ...scheme import Context, Scheme, spec_error
from ...spec import NonNegativeDuration, PortRef, Spec, format_duration
from .runner import Runner

__all__ = ["AssertSpec", "AssertTarget", "AssertNode", "compile_assert", "register"]

Program = Callable[[Any], Awaitable[Any]]


class AssertTarget(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The node (by ``name`` or ``id``, in the assert's namespace) and its in- or out-port to look at."""

    port: Annotated[str, Meta(description="the node's in- or out-port to look at")]
    name: Annotated[str | None, Meta(description="the node's name")] = None
    id: Annotated[str | None, Meta(description="the node's id")] = None


class AssertSpec(Spec, kw_only=True):
    """Checks ``[payload, index]`` (what a ``test`` sends to ``out[1]``) with the expression ``expect``,
    written in the runtime's expression language (``runtime.language``, CEL by default): a truthy result
    passes, anything else fails the test with ``assert failed``.

    Without ``target`` the expression sees ``payload``. With ``target`` the assert scans the frames the
    test's process recorded after frame ``index``, for the first hop through ``target.port`` of the
    node ``target.name`` (or ``target.id``): an in-port gives the packet the node received, an out-port
    the packet it sent. That payload is checked instead; no such frame fails the test. On success the
    output is ``[payload, index]`` (the frame's index with a target), so asserts can be chained, each
    one continuing the scan where the previous one stopped.
    """

    expect: Annotated[str, Meta(description="the check, in the runtime's expression language")]
    target: Annotated[AssertTarget | None, Meta(description="a node's port whose packet is checked instead")] = None
    timeout: Annotated[NonNegativeDuration | None,
                       Meta(description="the longest the check may run (0 or unset: no limit)")] = None


Resolve = Callable[[AssertTarget], "Node | None"]


class AssertNode(OneToOne):
    """in ``[payload, index]`` -> check -> out ``[payload, index]`` | error ``assert failed``."""

    def __init__(self, program: Program, expect: str = "", target: AssertTarget | None = None,
                 resolve: Resolve | None = None, timeout: float | None = None,
                 frames: Callable[[Process], list[Frame] | None] | None = None) -> None:
        self.program = program
        #: The frames of a test process (the runner's record), for ``target``.
        self.frames_of = frames
        self.expect = expect
        self.target = target
        self.resolve = resolve
        self.timeout = timeout
        super().__init__()

    async def action(self, proc: Process, pck: Packet) -> Packet:
        payload = pck.payload
        if not (isinstance(payload, (list, tuple)) and len(payload) == 2):
            raise FlowError(f"assert: expected [payload, index], got {_short(payload)}")
        value, index = payload
        if isinstance(index, bool) or not isinstance(index, int):
            raise FlowError(f"assert: the index in [payload, index] must be an integer, got {_short(index)}")
        if self.target is not None:
            value, index = self._find(proc, index)
        try:
            async with asyncio.timeout(self.timeout):
                result = self.program(value)
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            raise FlowTimeout(f"assert: {self.expect}: timeout after {format_duration(self.timeout or 0)}") from None
        if isinstance(result, BaseException):
            raise FlowError(f"assert failed: {self.expect}: {result}")
        if not truthy(result):
            raise FlowError(f"assert failed: {self.expect} (payload: {_short(value)})")
        return Packet([value, index])

    def _find(self, proc: Process, index: int) -> tuple[Any, int]:
        target = self.target
        assert target is not None
        label = f"{target.name or target.id}.{target.port}"
        frames = self.frames_of(proc) if self.frames_of is not None else None
        if frames is None:
            raise FlowError(f"assert failed: target {label}: this process records no frames (run it from a test)")
        node = self.resolve(target) if self.resolve is not None else None
        if node is None:
            raise FlowError(f"assert failed: target {label}: no such node")
        inport, outport = node.inport(target.port), node.outport(target.port)
        if inport is None and outport is None:
            raise FlowError(f"assert failed: target {label}: the node has no such port")
        for i in range(max(index + 1, 0), len(frames)):
            frame = frames[i]
            if frame.node is not node:
                continue
            if inport is not None and frame.input is not None and frame.port == inport.name:
                return frame.input.payload, i
            if outport is not None and frame.input is None and frame.port == outport.name \
                    and frame.output is not None:
                return frame.output.payload, i
        raise FlowError(f"assert failed: target {label}: no packet went through it"
                        + (f" after frame {index}" if index >= 0 else ""))


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compile_assert(spec: AssertSpec, context: Context) -> AssertNode:
    target = spec.target
    if target is not None and not (target.name or target.id):
        raise spec_error(spec, "target", "name or id required", error=CompileError)
    languages = context.languages
    if languages is None:
        raise spec_error(spec, "expect", "no languages are registered", error=CompileError)
    language = context.language
    try:
        program = languages.compile(language, spec.expect, timeout=spec.timeout or None)
    except PortflowError as exc:
        raise spec_error(spec, "expect", str(exc), error=CompileError) from None
    except LookupError:
        raise spec_error(spec, "expect", f"unknown language {language!r} (setting runtime.language)",
                         error=CompileError) from None

    resolve: Resolve | None = None
    table = context.table
    if table is not None:
        namespace = spec.namespace

        def resolve(t: AssertTarget) -> Node | None:
            sb = table.resolve(namespace, PortRef(port=t.port, id=t.id, name=t.name))
            return sb.node if sb is not None else None

    return AssertNode(program, spec.expect, target, resolve, spec.timeout or None,
                      frames=context.services.get(Runner).frames)


def register(scheme: Scheme) -> None:
    scheme.register(
        "assert", AssertSpec, compile_assert,
        description="Check a test's answer, or what a node saw during the test, with an expression.",
        ports={"in": "[payload, index], as a test sends to out[1]",
               "out": "[payload, index] when the check passed (chain further asserts here)",
               "error": "`assert failed: ...` when it did not"},
        example=(
            "kind: assert\n"
            "name: first-was-one\n"
            "expect: self == 1\n"
            "target:\n"
            "  name: first\n"
            "  port: out\n"
        ),
        plugin="testing",
    )
