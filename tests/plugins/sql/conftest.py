"""Real databases for the sql tests: SQLite in a temporary directory, PostgreSQL on 127.0.0.1:5432 (a
fresh database per session, dropped afterwards) and MariaDB/MySQL on 127.0.0.1:3306 (database ``test``,
tables with unique names, dropped afterwards).

A server that is not there skips its tests with the reason; with ``CI`` set it fails them instead.
Override the servers with ``TEST_POSTGRES_URL`` (a URL to an admin database) and
``TEST_MYSQL_URL`` (a mysql:// URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from portflow.process import Process
from support.probe import send_to

CI = bool(os.environ.get("CI"))
POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not available: {type(exc).__name__}: {exc}"
    if CI:
        pytest.fail(f"CI is set, so a missing database is a failure: {message}", pytrace=False)
    pytest.skip(message)


# -- servers ----------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL to a fresh database, dropped at the end of the session."""
    import psycopg
    from psycopg import sql

    name = f"portflow_sqltest_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN}", exc)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def _mysql_exec(url: str, statements: list[str]) -> None:
    import asyncmy

    from portflow.plugins.sql.drivers.mysql import parse_source

    kwargs, _ = parse_source(url)
    kwargs.pop("stmt_cache_size", None)
    conn = await asyncmy.connect(**kwargs)
    try:
        async with conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """The MySQL/MariaDB test database; tables made through ``Backend.table()`` are dropped at the end."""
    try:
        asyncio.run(_mysql_exec(MYSQL_URL, ["SELECT 1"]))
    except Exception as exc:  # noqa: BLE001
        unavailable(f"MySQL/MariaDB at {MYSQL_URL}", exc)
    yield MYSQL_URL
    if _MYSQL_TABLES:
        asyncio.run(_mysql_exec(MYSQL_URL, [f"DROP TABLE IF EXISTS {t}" for t in reversed(_MYSQL_TABLES)]))


_MYSQL_TABLES: list[str] = []


# -- one backend, as a test sees it ------------------------------------------------------------------

@dataclass
class Backend:
    """A database to run the node against: its driver, source, and unique table names."""

    driver: str
    source: str
    tables: list[str] = field(default_factory=list)

    def table(self, prefix: str = "t") -> str:
        name = f"pf_{prefix}_{uuid.uuid4().hex[:10]}"
        self.tables.append(name)
        if self.driver == "mysql":
            _MYSQL_TABLES.append(name)
        return name

    def node(self, name: str = "db", isolation: Any = None, databases: Any = None) -> Any:
        from portflow.plugins.sql.drivers import default_drivers, parse_isolation
        from portflow.plugins.sql.node import SQLNode

        return SQLNode(default_drivers().get(self.driver), self.source, name=name,
                       isolation=parse_isolation(isolation), databases=databases)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "test.db"))
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_url"))
    return Backend("mysql", request.getfixturevalue("mysql_url"))


# -- driving a node --------------------------------------------------------------------------------

async def send(node: Any, payload: Any, proc: Process | None = None) -> Any:
    """Send ``payload`` to the node's in-port in ``proc`` (a fresh process, exited after, by default)."""
    return await send_to(node, payload, proc=proc)


@contextlib.asynccontextmanager
async def loaded(*nodes: Any):
    for node in nodes:
        await node.load()
    try:
        yield nodes[0] if len(nodes) == 1 else nodes
    finally:
        for node in reversed(nodes):
            await node.close()
