"""The internal SQL driver: specs, values, symbols, processes and frames of the live runtime, read-only."""

from __future__ import annotations

import asyncio

import pytest

from portflow.errors import FlowError
from portflow.plugins.system.internal import Internal, InternalError, parse
from portflow.process import Process

from .conftest import node_of, send_to

FLOW = """
- kind: syscall
  name: reader
  opcode: specs.read
  annotations:
    role: api
  ports:
    out:
      - name: sink
        port: in
- kind: record
  name: sink
- kind: auth
  name: guard
  token: '{{ .TOKEN }}'
  env:
    TOKEN:
      name: admin-token
      data: '{{ . }}'
"""
VALUES = """
- name: admin-token
  data: very-secret
"""


def test_parse_the_supported_subset():
    q = parse('select "id", name FROM Specs WHERE namespace = ? AND name != :n and kind is not null LIMIT 2;')
    assert q.table == "specs" and q.columns == ("id", "name")
    assert [(c.column, c.op) for c in q.where] == [("namespace", "="), ("name", "!="), ("kind", "is not null")]
    assert parse("SELECT * FROM frames").columns is None


@pytest.mark.parametrize(("sql", "message"), [
    ("", "empty query"),
    ("DELETE FROM specs", "read-only"),
    ("SELECT * FROM nodes", "no such table: nodes"),
    ("SELECT * FROM specs ORDER BY id", "unexpected 'ORDER'"),
    ("SELECT * FROM specs WHERE id > 3", "expected =, != or IS"),
    ("SELECT * FROM specs WHERE id = ", "ends too early"),
    ("SELECT * FROM specs WHERE id = @x", "cannot read the query"),
])
def test_parse_errors_name_the_problem(sql, message):
    with pytest.raises(InternalError, match=message):
        parse(sql)


@pytest.fixture
async def rt(runtime):
    return await runtime(FLOW, namespace="system", values=VALUES)


async def test_specs_and_values_tables(rt):
    db = Internal(rt.context)
    specs = await db.query("SELECT id, name, kind FROM specs WHERE namespace = ?", ["system"])
    assert sorted(r["name"] for r in specs) == ["guard", "reader", "sink"]
    assert set(specs[0]) == {"id", "name", "kind"}
    one = await db.query("SELECT * FROM specs WHERE name = :name AND kind = 'syscall'", {"name": "reader"})
    assert one[0]["opcode"] == "specs.read" and one[0]["annotations"] == {"role": "api"}
    assert await db.query("SELECT * FROM specs WHERE name = NULL") == []
    assert len(await db.query("SELECT * FROM specs LIMIT 1")) == 1
    values = await db.query("SELECT name, data FROM values")
    assert values == [{"name": "admin-token", "data": "very-secret"}]


async def test_symbols_show_the_stored_spec_not_the_rendered_secret(rt):
    rows = await Internal(rt.context).query("SELECT * FROM symbols WHERE name = 'guard'")
    assert rows[0]["token"] == "{{ .TOKEN }}" and rows[0]["loaded"] is True
    assert "very-secret" not in repr(rows)
    names = [r["name"] for r in await Internal(rt.context).query("SELECT name FROM symbols")]
    assert sorted(names) == ["guard", "reader", "sink"]


async def test_argument_errors(rt):
    db = Internal(rt.context)
    with pytest.raises(InternalError, match="more \\?"):
        await db.query("SELECT * FROM specs WHERE id = ?", [])
    with pytest.raises(InternalError, match="no argument named 'x'"):
        await db.query("SELECT * FROM specs WHERE id = :x", {})
    with pytest.raises(InternalError, match="LIMIT"):
        await db.query("SELECT * FROM specs LIMIT ?", ["3"])


async def test_processes_and_frames_of_live_processes(rt):
    db = Internal(rt.context)
    assert await db.query("SELECT * FROM processes") == []
    sink = node_of(rt, "sink")
    reader = node_of(rt, "reader")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def slow(proc, pck):
        proc.set("user", "alice")
        inside.set()
        await release.wait()
        return pck

    sink._run.action, sink._run.is_async = slow, True
    proc = Process()
    task = asyncio.ensure_future(send_to(reader, {"namespace": "nowhere"}, proc=proc))
    await inside.wait()
    rows = await db.query("SELECT * FROM processes WHERE id = ?", [proc.id])
    assert rows and rows[0]["status"] == 0 and rows[0]["user"] == "alice" and isinstance(rows[0]["start_time"], int)
    frames = await db.query("SELECT * FROM frames WHERE process_id = ?", [proc.id])
    sink_sb = rt.table.lookup("system", "sink")
    assert [(f["symbol_id"], f["port"]) for f in frames] == [(sink_sb.id, "in")]
    assert frames[0]["input"] == [] and "output" not in frames[0]
    release.set()
    await task
    await proc.exit()
    assert await db.query("SELECT * FROM processes WHERE id = ?", [proc.id]) == []
    assert await db.query("SELECT * FROM frames") == []


async def test_the_sql_node_with_driver_internal(runtime):
    rt = await runtime("""
- kind: sql
  name: query
  driver: internal
- kind: record
  name: other
""", namespace="system", plugins=("sql",))
    node = node_of(rt, "query")
    rows = await send_to(node, ["SELECT name, kind FROM symbols WHERE name = ?", ["other"]])
    assert rows == [{"name": "other", "kind": "record"}]
    assert await send_to(node, "SELECT * FROM specs WHERE name = 'missing'") == []
    error = await send_to(node, "UPDATE specs SET name = 'x'")
    assert isinstance(error, FlowError) and "read-only" in str(error) and "query" in str(error)


def test_frames_never_show_credential_headers():
    from portflow.plugins.system.internal import _credentials_hidden

    request = {"method": "GET", "path": "/v1/specs",
               "header": {"Authorization": ["Bearer very-secret"], "Cookie": ["s=1"], "Accept": ["*/*"]}}
    shown = _credentials_hidden(request)
    assert shown["header"] == {"Authorization": ["***"], "Cookie": ["***"], "Accept": ["*/*"]}
    assert request["header"]["Authorization"] == ["Bearer very-secret"]  # the live payload is untouched
    assert _credentials_hidden("text") == "text"
