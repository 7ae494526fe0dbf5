"""The sql node against real SQLite, PostgreSQL and MariaDB (uniflow-semantics §8, sql plugin)."""

from __future__ import annotations

import asyncio

import pytest

from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.sql.drivers import Databases, QueryFailed, SQLError, Unavailable
from portflow.process import Process

from .conftest import loaded, send

DDL = "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL UNIQUE, note VARCHAR(200))"


async def make_table(node, table):
    assert await send(node, DDL.format(t=table)) == []


async def test_rows_as_maps_null_columns_left_out_no_rows_is_null(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        await send(db, [f"INSERT INTO {t} (id, name, note) VALUES (?, ?, ?)", [1, "ann", None]])
        await send(db, [f"INSERT INTO {t} (id, name, note) VALUES (?, ?, ?)", [2, "bob", "hi"]])
        rows = await send(db, f"SELECT id, name, note FROM {t} ORDER BY id")
        assert rows == [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob", "note": "hi"}]
        assert await send(db, f"SELECT id FROM {t} WHERE id = 99") == []
        assert await send(db, [f"SELECT id FROM {t} WHERE id = 1"]) == [{"id": 1}]  # [query] alone


async def test_named_arguments_and_repeats(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (:id, :name)", {"id": 7, "name": "cy"}])
        rows = await send(db, [f"SELECT name FROM {t} WHERE id = :id OR id = :id + 100", {"id": 7}])
        assert rows == [{"name": "cy"}]


async def test_a_list_of_maps_runs_a_batch(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        people = [{"id": i, "name": f"p{i}"} for i in range(5)]
        assert await send(db, [f"INSERT INTO {t} (id, name) VALUES (:id, :name)", people]) == []
        assert await send(db, f"SELECT COUNT(*) AS n FROM {t}") == [{"n": 5}]


async def test_arguments_are_bound_never_spliced(backend):
    t = backend.table()
    evil = "'; DROP TABLE users; --"
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, evil]])
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (:id, :name)", {"id": 2, "name": evil + " ?:x %s"}])
        assert await send(db, [f"SELECT name FROM {t} WHERE name = ?", [evil]]) == [{"name": evil}]
        assert await send(db, f"SELECT name FROM {t} WHERE id = 2") == [{"name": evil + " ?:x %s"}]
        assert await send(db, f"SELECT COUNT(*) AS n FROM {t}") == [{"n": 2}]


async def test_percent_and_question_marks_in_literals(backend):
    async with loaded(backend.node()) as db:
        rows = await send(db, ["SELECT '100% sure?' AS a, ? AS b", ["x"]])
        assert rows == [{"a": "100% sure?", "b": "x"}]
        assert await send(db, "SELECT '100%' AS a") == [{"a": "100%"}]


async def test_syntax_error_goes_to_error_port_with_the_database_message(backend):
    handled = []

    def on_error(proc, pck):
        handled.append(pck.payload)
        return Packet({"status": 400})

    async with loaded(backend.node("q")) as db:
        answer = await send(db, "SELEC 1")
        assert isinstance(answer, QueryFailed)
        assert str(answer).startswith("sql node 'q': ")
        assert "syntax" in str(answer).lower()
        db.error_port.link(OneToOne(on_error).in_port)
        assert await send(db, "SELEC 1") == {"status": 400}
        assert isinstance(handled[0], QueryFailed)


async def test_constraint_violation_names_the_constraint(backend):
    t = backend.table()
    async with loaded(backend.node("q")) as db:
        await make_table(db, t)
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, "ann"]])
        answer = await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [2, "ann"]])
        assert isinstance(answer, QueryFailed), answer
        assert any(w in str(answer).lower() for w in ("unique", "duplicate")), str(answer)


async def test_commit_on_success_rollback_on_error(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        ok = Process()
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, "kept"]], ok)
        await ok.exit()
        failed = Process()
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [2, "dropped"]], failed)
        # Visible inside its own transaction...
        assert await send(db, f"SELECT name FROM {t} WHERE id = 2", failed) == [{"name": "dropped"}]
        await failed.exit(RuntimeError("Internal Server Error"))
        # ...gone once the process failed.
        assert await send(db, f"SELECT name FROM {t} ORDER BY id") == [{"name": "kept"}]


async def test_nodes_on_one_database_share_the_process_transaction(backend):
    t = backend.table()
    databases = Databases()
    writer, reader = backend.node("w", databases=databases), backend.node("r", databases=databases)
    async with loaded(writer, reader):
        await make_table(writer, t)
        proc = Process()
        await send(writer, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, "x"]], proc)
        assert await send(reader, f"SELECT name FROM {t}", proc) == [{"name": "x"}]
        await proc.exit(RuntimeError("boom"))
        assert await send(reader, f"SELECT name FROM {t}") == []


async def test_a_child_process_joins_its_parents_transaction(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        parent = Process()
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, "parent"]], parent)
        child = parent.fork()
        # SQLite has one connection: a second transaction here would wait for the parent forever.
        rows = await asyncio.wait_for(send(db, f"SELECT name FROM {t}", child), 5)
        assert rows == [{"name": "parent"}]
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [2, "child"]], child)
        await child.exit()
        await parent.exit(RuntimeError("fail"))
        assert await send(db, f"SELECT name FROM {t}") == []


async def test_concurrent_processes_each_commit(backend):
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)

        async def one(i):
            proc = Process()
            await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [i, f"n{i}"]], proc)
            await asyncio.sleep(0)
            await send(db, [f"SELECT name FROM {t} WHERE id = ?", [i]], proc)
            await proc.exit()

        await asyncio.gather(*(one(i) for i in range(20)))
        assert await send(db, f"SELECT COUNT(*) AS n FROM {t}") == [{"n": 20}]


@pytest.mark.parametrize("level", ["read uncommitted", "read committed", "repeatable read", "serializable"])
async def test_isolation_levels(backend, level):
    t = backend.table()
    async with loaded(backend.node(isolation=level)) as db:
        await make_table(db, t)
        proc = Process()
        await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [1, "x"]], proc)
        if backend.driver == "postgres":
            assert await send(db, "SHOW transaction_isolation", proc) == [{"transaction_isolation": level}]
        await proc.exit()
        assert await send(db, f"SELECT name FROM {t}") == [{"name": "x"}]


async def test_conflicting_isolation_in_one_process_is_an_error(backend):
    databases = Databases()
    plain_node = backend.node("a", databases=databases)
    strict = backend.node("b", isolation="serializable", databases=databases)
    async with loaded(plain_node, strict):
        proc = Process()
        await send(plain_node, "SELECT 1 AS one", proc)
        answer = await send(strict, "SELECT 1 AS one", proc)
        await proc.exit()
        assert isinstance(answer, SQLError) and "sql node 'b'" in str(answer) and "isolation" in str(answer)


@pytest.mark.parametrize("payload,message", [
    (42, "input: expected a query string or [query, args], got int"),
    (None, "got null"),
    ([1, 2], "first item is not a string"),
    (["SELECT 1", 5], "args: expected a list, a map or a list of maps, got int"),
])
async def test_bad_input_names_the_node_and_the_input(backend, payload, message):
    async with loaded(backend.node("q")) as db:
        answer = await send(db, payload)
        assert isinstance(answer, SQLError)
        assert str(answer).startswith("sql node 'q': input: ") and message in str(answer)


async def test_placeholders_that_do_not_fit_the_args(backend):
    async with loaded(backend.node("q")) as db:
        answer = await send(db, ["SELECT ? AS a", {"a": 1}])
        assert isinstance(answer, QueryFailed) and "args is a map" in str(answer)


async def test_a_closed_node_answers_an_error_naming_node_and_database(backend):
    node = backend.node("gone")
    await node.load()
    await node.close()
    answer = await send(node, "SELECT 1")
    assert isinstance(answer, Unavailable)
    assert "sql node 'gone'" in str(answer) and "closed" in str(answer)


async def test_a_database_shared_by_nodes_closes_with_the_last(backend):
    databases = Databases()
    a, b = backend.node("a", databases=databases), backend.node("b", databases=databases)
    await a.load()
    await b.load()
    assert a._db is b._db
    await a.close()
    assert await send(b, "SELECT 1 AS one") == [{"one": 1}]
    await b.close()
    assert not databases._entries


async def test_a_statement_before_load_opens_the_pool(backend):
    # A lifecycle ``init`` port may reach a node before it is loaded.
    node = backend.node()
    try:
        assert await send(node, "SELECT 1 AS one") == [{"one": 1}]
    finally:
        await node.close()


async def test_a_process_whose_only_statement_is_a_write_commits_or_rolls_back_each_time(backend):
    # The same INSERT, alone in its process, several times: on PostgreSQL it is sent with BEGIN in one
    # write, and prepared from its second run on; a failure after it must still undo it, every time.
    t = backend.table()
    async with loaded(backend.node()) as db:
        await make_table(db, t)
        for i in range(4):
            kept = Process()
            await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [2 * i, f"kept{i}"]], kept)
            await kept.exit()
            dropped = Process()
            await send(db, [f"INSERT INTO {t} (id, name) VALUES (?, ?)", [2 * i + 1, f"dropped{i}"]], dropped)
            await dropped.exit(RuntimeError("a later node failed"))
        assert await send(db, f"SELECT id FROM {t} ORDER BY id") == [{"id": 0}, {"id": 2}, {"id": 4}, {"id": 6}]
