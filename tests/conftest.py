"""Fixtures every test package shares: a fresh memory store, and a runtime started from YAML."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from portflow.apply import apply, prepare_specs, prepare_values
from portflow.runtime import Runtime
from portflow.spec import read_documents


@pytest.fixture
async def store() -> AsyncIterator[Any]:
    """An opened in-memory store of its own."""
    from portflow.store import open_store

    st = open_store(f"memory://test-{uuid.uuid4().hex}")
    await st.open()
    try:
        yield st
    finally:
        await st.close()


FlowFactory = Callable[..., Awaitable[Runtime]]


@pytest.fixture
async def flow(store: Any) -> AsyncIterator[FlowFactory]:
    """``await flow(yaml_text, environment={...}, values=yaml_text, namespace=..., settings=...)``: apply the
    specs (and values) to the test's store and start a runtime on them. Runtimes close at teardown."""
    runtimes: list[Runtime] = []

    async def start(specs: str, *, environment: dict[str, str] | None = None, values: str | None = None,
                    namespace: str = "default", settings: dict[str, Any] | None = None,
                    watch: bool = True) -> Runtime:
        if values:
            docs, problems = prepare_values(read_documents(values), namespace)
            assert not problems, problems
            await apply(store.values, docs, namespace=namespace)
        docs, problems = prepare_specs(read_documents(specs), namespace)
        assert not problems, problems
        await apply(store.specs, docs, namespace=namespace)
        runtime = Runtime(store, namespace=namespace, environment=environment, settings=settings, watch=watch)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    try:
        yield start
    finally:
        for runtime in reversed(runtimes):
            await runtime.close()
