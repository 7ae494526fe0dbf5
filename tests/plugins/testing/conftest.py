"""Helpers for the testing plugin's tests: a tiny expression language (so these tests do not depend on
CEL being installed), a scheme with the testing kinds plus two trivial kinds, and a runtime factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from portflow.apply import apply, prepare_specs
from portflow.errors import CompileError
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.testing import find_runner, register
from portflow.runtime import Runtime
from portflow.scheme import Scheme
from portflow.spec import Spec, read_documents
from portflow.symbol import Hooks


class ExprLanguages:
    """``expr``: a Python expression; a map payload's keys are variables and ``self`` is the payload (as
    in CEL). ``sleep N`` waits N seconds (for timeouts)."""

    def compile(self, name: str, code: str, timeout: float | None = None) -> Callable[[Any], Awaitable[Any]]:
        if name != "expr":
            raise LookupError(name)
        if code.startswith("sleep "):
            seconds = float(code.split()[1])

            async def sleeper(payload: Any) -> Any:
                await asyncio.sleep(seconds)
                return True

            return sleeper
        try:
            compiled = compile(code, "<expr>", "eval")
        except SyntaxError as exc:
            raise CompileError(f"syntax error: {exc.msg}") from None

        async def program(payload: Any) -> Any:
            scope = dict(payload) if isinstance(payload, dict) else {}
            scope["self"] = payload
            return eval(compiled, {"__builtins__": {}}, scope)

        return program


class ConstSpec(Spec, kw_only=True):
    value: Any = None


class FailSpec(Spec, kw_only=True):
    message: str = "boom"


def make_scheme() -> Scheme:
    scheme = Scheme()
    register(scheme, ExprLanguages(), Hooks())
    scheme.register("const", ConstSpec, lambda spec, ctx: OneToOne(lambda proc, pck, v=spec.value: Packet(v)))
    scheme.register("relay", Spec, lambda spec, ctx: OneToOne(lambda proc, pck: pck))

    def fail(spec: FailSpec, ctx: Any) -> OneToOne:
        def action(proc: Any, pck: Packet) -> Any:
            raise RuntimeError(spec.message)

        return OneToOne(action)

    scheme.register("fail", FailSpec, fail)
    return scheme


Start = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def tests(store: Any) -> AsyncIterator[Start]:
    """``await tests(yaml)``: a loaded runtime (no watch) on those specs, with the testing kinds."""
    runtimes: list[Runtime] = []

    async def start(specs: str, namespace: str = "default") -> Runtime:
        scheme = make_scheme()
        docs, problems = prepare_specs(read_documents(specs), namespace, scheme)
        assert not problems, problems
        await apply(store.specs, docs, namespace=namespace)
        runtime = Runtime(store, namespace=namespace, scheme=scheme, languages=ExprLanguages(), hooks=Hooks(),
                          settings={"language": "expr"}, watch=False)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(runtimes):
            await runtime.close()


async def outcomes(runtime: Runtime, pattern: str | None = None) -> dict[str, str | None]:
    """Run the runtime's tests: name -> None (passed) or the failure's message."""
    runner = find_runner(runtime.context)
    assert runner is not None, "no test node compiled"
    return {r.name: (None if r.passed else r.message) for r in await runner.run(pattern)}
