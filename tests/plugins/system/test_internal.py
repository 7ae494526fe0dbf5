"""The internal SQL driver: specs, values, symbols, processes and frames of the live runtime, read-only."""

from __future__ import annotations

import asyncio

import pytest

from portflow.errors import FlowError
from portflow.plugins.system import tables
from portflow.plugins.system.internal import Internal, InternalError
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
    values = await db.query('SELECT name, data FROM "values"')
    assert values == [{"name": "admin-token", "data": "very-secret"}]


async def test_symbols_show_the_stored_spec_not_the_rendered_secret(rt):
    rows = await Internal(rt.context).query("SELECT * FROM symbols WHERE name = 'guard'")
    assert rows[0]["token"] == "{{ .TOKEN }}" and rows[0]["loaded"] is True
    assert "very-secret" not in repr(rows)
    names = [r["name"] for r in await Internal(rt.context).query("SELECT name FROM symbols")]
    assert sorted(names) == ["guard", "reader", "sink"]


async def test_full_select_over_the_tables(rt):
    db = Internal(rt.context)
    assert await db.query("SELECT namespace, COUNT(*) AS n FROM `specs` GROUP BY namespace") == [
        {"namespace": "system", "n": 3}]
    assert await db.query("SELECT kind FROM specs ORDER BY kind") == [
        {"kind": "auth"}, {"kind": "record"}, {"kind": "syscall"}]
    assert await db.query("SELECT name FROM specs ORDER BY name DESC LIMIT ? OFFSET 1", [1]) == [{"name": "reader"}]
    # JSON functions over the nested columns (stored as their JSON text)
    assert await db.query("SELECT name FROM specs WHERE json_extract(annotations, '$.role') = 'api'") == [
        {"name": "reader"}]
    assert await db.query("SELECT annotations ->> '$.role' AS role FROM specs WHERE annotations IS NOT NULL") == [
        {"role": "api"}]
    # a join, and a column no row has reads as NULL (left out), as uniflow's engine reads a missing key
    joined = await db.query("SELECT s.name, y.loaded FROM specs s JOIN symbols y ON y.id = s.id WHERE s.name = ?",
                            ["sink"])
    assert joined == [{"name": "sink", "loaded": True}]
    assert await db.query("SELECT name, nothing_here FROM specs WHERE name = 'sink'") == [{"name": "sink"}]
    assert await db.query("SELECT name FROM specs WHERE nothing_here IS NULL AND name = 'sink'") == [
        {"name": "sink"}]
    # a batch: once per map
    batch = await db.query("SELECT name FROM specs WHERE name = :n", [{"n": "sink"}, {"n": "guard"}])
    assert batch == [{"name": "sink"}, {"name": "guard"}]


@pytest.mark.parametrize(("sql", "message"), [
    ("", "empty query"),
    ("DELETE FROM specs", "read-only"),
    ("UPDATE specs SET name = 'x'", "read-only"),
    ("CREATE TABLE t (x)", "read-only"),
    ("DROP TABLE specs", "read-only"),
    ("PRAGMA query_only = OFF", "read-only"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "read-only"),
    ("BEGIN", "read-only"),
    ("SELECT * FROM nodes", "no such table: nodes .tables: frames, processes, specs, symbols, values"),
    ("SELECT * FROM values", "quoted"),
    ("SELECT 1; DELETE FROM specs", "one statement at a time"),
    ("SELECT * FROM specs WHERE id = ?", "bindings"),
    ("SELECT * FROM specs WHERE id = :x", "x"),
    ("SELECT length(zeroblob(100000000))", "too big"),
])
async def test_what_cannot_run_is_one_clear_error(rt, sql, message):
    with pytest.raises(InternalError, match=message):
        await Internal(rt.context).query(sql, [] if "?" in sql else {} if ":x" in sql else None)


async def test_a_runaway_statement_is_stopped_and_the_loop_goes_on(rt):
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.ensure_future(tick())
    try:
        with pytest.raises(InternalError, match=f"longer than {tables.BUDGET} s and was stopped"):
            await Internal(rt.context).query(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n")
        before = ticks
        assert await Internal(rt.context).query("SELECT count(*) AS n FROM specs") == [{"n": 3}]
        await asyncio.sleep(0)
        assert ticks > before  # the loop runs after the stop
    finally:
        ticker.cancel()


def test_nested_cells_answer_decoded_and_a_lookalike_string_stays_a_string():
    docs = {"frames": [{"process_id": "p", "port": "in", "input": {"a": [1, 2]}, "output": '{"a":[1,2]}'},
                       {"process_id": "q", "port": "in", "input": b"\x00raw", "output": True}]}
    rows = tables.run("SELECT * FROM frames", None, docs, lambda a: ())
    assert rows == [{"process_id": "p", "port": "in", "input": {"a": [1, 2]}, "output": '{"a":[1,2]}'},
                    {"process_id": "q", "port": "in", "input": b"\x00raw", "output": 1}]
    assert tables.run("SELECT input -> '$.a' AS a FROM frames WHERE process_id = 'p'", None, docs,
                      lambda a: ()) == [{"a": "[1,2]"}]  # an expression's JSON is text, as SQLite makes it
    assert tables.named("SELECT * FROM `Frames` f JOIN \"specs\" s") == {"frames", "specs"}


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
    sink_sb, reader_sb = rt.table.lookup("system", "sink"), rt.table.lookup("system", "reader")
    # as uniflow's agent records them: the reader's out-port wrote, then the sink's in-port read
    assert [(f["symbol_id"], f["port"]) for f in frames] == [(reader_sb.id, "out"), (sink_sb.id, "in")]
    assert frames[0]["output"] == [] and "input" not in frames[0]  # no answer back yet
    assert frames[1]["input"] == [] and "output" not in frames[1]
    release.set()
    await task
    done = await db.query("SELECT port, input, output, time FROM frames WHERE process_id = ?", [proc.id])
    assert [(f["port"], f["input"], f["output"]) for f in done] == [("out", [], []), ("in", [], [])]
    assert all(f["time"].endswith("s") for f in done)  # a Go duration: the write answered, the read too
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


def test_the_functions_uniflows_engine_has_run_too():
    docs = {"processes": [{"id": "a", "status": 0, "start_time": 1}, {"id": "b", "status": 1, "start_time": 3},
                          {"id": "c", "status": 1, "start_time": 6}]}
    one = tables.run("SELECT concat_ws('-', id, NULL, status) AS c, nvl(parent_id, 'none') AS p, "
                     "nvl2(parent_id, 1, 2) AS q FROM processes WHERE id = 'a'", None, docs, lambda a: ())
    assert one == [{"c": "a-0", "p": "none", "q": 2}]
    [agg] = tables.run("SELECT bit_or(status) AS o, bit_and(status) AS a, bit_xor(start_time) AS x, "
                       "variance(start_time) AS v, var_pop(start_time) AS vp, stddev_pop(start_time) AS sp "
                       "FROM processes", None, docs, lambda a: ())
    assert (agg["o"], agg["a"], agg["x"]) == (1, 0, 1 ^ 3 ^ 6)
    assert agg["v"] == pytest.approx(19 / 3) and agg["vp"] == pytest.approx(38 / 9)
    assert agg["sp"] == pytest.approx((38 / 9) ** 0.5)
