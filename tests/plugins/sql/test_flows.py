"""The sql node in whole flows run by a runtime from YAML: commit and rollback end to end through the
HTTP listener (the request's process commits when the flow answered < 400 and rolls back otherwise)."""

from __future__ import annotations

import asyncio

import aiohttp

from portflow.plugins.sql.drivers import Databases

from .conftest import loaded, send

FLOW = """
- kind: listener
  name: listener
  port: 0
  ports:
    out: [{{name: router, port: in}}]

- kind: router
  name: router
  routes:
    - {{method: POST, path: /ok, port: "out[0]"}}
    - {{method: POST, path: /fail, port: "out[1]"}}
  ports:
    out[0]: [{{name: build-ok, port: in}}]
    out[1]: [{{name: build-fail, port: in}}]

- kind: snippet
  name: build-ok
  language: cel
  code: '["INSERT INTO {table} (id, name) VALUES (:id, :name)", body]'
  ports:
    out: [{{name: insert-ok, port: in}}]

- kind: snippet
  name: build-fail
  language: cel
  code: '["INSERT INTO {table} (id, name) VALUES (:id, :name)", body]'
  ports:
    out: [{{name: insert-fail, port: in}}]

- kind: sql
  name: insert-ok
  driver: {driver}
  source: '{source}'
  ports:
    out: [{{name: answer-ok, port: in}}]

- kind: sql
  name: insert-fail
  driver: {driver}
  source: '{source}'
  ports:
    out: [{{name: answer-fail, port: in}}]

- kind: snippet
  name: answer-ok
  language: json
  code: '{{"status": 200, "body": "stored"}}'

- kind: snippet
  name: answer-fail
  language: json
  code: '{{"status": 500, "body": "refused"}}'
"""


async def until(predicate, seconds: float = 5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


async def test_listener_commits_on_200_and_rolls_back_on_500(backend, flow):
    table = backend.table("http")
    async with loaded(backend.node("setup")) as setup:
        await send(setup, f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)")
    runtime = await flow(FLOW.format(table=table, driver=backend.driver, source=backend.source))
    try:
        listener = runtime.table.lookup("default", "listener")
        assert listener is not None and listener.loaded, runtime.problems
        url = listener.node.url
        async with aiohttp.ClientSession() as client:
            async with client.post(f"{url}/fail", json={"id": 1, "name": "rolled back"}) as resp:
                assert resp.status == 500 and await resp.text() == "refused"
            async with client.post(f"{url}/ok", json={"id": 2, "name": "committed"}) as resp:
                assert resp.status == 200 and await resp.text() == "stored"
            # The listener answers, then ends the request's process: the commit follows the answer.
            async with loaded(backend.node("check")) as check:
                rows = await until(lambda: send(check, f"SELECT id, name FROM {table} ORDER BY id"))
                assert rows == [{"id": 2, "name": "committed"}]
                # A duplicate key is the database's error: unhandled, the listener answers 500.
                async with client.post(f"{url}/ok", json={"id": 2, "name": "again"}) as resp:
                    assert resp.status == 500
                await asyncio.sleep(0.1)
                assert await send(check, f"SELECT id, name FROM {table} ORDER BY id") == rows
    finally:
        await runtime.close()  # closes its services too: the listeners and the databases


MEMORY_FLOW = """
- kind: sql
  name: writer
  driver: sqlite3
  source: ':memory:'
- kind: sql
  name: reader
  driver: sqlite
  source: ':memory:'
"""


async def test_memory_database_is_one_per_runtime(flow):
    runtime = await flow(MEMORY_FLOW)
    writer = runtime.table.lookup("default", "writer").node
    reader = runtime.table.lookup("default", "reader").node
    assert writer._db is reader._db
    await send(writer, "CREATE TABLE notes (body TEXT)")
    await send(writer, ["INSERT INTO notes VALUES (?)", ["hello"]])
    assert await send(reader, "SELECT body FROM notes") == [{"body": "hello"}]
    await runtime.close()
    assert runtime.context.services.get(Databases)._entries == {}  # closed with the runtime
