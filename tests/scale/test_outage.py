"""Faults: the store goes away while a runtime serves; a row that does not decode."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import urllib.parse

import aiohttp

from portflow.apply import apply, prepare_specs
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store
from support.proxy import Proxy

FLOW = """
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: 0
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /ping
      port: out[0]
  ports:
    out[0]:
      - name: pong
        port: in
- kind: snippet
  name: pong
  language: text
  code: pong
"""

def lost(caplog) -> bool:
    return any("change stream lost" in r.getMessage() for r in caplog.records)


async def until_pinged(ping, text: str) -> None:
    while await ping() != text:
        await asyncio.sleep(0.02)


def reset(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS portflow_specs, portflow_values, portflow_changelog, portflow_history")


def bound_port(runtime: Runtime) -> int:
    return runtime.table.lookup("default", "listener").node.port


async def test_postgres_outage_keeps_serving_and_picks_up_changes_after(postgres_url, caplog):
    caplog.set_level(logging.INFO, logger="portflow.store")
    reset(postgres_url)
    parts = urllib.parse.urlsplit(postgres_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    through = parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()
    direct = open_store(postgres_url)
    await direct.open()
    store = open_store(through)
    await store.open()
    docs, _ = prepare_specs(read_documents(FLOW), "default")
    await apply(direct.specs, docs, namespace="default")
    runtime = Runtime(store)
    try:
        await runtime.start()
        url = f"http://127.0.0.1:{bound_port(runtime)}/ping"
        async with aiohttp.ClientSession() as http:
            async def ping() -> str:
                async with http.get(url) as resp:
                    assert resp.status == 200
                    return await resp.text()

            assert await ping() == "pong"
            await proxy.stop()  # the database is gone for every connection the runtime has
            # Serve through the outage until the runtime has seen it (its change stream lost) and a while on.
            served = 0
            while not lost(caplog) or served < 50:
                assert await ping() == "pong"
                served += 1
                assert served < 100_000, "the runtime never noticed the outage"
                await asyncio.sleep(0.01)
            await proxy.start()  # back, on the same port
            doc = (await direct.specs.find({"name": "pong"}))[0]
            await direct.specs.update([{**doc, "code": "pong after the outage"}])
            # The change arrives once the stream reconnects (its backoff); 60 s is only a safety net.
            await asyncio.wait_for(until_pinged(ping, "pong after the outage"), 60)
            assert any("change stream reconnected" in r.getMessage() for r in caplog.records)
    finally:
        await runtime.close()
        await store.close()
        await direct.close()
        await proxy.stop()


async def test_a_row_that_does_not_decode_is_logged_and_skipped(tmp_path, caplog):
    url = f"sqlite:///{tmp_path}/flows.db"
    store = open_store(url)
    await store.open()
    docs, _ = prepare_specs(read_documents(FLOW), "default")
    await apply(store.specs, docs, namespace="default")
    await store.close()
    with sqlite3.connect(tmp_path / "flows.db") as db:
        table = next(name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                     if name.endswith("specs"))
        db.execute(f"UPDATE {table} SET doc = '{{not json' WHERE name = 'router'")
        broken_id = db.execute(f"SELECT id FROM {table} WHERE name = 'router'").fetchone()[0]
    store = open_store(url)
    await store.open()
    try:
        with caplog.at_level(logging.WARNING):
            async with Runtime(store) as runtime:
                assert runtime.table.lookup("default", "pong").loaded
                assert runtime.table.lookup("default", "router") is None
        assert broken_id in caplog.text
    finally:
        await store.close()
