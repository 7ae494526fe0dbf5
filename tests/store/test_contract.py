"""The store contract, checked on every backend (memory, sqlite, postgres)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from portflow.errors import ConflictError, StoreError, UserError
from portflow.store import Event, Store, Watch, open_store

TIMEOUT = 5.0


def doc(id: str, name: str | None = None, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"id": id, "namespace": namespace}
    if name is not None:
        d["name"] = name
    d.update(fields)
    return d


async def next_event(w: Watch) -> Event:
    return await asyncio.wait_for(anext(w), TIMEOUT)


async def take(w: Watch, n: int) -> list[Event]:
    return [await next_event(w) for _ in range(n)]


async def assert_quiet(store: Store, w: Watch, collection: str) -> None:
    """``w`` (unfiltered, on ``collection``) has nothing more: a marker written now is the next event it gets."""
    await getattr(store, collection).insert([doc("zz-marker", "zz-marker", namespace="zz-marker")])
    event = await next_event(w)
    assert event.id == "zz-marker", f"unexpected event {event}"


# ------------------------------------------------------------------------------------------ documents


async def test_documents_round_trip_as_equal_dicts(store: Store) -> None:
    d = doc(
        "a",
        "alpha",
        kind="listener",
        port=8000,
        ratio=0.25,
        on=True,
        off=False,
        nothing=None,
        text="héllo ✓ \"quoted\" 'single'",
        items=[1, "two", 3.5, None, [True], {"k": "v"}],
        nested={"a": {"b": [1, 2, {"c": None}]}, "empty": {}, "list": []},
        big=2**53 + 1,
    )
    await store.specs.insert([d])
    assert await store.specs.find() == [d]
    assert await store.specs.find({"id": "a"}) == [d]


async def test_found_documents_are_copies(store: Store) -> None:
    d = doc("a", "alpha", data={"x": [1]})
    await store.specs.insert([d])
    d["data"]["x"].append(2)  # the caller's document is not the stored one
    found = (await store.specs.find())[0]
    assert found["data"] == {"x": [1]}
    found["data"]["x"].append(3)
    assert (await store.specs.find())[0]["data"] == {"x": [1]}


async def test_find_keeps_insertion_order_across_updates(store: Store) -> None:
    names = ["m", "c", "x", "a", "k"]
    await store.specs.insert([doc(f"id-{n}", n) for n in names[:3]])
    await store.specs.insert([doc(f"id-{n}", n) for n in names[3:]])
    assert [d["name"] for d in await store.specs.find()] == names
    await store.specs.update([doc("id-c", "c", extra=1)])
    assert [d["name"] for d in await store.specs.find()] == names
    await store.specs.delete({"name": "x"})
    await store.specs.insert([doc("id-x", "x")])
    assert [d["name"] for d in await store.specs.find()] == ["m", "c", "a", "k", "x"]


async def test_find_limit(store: Store) -> None:
    await store.specs.insert([doc(f"{i}", f"n{i}", kind="k") for i in range(5)])
    assert [d["id"] for d in await store.specs.find(limit=2)] == ["0", "1"]
    assert [d["id"] for d in await store.specs.find({"kind": "k"}, limit=3)] == ["0", "1", "2"]
    assert await store.specs.find(limit=0) == []
    assert len(await store.specs.find(limit=100)) == 5
    with pytest.raises(UserError, match="limit"):
        await store.specs.find(limit=-1)


async def test_collections_are_separate(store: Store) -> None:
    await store.specs.insert([doc("same", "same")])
    await store.values.insert([doc("same", "same")])  # same id and name, other collection: no conflict
    assert await store.specs.find() == [doc("same", "same")]
    assert await store.values.find() == [doc("same", "same")]
    assert await store.values.delete({}) == 1
    assert len(await store.specs.find()) == 1


async def test_documents_are_validated(store: Store) -> None:
    with pytest.raises(UserError, match="id"):
        await store.specs.insert([{"namespace": "default", "name": "x"}])
    with pytest.raises(UserError, match="namespace"):
        await store.specs.insert([{"id": "a", "name": "x"}])
    with pytest.raises(UserError, match="name"):
        await store.specs.insert([{"id": "a", "namespace": "default", "name": 5}])
    with pytest.raises(UserError, match="JSON"):
        await store.specs.insert([doc("a", "x", when=object())])
    with pytest.raises(UserError, match="sequence"):
        await store.specs.insert(doc("a", "x"))  # type: ignore[arg-type]
    assert await store.specs.find() == []
    assert await store.head() == 0


# -------------------------------------------------------------------------------------------- filters


@pytest.fixture
async def filled(store: Store) -> Store:
    await store.specs.insert(
        [
            doc("1", "a", kind="listener", port=8000, tls=True, tags=["x", "y"], meta={"k": 1}),
            doc("2", "b", kind="router", port=8000.0, tls=False, meta={"k": 2}),
            doc("3", "c", namespace="other", kind="listener", port="8000", tls=1),
            doc("4", None, kind="snippet", note=None),
            doc("5", "e", namespace="other", kind="router"),
        ]
    )
    return store


async def ids(store: Store, filter: Any = None, **kw: Any) -> list[str]:
    return [d["id"] for d in await store.specs.find(filter, **kw)]


async def test_filter_on_columns(filled: Store) -> None:
    assert await ids(filled, {"namespace": "default"}) == ["1", "2", "4"]
    assert await ids(filled, {"namespace": "other", "name": "c"}) == ["3"]
    assert await ids(filled, {"id": "5"}) == ["5"]
    assert await ids(filled, {"name": None}) == ["4"]
    assert await ids(filled, {"name": "nope"}) == []
    assert await ids(filled, None) == ["1", "2", "3", "4", "5"]
    assert await ids(filled, {}) == ["1", "2", "3", "4", "5"]


async def test_filter_any_of(filled: Store) -> None:
    assert await ids(filled, {"id": ["5", "1", "nope"]}) == ["1", "5"]
    assert await ids(filled, {"name": ("a", "c")}) == ["1", "3"]
    assert await ids(filled, {"kind": {"router", "snippet"}}) == ["2", "4", "5"]
    assert await ids(filled, {"name": ["a", None]}) == ["1", "4"]
    assert await ids(filled, {"id": []}) == []


async def test_filter_or(filled: Store) -> None:
    f = {"$or": [{"name": "a"}, {"kind": "router"}]}
    assert await ids(filled, f) == ["1", "2", "5"]
    assert await ids(filled, {**f, "namespace": "other"}) == ["5"]
    assert await ids(filled, {"$or": []}) == []
    nested = {"$or": [{"$or": [{"id": "1"}, {"id": "2"}], "kind": "router"}, {"id": "4"}]}
    assert await ids(filled, nested) == ["2", "4"]


async def test_filter_on_json_fields(filled: Store) -> None:
    assert await ids(filled, {"kind": "listener"}) == ["1", "3"]
    assert await ids(filled, {"kind": "listener", "namespace": "default"}) == ["1"]
    # numbers compare as numbers (8000 == 8000.0), never as strings or bools
    assert await ids(filled, {"port": 8000}) == ["1", "2"]
    assert await ids(filled, {"port": "8000"}) == ["3"]
    assert await ids(filled, {"tls": True}) == ["1"]
    assert await ids(filled, {"tls": 1}) == ["3"]
    assert await ids(filled, {"tls": False}) == ["2"]
    # None matches a null or a missing field
    assert await ids(filled, {"note": None, "kind": "snippet"}) == ["4"]
    assert await ids(filled, {"port": None}) == ["4", "5"]
    # whole lists and objects compare by value (a list inside an any-of list)
    assert await ids(filled, {"tags": [["x", "y"]]}) == ["1"]
    assert await ids(filled, {"tags": [["y", "x"]]}) == []
    assert await ids(filled, {"meta": {"k": 2}}) == ["2"]
    assert await ids(filled, {"meta": {"k": 2}}, limit=1) == ["2"]
    assert await ids(filled, {"nope": "x"}) == []


async def test_filter_values_are_data_not_sql(filled: Store) -> None:
    await filled.specs.insert([doc("6", "x' OR '1'='1", kind="k'; DROP TABLE portflow_specs; --")])
    assert await ids(filled, {"name": "' OR '1'='1"}) == []
    assert await ids(filled, {"name": "x' OR '1'='1"}) == ["6"]
    assert await ids(filled, {"kind": "k'; DROP TABLE portflow_specs; --"}) == ["6"]
    assert len(await filled.specs.find()) == 6


@pytest.mark.parametrize(
    "bad",
    [
        {"a b": 1},
        {"kind') OR 1=1 --": 1},
        {"": 1},
        {"meta.k": 1},
        {"$and": []},
        {"$or": {"a": 1}},
        {1: 2},
        {"kind": object()},
        {"kind": [b"bytes"]},
    ],
)
async def test_bad_filters_are_user_errors(store: Store, bad: Any) -> None:
    with pytest.raises(UserError):
        await store.specs.find(bad)
    with pytest.raises(UserError):
        await store.specs.delete(bad)


# ---------------------------------------------------------------------------------------- uniqueness


async def test_duplicate_id_is_a_conflict_and_nothing_is_written(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha")])
    head = await store.head()
    with pytest.raises(ConflictError) as err:
        await store.specs.insert([doc("b", "beta"), doc("a", "other")])
    message = str(err.value)
    assert "specs" in message and "'a'" in message and "\n" not in message
    assert await ids(store) == ["a"]
    assert await store.head() == head


async def test_duplicate_name_is_a_conflict_and_nothing_is_written(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha")])
    with pytest.raises(ConflictError) as err:
        await store.specs.insert([doc("b", "beta"), doc("c", "alpha")])
    message = str(err.value)
    assert "specs" in message and "'default'" in message and "'alpha'" in message and "\n" not in message
    assert await ids(store) == ["a"]


async def test_duplicates_within_one_batch(store: Store) -> None:
    with pytest.raises(ConflictError, match="'a'"):
        await store.values.insert([doc("a", "x"), doc("a", "y")])
    with pytest.raises(ConflictError, match="'x'"):
        await store.values.insert([doc("a", "x"), doc("b", "x")])
    assert await store.values.find() == []
    assert await store.head() == 0


async def test_names_are_unique_per_namespace_and_optional(store: Store) -> None:
    await store.specs.insert(
        [doc("a", "same"), doc("b", "same", namespace="other"), doc("c"), doc("d"), doc("e", namespace="other")]
    )
    assert await ids(store) == ["a", "b", "c", "d", "e"]


# -------------------------------------------------------------------------------------------- update


async def test_update_by_id_replaces_the_document(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha", kind="k", old=1)])
    assert await store.specs.update([doc("a", "renamed", kind="k2")]) == 1
    assert await store.specs.find() == [doc("a", "renamed", kind="k2")]  # replaced, "old" is gone
    assert await ids(store, {"name": "alpha"}) == []


async def test_update_by_namespace_and_name_keeps_the_id(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha", v=1), doc("b", "alpha", namespace="other", v=1)])
    n = await store.specs.update([{"namespace": "other", "name": "alpha", "v": 2}])
    assert n == 1
    assert await store.specs.find({"namespace": "other"}) == [doc("b", "alpha", namespace="other", v=2)]
    assert await store.specs.find({"namespace": "default"}) == [doc("a", "alpha", v=1)]


async def test_update_skips_what_matches_nothing(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha")])
    head = await store.head()
    assert await store.specs.update([doc("nope", "alpha", v=1), {"namespace": "default", "name": "nope"}]) == 0
    assert await store.specs.update([]) == 0
    assert await store.head() == head
    assert await store.specs.update([doc("nope", "x"), doc("a", "alpha", v=2)]) == 1
    assert await store.specs.find() == [doc("a", "alpha", v=2)]


async def test_update_conflict_writes_nothing(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha"), doc("b", "beta")])
    head = await store.head()
    with pytest.raises(ConflictError) as err:
        await store.specs.update([doc("a", "alpha", v=1), doc("b", "alpha")])
    assert "'default'" in str(err.value) and "'alpha'" in str(err.value)
    assert await store.specs.find() == [doc("a", "alpha"), doc("b", "beta")]
    assert await store.head() == head


async def test_update_needs_an_id_or_a_name(store: Store) -> None:
    with pytest.raises(UserError):
        await store.specs.update([{"namespace": "default", "v": 1}])


# -------------------------------------------------------------------------------------------- delete


async def test_delete_returns_the_count(filled: Store) -> None:
    assert await filled.specs.delete({"kind": "router"}) == 2
    assert await filled.specs.delete({"kind": "router"}) == 0
    assert await ids(filled) == ["1", "3", "4"]
    assert await filled.specs.delete({"namespace": "other"}) == 1
    assert await filled.specs.delete({}) == 2
    assert await filled.specs.find() == []


# ------------------------------------------------------------------------------------------ changelog


async def test_every_change_is_an_event_in_seq_order(store: Store) -> None:
    w = store.specs.watch()
    assert w.last_seq == 0
    await store.specs.insert([doc("a", "alpha"), doc("b", "beta", namespace="ns")])
    await store.specs.update([doc("a", "alpha", v=1)])
    await store.specs.delete({"id": "b"})
    events = await take(w, 4)
    assert [(e.op, e.id, e.namespace, e.name) for e in events] == [
        ("insert", "a", "default", "alpha"),
        ("insert", "b", "ns", "beta"),
        ("update", "a", "default", "alpha"),
        ("delete", "b", "ns", "beta"),
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert w.last_seq == 4
    assert await store.head() == 4
    await w.aclose()


async def test_specs_and_values_share_one_seq_space(store: Store) -> None:
    specs, values = store.specs.watch(), store.values.watch()
    await store.values.insert([doc("v1", "v")])
    await store.specs.insert([doc("s1", "s")])
    await store.values.delete({})
    assert [(e.op, e.id, e.seq) for e in await take(values, 2)] == [("insert", "v1", 1), ("delete", "v1", 3)]
    assert [(e.op, e.id, e.seq) for e in await take(specs, 1)] == [("insert", "s1", 2)]
    await assert_quiet(store, specs, "specs")
    await assert_quiet(store, values, "values")
    await specs.aclose()
    await values.aclose()


async def test_events_name_the_document_after_the_change(store: Store) -> None:
    await store.specs.insert([doc("a", "alpha")])
    w = store.specs.watch()
    await store.specs.update([doc("a", "beta", namespace="other")])
    assert await next_event(w) == Event("update", "a", "other", "beta", 2)
    await store.specs.insert([doc("n")])
    assert await next_event(w) == Event("insert", "n", "default", None, 3)
    await w.aclose()


async def test_watch_filter_sees_deletes_by_namespace(store: Store) -> None:
    await store.specs.insert([doc("a", "x", namespace="one"), doc("b", "y", namespace="two")])
    w = store.specs.watch({"namespace": "one"})
    await store.specs.delete({})
    await store.specs.insert([doc("c", "z", namespace="one")])
    assert [(e.op, e.id) for e in await take(w, 2)] == [("delete", "a"), ("insert", "c")]
    await w.aclose()


async def test_watch_filter_by_id_and_name(store: Store) -> None:
    by_id = store.specs.watch({"id": ["b", "c"]})
    by_name = store.specs.watch({"$or": [{"name": "x"}, {"namespace": "two"}]})
    await store.specs.insert([doc("a", "x"), doc("b", "y"), doc("c", "z", namespace="two"), doc("d", "w")])
    assert [e.id for e in await take(by_id, 2)] == ["b", "c"]
    assert [e.id for e in await take(by_name, 2)] == ["a", "c"]
    await store.specs.insert([doc("e", "x", namespace="three")])
    assert (await next_event(by_name)).id == "e"
    await by_id.aclose()
    await by_name.aclose()


@pytest.mark.parametrize("bad", [{"kind": "listener"}, {"$or": [{"data": 1}]}, {"a b": 1}])
async def test_watch_filter_only_on_id_namespace_name(store: Store, bad: Any) -> None:
    with pytest.raises(UserError):
        store.specs.watch(bad)


async def test_watch_without_since_starts_now(store: Store) -> None:
    await store.specs.insert([doc("before", "before")])
    w = store.specs.watch()
    assert w.last_seq == 1
    await store.specs.insert([doc("after", "after")])
    assert await next_event(w) == Event("insert", "after", "default", "after", 2)
    await w.aclose()


async def test_watch_since_replays_then_goes_live(store: Store) -> None:
    await store.specs.insert([doc(f"{i}", f"n{i}") for i in range(1, 6)])  # seqs 1..5
    await store.values.insert([doc("v", "v")])  # seq 6, another collection
    w = store.specs.watch(since=2)
    assert w.last_seq == 2
    await store.specs.delete({"id": "1"})  # seq 7, committed while the replay is pending
    events = await take(w, 4)
    assert [(e.op, e.id, e.seq) for e in events] == [
        ("insert", "3", 3),
        ("insert", "4", 4),
        ("insert", "5", 5),
        ("delete", "1", 7),
    ]
    await store.specs.insert([doc("9", "n9")])
    assert (await next_event(w)).seq == 8
    await w.aclose()

    everything = store.specs.watch(since=0)
    assert [e.seq for e in await take(everything, 7)] == [1, 2, 3, 4, 5, 7, 8]
    await everything.aclose()


async def test_resume_from_last_seq_loses_nothing_and_repeats_nothing(store: Store) -> None:
    w = store.specs.watch(since=0)
    await store.specs.insert([doc("a", "a"), doc("b", "b")])
    first = await next_event(w)
    await w.aclose()
    await store.specs.insert([doc("c", "c")])
    resumed = store.specs.watch(since=w.last_seq)
    assert [e.id for e in await take(resumed, 2)] == ["b", "c"]
    assert first.id == "a"
    await assert_quiet(store, resumed, "specs")
    await resumed.aclose()


async def test_many_concurrent_writers_lose_nothing(store: Store, store_url: str) -> None:
    """8 writers on two store objects of the same URL; a watcher gets every change, once, in seq order."""
    start = await store.head()
    w = store.specs.watch()
    async with open_store(store_url) as other:

        async def writer(s: Store, k: int) -> None:
            for i in range(25):
                await s.specs.insert([doc(f"w{k}-{i}", f"w{k}-{i}", namespace=f"ns{k % 3}")])
                if i % 5 == 4:
                    await s.specs.update([doc(f"w{k}-{i}", f"w{k}-{i}", namespace=f"ns{k % 3}", v=i)])

        await asyncio.gather(*(writer(store if k % 2 else other, k) for k in range(8)))
    events = await take(w, 8 * 30)
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), "out of order or duplicated"
    assert {e.id for e in events if e.op == "insert"} == {f"w{k}-{i}" for k in range(8) for i in range(25)}
    assert sum(e.op == "update" for e in events) == 40
    assert seqs[-1] == await store.head()
    replay = store.specs.watch(since=start)
    assert await take(replay, len(events)) == events
    await w.aclose()
    await replay.aclose()


async def test_a_second_store_object_sees_the_changes(store: Store, store_url: str) -> None:
    async with open_store(store_url) as other:
        w = other.specs.watch({"namespace": "default"})
        await store.specs.insert([doc("a", "a")])
        await store.specs.delete({"id": "a"})
        assert [(e.op, e.id) for e in await take(w, 2)] == [("insert", "a"), ("delete", "a")]
        assert await other.specs.find() == []
        await w.aclose()


async def test_aclose_ends_the_iteration(store: Store) -> None:
    w = store.specs.watch()
    pending = asyncio.ensure_future(anext(w))
    await asyncio.sleep(0)
    await w.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, TIMEOUT)
    async with store.specs.watch() as w2:
        await store.specs.insert([doc("a")])
        assert (await next_event(w2)).id == "a"
    assert [e async for e in w2] == []


async def test_a_dropped_watcher_is_forgotten(store: Store) -> None:
    w = store.specs.watch()
    assert store._feed.active
    await store.specs.insert([doc("a")])
    async for _ in w:
        break
    del w
    gc.collect()
    await asyncio.sleep(0)  # the collector hands the news to the loop
    assert not store._feed.active
    await store.specs.insert([doc("b")])  # nobody collects this event


async def test_closing_the_store_ends_its_watchers(store_url: str) -> None:
    s = open_store(store_url)
    await s.open()
    w = s.specs.watch()
    await s.specs.insert([doc("a")])
    await s.close()
    assert [e.id async for e in w] in ([], ["a"])  # the iteration ends
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(w), TIMEOUT)


async def test_a_closed_store_refuses_work(store_url: str) -> None:
    s = open_store(store_url)
    with pytest.raises(StoreError, match="not open"):
        await s.specs.find()
    async with s:
        await s.specs.insert([doc("a")])
    with pytest.raises(StoreError, match="not open"):
        await s.specs.insert([doc("b")])
    with pytest.raises(StoreError, match="not open"):
        s.specs.watch()
    async with s:  # it can be opened again, and the data is still there
        assert await ids(s) == ["a"]


async def test_the_store_is_an_async_context_manager(store_url: str) -> None:
    store = open_store(store_url)
    assert store.url == store_url
    async with store as s:
        assert s is store
        assert await s.head() == 0


# ----------------------------------------------------------------------------------------------- leases


async def test_a_lease_has_one_holder_until_it_is_released(store: Store) -> None:
    assert await store.acquire_lease("timer/a", "one", 30)
    assert not await store.acquire_lease("timer/a", "two", 30)
    assert await store.acquire_lease("timer/a", "one", 30)  # renewed by its holder
    assert await store.acquire_lease("timer/b", "two", 30)  # another name is another lease
    await store.release_lease("timer/a", "two")  # not its holder: nothing happens
    assert not await store.acquire_lease("timer/a", "two", 30)
    await store.release_lease("timer/a", "one")
    assert await store.acquire_lease("timer/a", "two", 30)
    assert not await store.acquire_lease("timer/a", "one", 30)


async def test_a_lease_not_renewed_expires_and_another_holder_takes_it(store: Store) -> None:
    assert await store.acquire_lease("timer/x", "dead", 0.3)
    assert not await store.acquire_lease("timer/x", "alive", 30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not await store.acquire_lease("timer/x", "alive", 30):
        assert loop.time() < deadline, "the expired lease was never taken over"
        await asyncio.sleep(0.05)
    assert not await store.acquire_lease("timer/x", "dead", 0.3)  # the old holder lost it


async def test_two_store_objects_on_one_database_see_one_lease(store: Store, store_url: str) -> None:
    async with open_store(store_url) as other:
        assert await store.acquire_lease("timer/shared", "a", 30)
        assert not await other.acquire_lease("timer/shared", "b", 30)
        await store.release_lease("timer/shared", "a")
        assert await other.acquire_lease("timer/shared", "b", 30)


async def test_lease_arguments_are_checked(store: Store) -> None:
    with pytest.raises(UserError, match="ttl"):
        await store.acquire_lease("n", "h", 0)
    with pytest.raises(UserError, match="non-empty"):
        await store.acquire_lease("", "h", 1)
