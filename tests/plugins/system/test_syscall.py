"""syscall: create, read, update and delete specs and values; rejected documents store nothing."""

from __future__ import annotations

from typing import Any

import pytest

from portflow.errors import SpecError
from portflow.plugins.system.syscall import Syscall, SyscallError, merge_patch

from .conftest import context_for, node_of, send_to, system_scheme


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    """An answered document as the store holds it: without its ``revision``."""
    return {k: v for k, v in doc.items() if k != "revision"}


ROUTER_LIKE = {"kind": "syscall", "name": "create", "opcode": "specs.create"}


@pytest.fixture
def call(store: Any):
    scheme, _, _ = system_scheme()

    async def run(opcode: str, payload: Any) -> Any:
        return await send_to(Syscall(opcode, store, scheme), payload)

    return run


async def test_create_one_spec_fills_id_and_namespace(call, store):
    out = await call("specs.create", dict(ROUTER_LIKE))
    assert isinstance(out, dict) and out["id"] and out["namespace"] == "default"
    assert await store.specs.find({"id": out["id"]}) == [stored(out)]
    assert out["revision"] == (await store.specs.revisions([out["id"]]))[out["id"]]


async def test_create_a_list_answers_a_list(call, store):
    out = await call("specs.create", [{"kind": "record", "name": "a"}, {"kind": "record", "name": "b",
                                                                        "namespace": "other"}])
    assert [d["name"] for d in out] == ["a", "b"]
    assert [d["namespace"] for d in out] == ["default", "other"]
    assert len(await store.specs.find()) == 2


async def test_invalid_spec_is_rejected_with_the_field_and_nothing_stored(call, store):
    out = await call("specs.create", [{"kind": "record", "name": "fine"},
                                      {"kind": "syscall", "name": "bad", "opcode": "specs.explode"}])
    assert isinstance(out, SyscallError) and out.status == 400
    assert "spec 'bad' (kind syscall)" in str(out) and "opcode" in str(out)
    assert out.problems and out.to_dict()["problems"] == out.problems
    assert await store.specs.find() == []


async def test_meta_problems_are_named_like_apply(call, store):
    out = await call("specs.create", {"name": "nokind"})
    assert isinstance(out, SyscallError) and out.status == 400
    assert "kind: required" in str(out)
    out = await call("specs.create", {"kind": "record", "ports": {"out": [{"name": "x"}]}})
    assert "ports.out[0].port: required" in str(out)


async def test_a_duplicate_name_is_a_conflict(call, store):
    await call("specs.create", {"kind": "record", "name": "a"})
    out = await call("specs.create", {"kind": "record", "name": "a"})
    assert isinstance(out, SyscallError) and out.status == 409
    assert len(await store.specs.find()) == 1


async def test_input_that_is_not_documents_is_400(call):
    for payload in ("text", 3, None, [1, 2]):
        out = await call("specs.create", payload)
        assert isinstance(out, SyscallError) and out.status == 400, payload
        assert str(out).startswith("input: expected a document")


async def test_read_by_filter_list_and_everything(call):
    a = await call("specs.create", {"kind": "record", "name": "a"})
    b = await call("specs.create", {"kind": "record", "name": "b", "namespace": "x"})
    assert await call("specs.read", None) == [a, b]
    assert await call("specs.read", {}) == [a, b]
    assert await call("specs.read", {"namespace": "x"}) == [b]
    assert await call("specs.read", {"id": a["id"]}) == [a]
    assert await call("specs.read", [{"name": "a"}, {"name": "b"}]) == [a, b]
    assert await call("specs.read", {"name": "nope"}) == []
    bad = await call("specs.read", {"$where": 1})
    assert isinstance(bad, SyscallError) and bad.status == 400


async def test_update_is_a_merge_patch(call, store):
    a = await call("specs.create", {"kind": "record", "name": "a", "annotations": {"x": "1", "y": "2"}})
    out = await call("specs.update", {"id": a["id"], "annotations": {"y": None, "z": "3"}})
    assert out["annotations"] == {"x": "1", "z": "3"}
    assert (await store.specs.find({"id": a["id"]}))[0] == stored(out)
    assert out["revision"] > a["revision"]
    renamed = await call("specs.update", {"id": a["id"], "name": "b"})
    assert renamed["name"] == "b" and renamed["id"] == a["id"]


async def test_update_by_namespace_and_name(call):
    a = await call("specs.create", {"kind": "record", "name": "a", "namespace": "x"})
    out = await call("specs.update", {"namespace": "x", "name": "a", "annotations": {"k": "v"}})
    assert out["id"] == a["id"] and out["annotations"] == {"k": "v"}


async def test_update_of_nothing_is_404(call):
    out = await call("specs.update", {"id": "missing", "name": "x"})
    assert isinstance(out, SyscallError) and out.status == 404
    out = await call("specs.update", {"annotations": {}})
    assert isinstance(out, SyscallError) and out.status == 400 and out.args[0].startswith("id: required")


async def test_update_that_breaks_the_spec_is_rejected_and_nothing_changes(call, store):
    a = await call("specs.create", {"kind": "syscall", "name": "s", "opcode": "specs.read"})
    out = await call("specs.update", {"id": a["id"], "opcode": "specs.nope"})
    assert isinstance(out, SyscallError) and out.status == 400 and "opcode" in str(out)
    assert (await store.specs.find({"id": a["id"]}))[0] == stored(a)
    out = await call("specs.update", {"id": a["id"], "namespace": "elsewhere"})
    assert isinstance(out, SyscallError) and "namespace: cannot change" in str(out)


async def test_update_onto_another_name_is_a_conflict(call):
    await call("specs.create", {"kind": "record", "name": "a"})
    b = await call("specs.create", {"kind": "record", "name": "b"})
    out = await call("specs.update", {"id": b["id"], "name": "a"})
    assert isinstance(out, SyscallError) and out.status == 409


async def test_delete_answers_what_it_deleted(call, store):
    a = await call("specs.create", {"kind": "record", "name": "a"})
    await call("specs.create", {"kind": "record", "name": "b"})
    assert await call("specs.delete", {"id": a["id"]}) == [a]
    assert [d["name"] for d in await store.specs.find()] == ["b"]
    assert await call("specs.delete", {"id": a["id"]}) == []
    for everything in (None, {}, []):
        out = await call("specs.delete", everything)
        assert isinstance(out, SyscallError) and out.status == 400
    assert len(await store.specs.find()) == 1


async def test_values_round_trip(call, store):
    v = await call("values.create", {"name": "token", "data": "s3cret"})
    assert v["namespace"] == "default" and v["data"] == "s3cret"
    assert await call("values.read", {"name": "token"}) == [v]
    out = await call("values.update", {"id": v["id"], "data": {"user": "u", "password": "p"}})
    assert out["data"] == {"user": "u", "password": "p"}
    assert await call("values.delete", {"name": "token"}) == [out]
    assert await store.values.find() == []


async def test_a_value_without_data_is_rejected(call, store):
    out = await call("values.create", {"name": "empty"})
    assert isinstance(out, SyscallError) and out.status == 400
    assert str(out) == "value 'empty': data: required"
    assert await store.values.find() == []


def test_merge_patch_follows_rfc_7386():
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch("x", {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_the_codec_uses_the_runtime_store_and_refuses_a_bad_opcode(store):
    ctx = context_for(store)
    node = ctx.scheme.compile(ctx.scheme.decode({"kind": "syscall", "name": "s", "opcode": "values.read"}), ctx)
    assert isinstance(node, Syscall) and node.store is store and node.opcode == "values.read"
    with pytest.raises(SpecError, match=r"spec 's' \(kind syscall\): opcode"):
        ctx.scheme.decode({"kind": "syscall", "name": "s", "opcode": "nodes.read"})


async def test_through_a_runtime(runtime, send):
    rt = await runtime("""
- kind: syscall
  name: create
  opcode: specs.create
- kind: syscall
  name: read
  opcode: specs.read
""", namespace="system")
    made = await send(node_of(rt, "create"), {"kind": "record", "name": "hello"})
    assert made["namespace"] == "default"
    found = await send(node_of(rt, "read"), {"namespace": "default"})
    assert found == [made]


# -- revisions ------------------------------------------------------------------------------------------

async def test_every_answered_document_carries_its_revision(call, store):
    a = await call("specs.create", {"kind": "record", "name": "a", "revision": 99})  # ignored: a new document
    assert "revision" not in (await store.specs.find())[0]
    [read] = await call("specs.read", {"id": a["id"]})
    assert read == a and a["revision"] == (await store.specs.revisions([a["id"]]))[a["id"]]
    b = await call("specs.update", {"id": a["id"], "annotations": {"k": "v"}})
    assert b["revision"] > a["revision"]
    assert await call("specs.delete", {"id": a["id"]}) == [b]


async def test_an_update_at_a_stale_revision_is_409_and_writes_nothing(call, store):
    a = await call("specs.create", {"kind": "record", "name": "a"})
    b = await call("specs.update", {"id": a["id"], "annotations": {"by": "first"}})
    out = await call("specs.update", {"id": a["id"], "annotations": {"by": "second"}, "revision": a["revision"]})
    assert isinstance(out, SyscallError) and out.status == 409
    assert str(out) == (f"revision: expected {a['revision']}, but it is at revision {b['revision']}: "
                        "it changed since it was read")
    assert (await store.specs.find())[0]["annotations"] == {"by": "first"}
    ok = await call("specs.update", {"id": a["id"], "annotations": {"by": "second"}, "revision": str(b["revision"])})
    assert ok["annotations"] == {"by": "second"}
    bad = await call("specs.update", {"id": a["id"], "revision": "latest"})
    assert isinstance(bad, SyscallError) and bad.status == 400 and str(bad).startswith("revision: expected")


async def test_replace_puts_the_whole_document(call, store):
    a = await call("specs.create", {"kind": "record", "name": "a", "annotations": {"x": "1"}})
    out = await call("specs.replace", {"id": a["id"], "kind": "record", "name": "a", "revision": a["revision"]})
    assert "annotations" not in out and out["namespace"] == "default" and out["revision"] > a["revision"]
    assert (await store.specs.find())[0] == stored(out)
    stale = await call("specs.replace", {"id": a["id"], "kind": "record", "name": "b", "revision": a["revision"]})
    assert isinstance(stale, SyscallError) and stale.status == 409
    missing = await call("specs.replace", {"id": "nope", "kind": "record", "name": "a"})
    assert isinstance(missing, SyscallError) and missing.status == 404


async def test_a_delete_at_a_stale_revision_is_409(call, store):
    a = await call("values.create", {"name": "v", "data": 1})
    b = await call("values.update", {"id": a["id"], "data": 2})
    out = await call("values.delete", {"id": a["id"], "revision": a["revision"]})
    assert isinstance(out, SyscallError) and out.status == 409
    assert len(await store.values.find()) == 1
    assert await call("values.delete", {"id": a["id"], "revision": b["revision"]}) == [b]


async def test_an_update_without_a_revision_merges_onto_a_write_that_came_between(store):
    """The syscall reads, merges, and writes over the revision it read; when another writer got in
    between, it reads and merges again rather than overwrite that write."""
    scheme, _, _ = system_scheme()
    node = Syscall("specs.update", store, scheme)
    await store.specs.insert([{"id": "a", "namespace": "default", "kind": "record", "name": "a",
                               "annotations": {"x": "0"}}])
    original = store.specs.revisions
    calls = 0

    async def racing_revisions(ids):  # the first read of the revision is followed by someone else's write
        nonlocal calls
        calls += 1
        revs = await original(ids)
        if calls == 1:
            await store.specs.update([{"id": "a", "namespace": "default", "kind": "record", "name": "a",
                                       "annotations": {"x": "0", "other": "writer"}}])
        return revs

    store.specs.revisions = racing_revisions
    try:
        out = await send_to(node, {"id": "a", "annotations": {"mine": "too"}})
    finally:
        del store.specs.revisions
    assert out["annotations"] == {"x": "0", "other": "writer", "mine": "too"}
    assert (await store.specs.find())[0]["annotations"] == out["annotations"]


async def test_secrets_opcodes_are_uniflow_v012s_values_with_a_deprecation_note(store, caplog):
    context = context_for(store)
    spec = context.scheme.decode({"kind": "syscall", "name": "old", "opcode": "secrets.create"})
    with caplog.at_level("WARNING", logger="portflow.syscall"):
        node = context.scheme.compile(spec, context)
    assert node.opcode == "values.create"
    assert "'secrets.create' is uniflow v0.12's name" in caplog.text and "use 'values.create'" in caplog.text
    out = await send_to(node, {"name": "db", "data": {"password": "x"}})
    assert [v["name"] for v in await store.values.find()] == ["db"] and out["name"] == "db"


async def test_charts_opcodes_store_checked_charts(store):
    scheme, _, _ = system_scheme()
    created = await send_to(Syscall("charts.create", store, scheme), {"name": "c", "specs": [{"kind": "nop"}]})
    assert created["name"] == "c" and [c["name"] for c in await store.charts.find()] == ["c"]
    rejected = await send_to(Syscall("charts.create", store, scheme), {"name": "d"})
    assert isinstance(rejected, SyscallError) and "specs: expected a non-empty list" in str(rejected)
