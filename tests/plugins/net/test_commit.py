"""The listener commits what the request's process opened *before* it answers (issue 12, item 6): a 200
means the row is stored, and a commit that fails answers 500 (or what the ``error`` port answers)."""

from __future__ import annotations

import aiohttp
import pytest
from sql.conftest import Backend, loaded, mysql_url, postgres_url, send  # noqa: F401 - fixtures

FLOW = """
- kind: listener
  name: listener
  port: 0
  ports:
    out: [{{name: build, port: in}}]
{error}
- kind: snippet
  name: build
  language: cel
  code: '["INSERT INTO {table} (id, name) VALUES (:id, :name)", body]'
  ports:
    out: [{{name: insert, port: in}}]

- kind: sql
  name: insert
  driver: {driver}
  source: '{source}'
  ports:
    out: [{{name: answer, port: in}}]

- kind: snippet
  name: answer
  language: json
  code: '{{"status": 200, "body": "stored"}}'

- kind: snippet
  name: not-stored
  language: json
  code: '{{"status": 409, "body": "not stored"}}'
"""
ERROR_PORT = "    error: [{name: not-stored, port: in}]\n"


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def backend(request: pytest.FixtureRequest, tmp_path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "test.db"))
    if request.param == "postgres":
        return Backend("postgres", request.getfixturevalue("postgres_url"))
    return Backend("mysql", request.getfixturevalue("mysql_url"))


async def _serve(flow, backend: Backend, table: str, error_port: bool = False):
    runtime = await flow(FLOW.format(table=table, driver=backend.driver, source=backend.source,
                                     error=ERROR_PORT if error_port else ""))
    listener = runtime.table.lookup("default", "listener")
    assert listener is not None and listener.loaded, runtime.problems
    return runtime, listener.node.url


async def test_a_200_means_the_row_is_committed(backend, flow):
    table = backend.table("commit")
    async with loaded(backend.node("setup")) as setup:
        await send(setup, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)")
    runtime, url = await _serve(flow, backend, table)
    try:
        async with loaded(backend.node("check")) as check, aiohttp.ClientSession() as client:
            for i in range(20):
                async with client.post(url, json={"id": i, "name": f"n{i}"}) as resp:
                    assert resp.status == 200 and await resp.text() == "stored"
                # No waiting: the row is visible to another connection the moment the 200 arrives.
                assert await send(check, f"SELECT id FROM {table} WHERE id = {i}") == [{"id": i}]
    finally:
        await runtime.close()


def _deferred(backend: Backend, table: str) -> list[str]:
    """A table whose constraint is checked at commit: a unique key on PostgreSQL, a foreign key on SQLite."""
    if backend.driver == "postgres":
        return [f"CREATE TABLE {table} (id INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED, name TEXT)",
                f"INSERT INTO {table} (id, name) VALUES (1, 'first')"]
    return [f"CREATE TABLE {table}_parent (id INTEGER PRIMARY KEY)",
            f"CREATE TABLE {table} (id INTEGER REFERENCES {table}_parent (id) DEFERRABLE INITIALLY DEFERRED,"
            " name TEXT)"]


@pytest.mark.parametrize("error_port", [False, True], ids=["500", "error-port"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_a_failed_commit_is_not_a_200(backend, flow, error_port):
    """MariaDB has no deferred constraints, so a commit there cannot fail this way (its 200 is covered above)."""
    table = backend.table("deferred")
    if backend.driver == "sqlite":
        backend.tables.append(f"{table}_parent")
    async with loaded(backend.node("setup")) as setup:
        for statement in _deferred(backend, table):
            await send(setup, statement)
    runtime, url = await _serve(flow, backend, table, error_port)
    try:
        async with aiohttp.ClientSession() as client, client.post(url, json={"id": 1, "name": "dup"}) as resp:
            if error_port:
                assert resp.status == 409 and await resp.text() == "not stored"
            else:
                assert resp.status == 500
        async with loaded(backend.node("check")) as check:
            rows = await send(check, f"SELECT name FROM {table} ORDER BY name")
            assert (rows or []) == ([{"name": "first"}] if backend.driver == "postgres" else [])
    finally:
        await runtime.close()
