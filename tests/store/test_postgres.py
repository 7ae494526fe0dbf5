"""What only the PostgreSQL store does: a change stream that survives lost connections and outages."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator

import psycopg
import pytest

from portflow.errors import StoreError
from portflow.store import Event, open_store
from portflow.store.postgres import PostgresStore
from support.proxy import Proxy

from .conftest import reset_postgres
from .test_contract import doc, take


@pytest.fixture
def pg(postgres_url: str) -> str:
    """The URL of an empty PostgreSQL store."""
    reset_postgres(postgres_url)
    return postgres_url


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    """Wait for ``condition()`` to become true (checked every 10 ms), or fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


@pytest.fixture
async def proxy(pg: str) -> AsyncIterator[Proxy]:
    parts = urllib.parse.urlsplit(pg)
    p = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await p.start()
    yield p
    with contextlib.suppress(Exception):
        await p.stop()


def through(url: str, proxy: Proxy, password: str) -> str:
    """``url`` pointed at the proxy, with a password (trust auth ignores it; messages must not show it)."""
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{password}@127.0.0.1:{proxy.port}").geturl()


async def terminate(url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_watcher_survives_its_connection_being_terminated(pg: str) -> None:
    store = PostgresStore(pg)
    async with store:
        w = store.specs.watch()
        await store.specs.insert([doc("before")])
        assert [e.id for e in await take(w, 1)] == ["before"]
        pid = store.listener_pid
        assert pid is not None

        await terminate(pg, pid)
        await wait_until(lambda: store.listener_pid != pid)
        # committed while the listener is down (or reconnecting): the pool's connections are unaffected
        await store.specs.insert([doc(f"during-{i}") for i in range(5)])
        await store.specs.delete({"id": "during-0"})
        await wait_until(lambda: store.listener_pid not in (None, pid))
        await store.specs.insert([doc("after")])

        events = await take(w, 7)
        assert [(e.op, e.id) for e in events] == [
            *(("insert", f"during-{i}") for i in range(5)),
            ("delete", "during-0"),
            ("insert", "after"),
        ]
        assert [e.seq for e in events] == list(range(2, 9))
        await w.aclose()


async def test_an_outage_fails_writes_cleanly_and_the_watcher_catches_up(pg: str, proxy: Proxy) -> None:
    url = through(pg, proxy, "hunter2")
    store = PostgresStore(url, pool_timeout=1.0)
    async with store, open_store(pg) as direct:
        w = store.specs.watch({"namespace": "default"})
        await store.specs.insert([doc("a")])
        assert (await take(w, 1))[0] == Event("insert", "a", "default", None, 1)

        await proxy.stop()  # the database is gone for this store
        with pytest.raises(StoreError) as err:
            await store.specs.insert([doc("lost")])
        message = str(err.value)
        assert "hunter2" not in message and "\n" not in message and ":***@" in message
        with pytest.raises(StoreError):
            await store.specs.find()

        await direct.specs.insert([doc("b"), doc("c")])  # others keep writing during the outage
        await direct.specs.delete({"id": "a"})
        await proxy.start()

        events = await asyncio.wait_for(take(w, 3), 15)
        assert [(e.op, e.id) for e in events] == [("insert", "b"), ("insert", "c"), ("delete", "a")]
        # and this store writes again, once its pool has reconnected
        async with asyncio.timeout(15):
            while True:
                try:
                    await store.specs.insert([doc("d")])
                    break
                except StoreError:
                    await asyncio.sleep(0.1)
        assert [(e.op, e.id) for e in await take(w, 1)] == [("insert", "d")]
        assert [d["id"] for d in await direct.specs.find()] == ["b", "c", "d"]
        await w.aclose()


async def test_an_unreachable_server_is_a_store_error_naming_the_url_without_password() -> None:
    store = PostgresStore("postgresql://bob:hunter2@127.0.0.1:1/nowhere", pool_timeout=1.0)
    with pytest.raises(StoreError) as err:
        await store.open()
    message = str(err.value)
    assert message.startswith("cannot open postgresql://bob:***@127.0.0.1:1/nowhere")
    assert "hunter2" not in message and "\n" not in message


async def test_stores_opening_at_once_create_the_tables_once(pg: str) -> None:
    stores = [open_store(pg) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    await stores[0].specs.insert([doc("a")])
    for s in stores:
        assert [d["id"] for d in await s.specs.find()] == ["a"]
        await s.close()


async def test_writers_on_many_connections_commit_in_seq_order(pg: str) -> None:
    """16 writers over 4 pools: the watcher sees each change once, in seq order, and the replay agrees."""
    stores = [open_store(pg) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        w = stores[0].specs.watch()

        async def writer(k: int) -> None:
            s = stores[k % 4]
            for i in range(20):
                await s.specs.insert([doc(f"{k}-{i}"), doc(f"{k}-{i}-b")])

        await asyncio.gather(*(writer(k) for k in range(16)))
        events = await asyncio.wait_for(take(w, 16 * 40), 30)
        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs))
        assert len({e.id for e in events}) == 16 * 40
        replay = stores[1].specs.watch(since=0)
        assert await take(replay, len(events)) == events
        await w.aclose()
        await replay.aclose()
    finally:
        for s in stores:
            await s.close()
