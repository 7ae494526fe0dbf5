"""Connections: SQLite pools them on a file in WAL mode (readers side by side, writers taking turns) and
keeps one on ``:memory:`` and on other journal modes; reads run on the loop when they are short; every
driver gives a connection back when its transaction ends, committed or rolled back."""

from __future__ import annotations

import asyncio
import sqlite3

from portflow.plugins.sql.drivers import Databases, QueryFailed, default_drivers
from portflow.plugins.sql.drivers.sqlite import POOL_SIZE
from portflow.plugins.sql.node import SQLNode
from portflow.process import Process
from support.loop import round_trips_while

from .conftest import loaded, send


def sqlite(source: str, isolation=None, databases: Databases | None = None) -> SQLNode:
    from portflow.plugins.sql.drivers import parse_isolation

    return SQLNode(default_drivers().get("sqlite"), source, name="db", isolation=parse_isolation(isolation),
                   databases=databases)


def wal_file(tmp_path, name: str = "wal.db") -> str:
    path = str(tmp_path / name)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'one')")
    return path


async def test_wal_file_two_open_transactions_both_make_progress(tmp_path):
    async with loaded(sqlite(wal_file(tmp_path))) as db:
        first, second = Process(), Process()
        assert await send(db, "SELECT name FROM t", first) == [{"name": "one"}]
        # The first transaction is still open: the second does not wait for it...
        assert await asyncio.wait_for(send(db, "SELECT name FROM t", second), 2) == [{"name": "one"}]
        # ...nor does a writer in a third, whose commit the open readers do not see.
        assert await asyncio.wait_for(send(db, "INSERT INTO t VALUES (2, 'two')"), 2) == []
        assert await send(db, "SELECT COUNT(*) AS n FROM t", first) == [{"n": 1}]
        await second.exit()
        await first.exit()
        assert await send(db, "SELECT COUNT(*) AS n FROM t") == [{"n": 2}]
        assert db._db.size == 3  # one connection per open transaction


async def test_wal_file_writers_take_turns_and_each_commits(tmp_path):
    async with loaded(sqlite(wal_file(tmp_path))) as db:
        async def one(i: int) -> None:
            proc = Process()
            assert await send(db, ["INSERT INTO t VALUES (?, ?)", [i, f"n{i}"]], proc) == []
            await asyncio.sleep(0)
            assert await send(db, ["SELECT name FROM t WHERE id = ?", [i]], proc) == [{"name": f"n{i}"}]
            await proc.exit()

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(10, 40))), 10)
        assert await send(db, "SELECT COUNT(*) AS n FROM t") == [{"n": 31}]
        assert db._db.size <= POOL_SIZE


async def test_wal_file_read_then_write_after_another_commit_is_refused_unless_serializable(tmp_path):
    path = wal_file(tmp_path)
    async with loaded(sqlite(path)) as db:
        reader = Process()
        assert await send(db, "SELECT COUNT(*) AS n FROM t", reader) == [{"n": 1}]
        await send(db, "INSERT INTO t VALUES (2, 'two')")  # commits after the reader's snapshot
        answer = await send(db, "INSERT INTO t VALUES (3, 'three')", reader)
        await reader.exit(answer if isinstance(answer, BaseException) else None)
        assert isinstance(answer, QueryFailed), answer
        assert "database is locked" in str(answer) and "isolation: serializable" in str(answer)
    async with loaded(sqlite(path, isolation="serializable")) as db:
        reader = Process()
        assert await send(db, "SELECT COUNT(*) AS n FROM t", reader) == [{"n": 2}]
        other = asyncio.ensure_future(send(db, "INSERT INTO t VALUES (4, 'four')"))
        await asyncio.sleep(0.05)
        assert not other.done()  # the serializable reader holds the write turn
        assert await send(db, "INSERT INTO t VALUES (3, 'three')", reader) == []
        await reader.exit()
        assert await asyncio.wait_for(other, 2) == []
        assert await send(db, "SELECT COUNT(*) AS n FROM t") == [{"n": 4}]


async def test_memory_and_non_wal_files_keep_one_connection(tmp_path):
    for source in (":memory:", str(tmp_path / "plain.db")):
        async with loaded(sqlite(source, databases=Databases())) as db:
            await send(db, "CREATE TABLE IF NOT EXISTS t (x INTEGER)")

            async def one(i: int) -> None:
                proc = Process()
                await send(db, ["INSERT INTO t VALUES (?)", [i]], proc)
                await send(db, "SELECT COUNT(*) AS n FROM t", proc)
                await proc.exit()

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(10))), 10)
            assert await send(db, "SELECT COUNT(*) AS n FROM t") == [{"n": 10}]
            assert db._db.size == 1, source
            await db._db.close()


async def test_wal_file_long_read_leaves_the_loop_free(tmp_path):
    async with loaded(sqlite(wal_file(tmp_path))) as db:
        proc = Process()
        assert await send(db, "SELECT name FROM t", proc) == [{"name": "one"}]  # short: on the loop
        query = asyncio.ensure_future(send(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                               "WHERE x < 2000000) SELECT COUNT(*) AS n FROM c", proc))
        assert await round_trips_while(query) == 3  # the loop served a socket while the statement ran
        rows = await query
        assert await send(db, "SELECT name FROM t", proc) == [{"name": "one"}]  # same transaction goes on
        await proc.exit()
    assert rows == [{"n": 2000000}]


def with_options(backend, **options) -> str:
    if backend.driver == "sqlite":
        return backend.source
    query = "&".join(f"{k}={v}" for k, v in options.items())
    return f"{backend.source}{'&' if '?' in backend.source else '?'}{query}"


async def test_a_connection_is_given_back_after_rollback_and_after_a_failed_statement(backend, tmp_path):
    if backend.driver == "sqlite":
        backend.source = wal_file(tmp_path, "back.db")
    source = with_options(backend, pool_max=1, pool_timeout=2)
    db = SQLNode(default_drivers().get(backend.driver), source, name="db")
    async with loaded(db):
        for _ in range(POOL_SIZE + 2):
            failed = Process()
            assert await send(db, "SELECT 1 AS one", failed) == [{"one": 1}]
            await failed.exit(RuntimeError("rolled back"))
            broken = Process()
            assert isinstance(await send(db, "SELEC 1", broken), QueryFailed)
            await broken.exit(RuntimeError("rolled back"))
        # With one connection (pool_max=1), a connection kept by any of them would make this time out.
        assert await asyncio.wait_for(send(db, "SELECT 2 AS two"), 5) == [{"two": 2}]
        if backend.driver == "sqlite":
            pool = db._db
            assert len(pool._idle) == pool.size <= POOL_SIZE
