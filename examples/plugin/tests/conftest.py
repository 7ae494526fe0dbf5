"""Fixtures for the example plugin's tests: a scheme with its kinds, a way to send one packet into a
node, and ``flow``: a runtime started from YAML on a private memory store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from portflow import Hooks, OutPort, Packet, Process, Runtime, Scheme, builtin_languages, open_store
from portflow.apply import apply, prepare_specs
from portflow.plugins import ctrl
from portflow.spec import read_documents
from portflow.store.memory import forget

import portflow_example


@pytest.fixture
def scheme() -> Scheme:
    """A scheme of its own with the example kinds only."""
    s = Scheme()
    portflow_example.register(s)
    return s


async def send_to(node: Any, payload: Any, proc: Process | None = None) -> Any:
    """Send ``payload`` to ``node``'s in-port and return the answer's payload (in a fresh process unless
    ``proc`` is given)."""
    owned = proc is None
    proc = proc or Process()
    probe = OutPort("probe")
    probe.link(node.inport("in"))
    try:
        return (await probe.send(proc, Packet(payload))).payload
    finally:
        if owned:
            await proc.exit()


async def call_node(runtime: Runtime, name: str, payload: Any = None) -> Any:
    """Send ``payload`` to the in-port of the node called ``name`` in ``runtime``; the answer's payload."""
    symbol = runtime.table.lookup(runtime.namespace, name)
    assert symbol is not None and symbol.node is not None, f"{name}: {symbol.error if symbol else 'missing'}"
    return await send_to(symbol.node, payload)


@pytest.fixture
def send() -> Callable[..., Awaitable[Any]]:
    """``await send(node, payload, proc=None)``: the answer of ``node`` to ``payload``."""
    return send_to


@pytest.fixture
def call() -> Callable[..., Awaitable[Any]]:
    """``await call(runtime, name, payload)``: the answer of the node ``name`` in ``runtime``."""
    return call_node


Flow = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def flow() -> AsyncIterator[Flow]:
    """``await flow(yaml_text, config=None)``: store the specs and start a runtime on them with the ctrl
    kinds and the example kinds (``config``: the plugin's settings table). Load problems are in
    ``runtime.problems``."""
    url = f"memory://example-{uuid.uuid4().hex}"
    store = open_store(url)
    await store.open()
    runtimes: list[Runtime] = []

    async def start(specs: str, config: dict[str, Any] | None = None) -> Runtime:
        docs, problems = prepare_specs(read_documents(specs), "default")
        assert not problems, problems
        await apply(store.specs, docs, namespace="default")
        scheme = Scheme()
        ctrl.register(scheme)
        portflow_example.register(scheme, None, None, config)
        runtime = Runtime(store, scheme=scheme, languages=builtin_languages(), hooks=Hooks(), watch=False)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(runtimes):
            await runtime.close()
        await store.close()
        forget(url)
