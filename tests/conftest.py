"""Fixtures every test package shares: a fresh memory store, a runtime started from YAML, and a fresh
PostgreSQL database.

``postgres_url`` (session): the URL of a fresh, empty PostgreSQL database made for this test run
(``portflow_test_<random>``) and dropped at the end. The server is ``TEST_POSTGRES_URL`` (a URL of a
database to connect to for CREATE DATABASE), by default ``postgresql://postgres@127.0.0.1:5432/postgres``.
If it cannot be reached, the tests that use it are skipped, unless the ``CI`` environment variable is set:
then they fail, so a CI run never passes without PostgreSQL by accident.
"""

from __future__ import annotations

import os
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from portflow.apply import apply, prepare_specs, prepare_values
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import mask_url


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


POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (skip if unreachable; fail if ``CI`` is set)."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    try:
        admin = psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = f"PostgreSQL is not reachable at {mask_url(POSTGRES_SERVER)}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: the PostgreSQL tests must run)", pytrace=False)
        pytest.skip(reason)
    name = f"portflow_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield urllib.parse.urlsplit(POSTGRES_SERVER)._replace(path=f"/{name}").geturl()
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
