"""Revisions, history and expected revisions: the store contract, checked on every backend."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from portflow.errors import RevisionConflict, UserError
from portflow.store import Batch, Store, open_store

from .test_contract import doc, next_event


async def test_every_write_records_a_revision_newest_first(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha", v=1)])
    await store.specs.update([doc("a", "alpha", v=2)])
    await store.specs.commit(Batch(update=[doc("a", "alpha", v=3)]))
    await store.specs.delete({"id": "a"})
    history = await store.specs.history({"namespace": "default", "name": "alpha"})
    assert [(r.op, r.doc and r.doc["v"]) for r in history] == [
        ("delete", None), ("update", 3), ("update", 2), ("insert", 1)]
    revs = [r.revision for r in history]
    assert revs == sorted(revs, reverse=True) and len(set(revs)) == 4
    assert all(r.id == "a" and r.namespace == "default" and r.name == "alpha" for r in history)
    assert all(r.at.endswith("Z") and r.at[:4].isdigit() for r in history)
    assert history[1].doc == doc("a", "alpha", v=3)
    assert await store.specs.history({"id": "a"}, limit=2) == history[:2]
    assert await store.values.history() == []  # the collections keep their own history


async def test_a_document_revision_is_its_last_write(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha"), doc("b", "beta")])
    first = await store.specs.revisions(["a", "b", "missing"])
    assert set(first) == {"a", "b"} and first["a"] != first["b"]
    batch = Batch(update=[doc("a", "alpha", v=2)])
    await store.specs.commit(batch)
    now = await store.specs.revisions(["a", "b"])
    assert now["a"] > max(first.values()) and now["b"] == first["b"]
    assert batch.revisions == {"a": now["a"]}
    history = await store.specs.history({"id": "a"}, limit=1)
    assert history[0].revision == now["a"]
    await store.specs.delete({"id": "b"})
    assert await store.specs.revisions(["b"]) == {}


async def test_an_expected_revision_that_is_current_commits(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha", v=1)])
    rev = (await store.specs.revisions(["a"]))["a"]
    assert await store.specs.commit(Batch(update=[doc("a", "alpha", v=2)], expect={"a": rev})) == 1
    assert (await store.specs.find())[0]["v"] == 2


async def test_a_stale_revision_refuses_the_whole_batch(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha", v=1), doc("b", "beta", v=1)])
    rev = (await store.specs.revisions(["a"]))["a"]
    await store.specs.update([doc("a", "alpha", v=2)])  # someone else writes in between
    w = store.specs.watch()
    with pytest.raises(RevisionConflict, match=rf"'a' is at revision {rev + 2}, not {rev}"):
        await store.specs.commit(Batch(insert=[doc("c", "gamma")], update=[doc("b", "beta", v=9)],
                                       expect={"a": rev}))
    assert sorted((d["id"], d.get("v")) for d in await store.specs.find()) == [("a", 2), ("b", 1)]
    assert len(await store.specs.history({"id": "b"})) == 1
    await store.specs.insert([doc("marker")])
    assert (await next_event(w)).id == "marker"  # the refused batch logged no change
    await w.aclose()


async def test_an_expected_revision_of_a_deleted_document_conflicts(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha")])
    rev = (await store.specs.revisions(["a"]))["a"]
    await store.specs.delete({"id": "a"})
    with pytest.raises(RevisionConflict, match="does not exist"):
        await store.specs.commit(Batch(insert=[doc("a", "alpha")], expect={"a": rev}))
    assert await store.specs.find() == []


async def test_expected_revisions_are_checked(store: Store) -> None:
    with pytest.raises(UserError, match="expected revision"):
        await store.specs.commit(Batch(insert=[doc("a")], expect={"a": "3"}))  # type: ignore[dict-item]
    with pytest.raises(UserError, match="history: limit"):
        await store.specs.history(limit=-1)
    with pytest.raises(UserError, match="only use id, namespace and name"):
        await store.specs.history({"kind": "x"})


async def test_history_is_trimmed_to_the_newest_revisions_per_document(store: Store) -> None:
    store.history_keep = 3
    await store.specs.insert([doc("a", "alpha", v=0), doc("b", "beta", v=0)])
    for v in range(1, 6):
        await store.specs.update([doc("a", "alpha", v=v)])
    assert [r.doc["v"] for r in await store.specs.history({"id": "a"})] == [5, 4, 3]
    assert len(await store.specs.history({"id": "b"})) == 1
    rev = (await store.specs.revisions(["a"]))["a"]
    assert (await store.specs.history({"id": "a"}, limit=1))[0].revision == rev


async def test_two_writers_with_one_expected_revision_one_wins(store_url: str) -> None:
    """Two store objects (two connections on PostgreSQL and SQLite) race to update one document from the
    same revision: exactly one commits, the other gets a conflict, and the history shows one update."""
    async with open_store(store_url) as a, open_store(store_url) as b:
        await a.specs.insert([doc("x", "x", v=0)])
        rev = (await a.specs.revisions(["x"]))["x"]

        async def write(s: Store, v: int) -> str:
            try:
                await s.specs.commit(Batch(update=[doc("x", "x", v=v)], expect={"x": rev}))
            except RevisionConflict:
                return "conflict"
            return "ok"

        results = await asyncio.gather(*(write(s, v) for s, v in ((a, 1), (b, 2)) for _ in range(5)))
        assert sorted(results) == ["conflict"] * 9 + ["ok"]
        history = await b.specs.history({"id": "x"})
        assert [r.op for r in history] == ["update", "insert"]
        assert (await a.specs.find())[0]["v"] == history[0].doc["v"]


async def test_a_store_of_the_previous_version_migrates(tmp_path: Path) -> None:
    """A SQLite file without a history table (as the previous version wrote it) opens fine: its
    documents get a first revision and every later write is recorded."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE portflow_specs (pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL,
                                     name TEXT, doc TEXT NOT NULL);
        CREATE UNIQUE INDEX portflow_specs_namespace_name ON portflow_specs (namespace, name);
        CREATE TABLE portflow_values (pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL,
                                      name TEXT, doc TEXT NOT NULL);
        CREATE TABLE portflow_changelog (seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL,
            op TEXT NOT NULL, id TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT,
            at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
        INSERT INTO portflow_specs (id, namespace, name, doc)
            VALUES ('a', 'default', 'alpha', '{"id":"a","namespace":"default","name":"alpha","v":1}');
    """)
    conn.commit()
    conn.close()
    async with open_store(f"sqlite:///{path}") as store:
        assert [d["v"] for d in await store.specs.find()] == [1]
        [first] = await store.specs.history({"id": "a"})
        assert (first.op, first.doc["v"]) == ("insert", 1)
        await store.specs.update([doc("a", "alpha", v=2)])
        assert [r.doc["v"] for r in await store.specs.history({"id": "a"})] == [2, 1]
    async with open_store(f"sqlite:///{path}") as store:  # opening again adds nothing
        assert len(await store.specs.history({"id": "a"})) == 2


async def test_a_postgres_store_of_the_previous_version_migrates(postgres_url: str) -> None:
    import psycopg

    from .conftest import reset_postgres

    reset_postgres(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("""CREATE TABLE portflow_specs (pos BIGSERIAL NOT NULL, id TEXT PRIMARY KEY,
                        namespace TEXT NOT NULL, name TEXT, doc JSONB NOT NULL)""")
        conn.execute("""INSERT INTO portflow_specs (id, namespace, name, doc)
                        VALUES ('a', 'default', 'alpha', '{"id":"a","namespace":"default","name":"alpha","v":1}')""")
    async with open_store(postgres_url) as store:
        [first] = await store.specs.history({"namespace": "default", "name": "alpha"})
        assert (first.op, first.doc["v"]) == ("insert", 1)
        rev = (await store.specs.revisions(["a"]))["a"]
        assert rev == first.revision
        await store.specs.commit(Batch(update=[doc("a", "alpha", v=2)], expect={"a": rev}))
        assert [r.doc["v"] for r in await store.specs.history({"id": "a"})] == [2, 1]
    reset_postgres(postgres_url)


async def test_history_by_name_or_id(store: Store) -> None:
    """What `portflow history NAME` asks: the revisions of a name in a namespace, or of an id."""
    await store.specs.insert([doc("a", "alpha", namespace="x"), doc("b", "alpha", namespace="y"), doc("c", "gamma")])
    by_name = await store.specs.history({"$or": [{"namespace": "x", "name": "alpha"}, {"id": "alpha"}]})
    assert [r.id for r in by_name] == ["a"]
    by_id = await store.specs.history({"$or": [{"namespace": "x", "name": "c"}, {"id": "c"}]})
    assert [r.id for r in by_id] == ["c"]
    assert [r.id for r in await store.specs.history({"namespace": ["x", "y"]})] == ["b", "a"]
