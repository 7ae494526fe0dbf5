"""What each driver adds of its own: SQLite's thread and shared :memory:, column types as payloads."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from portflow.plugins.sql.drivers import Databases, QueryFailed, Unavailable, default_drivers
from portflow.plugins.sql.node import SQLNode
from portflow.process import Process
from support.loop import round_trips_while

from .conftest import loaded, send


def sqlite(source: str, databases: Databases | None = None, name: str = "db") -> SQLNode:
    return SQLNode(default_drivers().get("sqlite"), source, name=name, databases=databases)


async def test_memory_database_is_shared_by_the_runtime_and_outlives_its_nodes():
    databases = Databases()  # what a runtime keeps in Context.shared
    first = sqlite(":memory:", databases)
    async with loaded(first):
        await send(first, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
        await send(first, ["INSERT INTO kv VALUES (?, ?)", ["a", "1"]])
    # The node was replaced: the data is still there for its successor.
    async with loaded(sqlite(":memory:", databases)) as second:
        assert await send(second, "SELECT v FROM kv") == [{"v": "1"}]
    # Another runtime has its own.
    async with loaded(sqlite(":memory:", Databases())) as other:
        assert "no such table" in str(await send(other, "SELECT v FROM kv"))
    await databases.aclose()


async def test_statements_do_not_block_the_event_loop():
    async with loaded(sqlite(":memory:", Databases())) as db:
        query = asyncio.ensure_future(send(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                                               "WHERE x < 2000000) SELECT COUNT(*) AS n FROM c"))
        assert await round_trips_while(query) == 3  # the loop served a socket while the statement ran
        rows = await query
    assert rows == [{"n": 2000000}]


async def test_sqlite_argument_types(tmp_path):
    async with loaded(sqlite(str(tmp_path / "t.db"))) as db:
        await send(db, "CREATE TABLE t (b BLOB, f REAL, j TEXT, d TEXT, flag INTEGER)")
        when = datetime.datetime(2024, 5, 1, 12, 30)
        await send(db, ["INSERT INTO t VALUES (?, ?, ?, ?, ?)", [b"\x00\x01", 1.5, {"a": [1, 2]}, when, True]])
        assert await send(db, "SELECT b, f, j, d, flag FROM t") == [
            {"b": b"\x00\x01", "f": 1.5, "j": '{"a": [1, 2]}', "d": "2024-05-01 12:30:00", "flag": 1}]


async def test_sqlite_enforces_foreign_keys(tmp_path):
    async with loaded(sqlite(str(tmp_path / "fk.db"))) as db:
        await send(db, "CREATE TABLE p (id INTEGER PRIMARY KEY)")
        await send(db, "CREATE TABLE c (pid INTEGER REFERENCES p(id))")
        answer = await send(db, "INSERT INTO c VALUES (1)")
        assert "FOREIGN KEY constraint failed" in str(answer)


async def test_sqlite_commit_is_visible_to_another_connection(tmp_path):
    import sqlite3

    path = tmp_path / "shared.db"
    async with loaded(sqlite(str(path))) as db:
        await send(db, "CREATE TABLE t (x INTEGER)")
        proc = Process()
        await send(db, "INSERT INTO t VALUES (1)", proc)
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
        await proc.exit()
        with sqlite3.connect(path) as other:
            assert other.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)


async def test_postgres_column_types(postgres_url):
    node = SQLNode(default_drivers().get("postgres"), postgres_url, name="pg")
    async with loaded(node) as db:
        rows = await send(db, [
            "SELECT 12::numeric AS whole, 1.25::numeric(5,2) AS part, "
            "'6f1c0a4e-2b1d-4c3a-9a57-2f0f2a3b4c5d'::uuid AS id, DATE '2024-05-01' AS day, "
            "TIMESTAMP '2024-05-01 12:30' AS at, ARRAY[1,2,3] AS arr, '\\x0001'::bytea AS raw, "
            ":doc::jsonb AS doc, NULL::int AS gone",
            {"doc": {"a": [1, {"b": None}]}}])
    assert rows == [{
        "whole": 12, "part": 1.25, "id": "6f1c0a4e-2b1d-4c3a-9a57-2f0f2a3b4c5d", "day": "2024-05-01",
        "at": datetime.datetime(2024, 5, 1, 12, 30), "arr": [1, 2, 3], "raw": b"\x00\x01",
        "doc": {"a": [1, {"b": None}]},
    }]


async def test_postgres_batch_returns_rows(postgres_url):
    node = SQLNode(default_drivers().get("postgres"), postgres_url, name="pg")
    async with loaded(node) as db:
        proc = Process()
        await send(db, "CREATE TEMP TABLE b (id SERIAL PRIMARY KEY, name TEXT)", proc)
        rows = await send(db, ["INSERT INTO b (name) VALUES (:name) RETURNING id",
                               [{"name": "a"}, {"name": "b"}]], proc)
        await proc.exit()
    assert rows == [{"id": 1}, {"id": 2}]


async def test_mysql_column_types(mysql_url):
    node = SQLNode(default_drivers().get("mysql"), mysql_url, name="my")
    async with loaded(node) as db:
        rows = await send(db, ["SELECT CAST(12 AS DECIMAL(10,0)) AS whole, CAST(1.25 AS DECIMAL(5,2)) AS part, "
                               "DATE '2024-05-01' AS day, TIMESTAMP '2024-05-01 12:30:00' AS at, "
                               "? AS doc, NULL AS gone", [{"a": 1}]])
    assert rows == [{"whole": 12, "part": 1.25, "day": "2024-05-01", "at": datetime.datetime(2024, 5, 1, 12, 30),
                     "doc": '{"a": 1}'}]


def one_connection(postgres_url: str) -> SQLNode:
    """A postgres node whose pool holds one connection, so every process gets the same one."""
    return SQLNode(default_drivers().get("postgres"), f"{postgres_url}?pool_max=1&pool_timeout=2", name="pg")


async def test_postgres_a_first_statement_is_prepared_from_its_second_run(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        for i in range(3):
            assert await send(db, ["SELECT ? + 1 AS n", [i]]) == [{"n": i + 1}]
        proc = Process()
        await send(db, "SELECT 'once' AS one", proc)
        prepared = await send(db, "SELECT statement FROM pg_prepared_statements WHERE name LIKE '_pf_%'", proc)
        await proc.exit()
    assert prepared == [{"statement": "SELECT $1 + 1 AS n"}]


async def test_postgres_a_prepared_first_statement_the_server_dropped_runs_again_unnamed(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        await send(db, "CREATE TABLE dropped_plan (id INT)")
        for _ in range(2):
            assert await send(db, "SELECT * FROM dropped_plan") == []
        await send(db, "DEALLOCATE ALL")
        for _ in range(2):  # the first run finds it gone and runs again unnamed; the second prepares it anew
            assert await send(db, "SELECT * FROM dropped_plan") == []
        await send(db, "ALTER TABLE dropped_plan ADD COLUMN name TEXT")  # the plan's result type changes
        await send(db, "INSERT INTO dropped_plan VALUES (1, 'x')")
        assert await send(db, "SELECT * FROM dropped_plan") == [{"id": 1, "name": "x"}]
        await send(db, "DROP TABLE dropped_plan")


async def test_postgres_a_cancelled_first_statement_gives_its_connection_back(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        proc = Process()
        sleeping = asyncio.ensure_future(send(db, "SELECT pg_sleep(30)", proc))
        await asyncio.sleep(0.3)
        sleeping.cancel()
        await asyncio.gather(sleeping, return_exceptions=True)
        await proc.exit(RuntimeError("cancelled"))
        # The pool's only connection came back (closed, so the pool opens another): no 2 s wait in vain.
        assert await asyncio.wait_for(send(db, "SELECT 1 AS one"), 10) == [{"one": 1}]


async def test_postgres_copy_is_refused_and_the_node_goes_on(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        answer = await send(db, "COPY (SELECT 1) TO STDOUT")
        assert isinstance(answer, QueryFailed) and "COPY is not supported" in str(answer)
        assert await send(db, "SELECT 1 AS one") == [{"one": 1}]


async def test_postgres_a_connection_found_dead_at_begin_is_replaced(postgres_url):
    import psycopg

    async with loaded(one_connection(postgres_url)) as db:
        [first] = await send(db, "SELECT pg_backend_pid() AS pid")
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", [first["pid"]])
        [second] = await send(db, "SELECT pg_backend_pid() AS pid")
    assert second["pid"] != first["pid"]


async def test_postgres_a_connection_the_server_closes_before_commit_fails_the_commit(postgres_url):
    import psycopg

    async with loaded(one_connection(postgres_url)) as db:
        await send(db, "CREATE TABLE closed_before_commit (id INT)")
        for statements in (["INSERT INTO closed_before_commit VALUES (1) RETURNING pg_backend_pid() AS pid"],
                           ["INSERT INTO closed_before_commit VALUES (1)", "SELECT pg_backend_pid() AS pid"]):
            proc = Process()
            for query in statements:
                rows = await send(db, query, proc)
            async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", [rows[0]["pid"]])
            await asyncio.sleep(0.2)  # the server's goodbye arrives while the process does something else
            with pytest.raises(Unavailable, match="connection lost"):
                await proc.commit()
            await proc.exit()
        assert await send(db, "SELECT COUNT(*) AS n FROM closed_before_commit") == [{"n": 0}]


async def test_postgres_a_commit_cancelled_in_flight_is_cancelled_in_the_server_too(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        await send(db, "CREATE TABLE slow_commit (id INT)")
        await send(db, "CREATE FUNCTION slow_commit_f() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$")
        await send(db, "CREATE CONSTRAINT TRIGGER slow_commit_t AFTER INSERT ON slow_commit "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_f()")
        proc = Process()
        assert await send(db, "INSERT INTO slow_commit VALUES (1)", proc) == []
        committing = asyncio.ensure_future(proc.commit())  # COMMIT runs the deferred trigger: 30 s
        await asyncio.sleep(0.3)
        committing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(committing, 10)
        await proc.exit()
        # The pool's only connection came back (closed, so the pool opens another) and nothing was committed.
        assert await asyncio.wait_for(send(db, "SELECT COUNT(*) AS n FROM slow_commit"), 10) == [{"n": 0}]
        sleeping = ("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event = 'PgSleep'")
        for _ in range(50):  # the server takes a moment to act on the cancel request
            if await send(db, sleeping) == [{"n": 0}]:
                break
            await asyncio.sleep(0.1)
        assert await send(db, sleeping) == [{"n": 0}]


async def test_postgres_a_statement_waiting_for_the_only_connection_gets_it_when_a_transaction_ends(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        first = Process()
        assert await send(db, "SELECT 1 AS one", first) == [{"one": 1}]
        waiting = asyncio.ensure_future(send(db, "SELECT 2 AS two"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # pool_max=1: it waits for the first transaction's connection
        await first.exit()
        assert await asyncio.wait_for(waiting, 1.5) == [{"two": 2}]  # well within pool_timeout=2


async def test_postgres_a_change_of_client_encoding_is_followed(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        for _ in range(2):
            assert await send(db, ["SELECT ? AS s, length(?) AS n", ["é", "é"]]) == [{"s": "é", "n": 1}]
        await send(db, "SET client_encoding TO 'LATIN1'")  # the session keeps it: the next process sees it
        for _ in range(2):
            assert await send(db, ["SELECT ? AS s, length(?) AS n", ["é", "é"]]) == [{"s": "é", "n": 1}]


async def test_postgres_a_first_statement_larger_than_the_socket_buffer(postgres_url):
    async with loaded(one_connection(postgres_url)) as db:
        big = "x" * 20_000_000
        for _ in range(2):  # unnamed, then prepared
            assert await send(db, ["SELECT length(?) AS n", [big]]) == [{"n": 20_000_000}]
