"""The sql node: a single-row select by primary key, on SQLite and on PostgreSQL.

Two measurements per database:

1. node: µs per query, each in its own process (begin, select, commit), straight into the node's
   in-port — the cost of the node, the driver and the transaction, without HTTP.
2. http: a runtime running ``listener -> key -> sql`` from YAML (``key`` is a tiny kind defined here that
   turns ``GET /users/42`` into ``["SELECT id, name, email FROM users WHERE id = ?", [42]]``, so that no
   snippet language is measured), loaded with ``wrk -t1 -c64`` for DURATION seconds; req/s and p99.

SQLite's file is put in ``SQLITE_JOURNAL`` mode first (default ``wal``, the mode a server would run in,
where the driver pools connections; ``delete`` measures the one-connection driver).

PostgreSQL is ``PORTFLOW_BENCH_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/postgres); a table
with a unique name is made and dropped. Without wrk, or without a reachable server, that part prints
``n/a``. Prints figures only; asserts nothing. Last line:
``sqlite_rps=… sqlite_p99_ms=… postgres_rps=… postgres_p99_ms=… sqlite_node_us=… postgres_node_us=…``
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.sql.drivers import Databases, default_drivers
from portflow.plugins.sql.node import SQLNode
from portflow.port import OutPort
from portflow.process import Process
from portflow.spec import Spec

ROWS = 10_000
NODE_QUERIES = 5_000
ROUNDS = 3
DURATION = int(os.environ.get("DURATION", "10"))
CONNS = int(os.environ.get("CONNS", "64"))
SQLITE_JOURNAL = os.environ.get("SQLITE_JOURNAL", "wal")
POSTGRES = os.environ.get("PORTFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


async def fill(node: SQLNode, table: str) -> None:
    proc = Process()
    out = OutPort("bench")
    out.link(node.in_port)
    for statement in (f"DROP TABLE IF EXISTS {table}",
                      f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, "
                      f"email VARCHAR(200))"):
        answer = await out.send(proc, Packet(statement))
        if isinstance(answer.payload, BaseException):
            raise answer.payload
    rows = [{"id": i, "name": f"user{i}", "email": f"user{i}@example.com"} for i in range(ROWS)]
    answer = await out.send(proc, Packet([f"INSERT INTO {table} (id, name, email) VALUES (:id, :name, :email)",
                                          rows]))
    if isinstance(answer.payload, BaseException):
        raise answer.payload
    await proc.exit()


async def node_us(node: SQLNode, table: str) -> float:
    out = OutPort("bench")
    out.link(node.in_port)
    query = f"SELECT id, name, email FROM {table} WHERE id = ?"
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(NODE_QUERIES):
            proc = Process()
            answer = await out.send(proc, Packet([query, [i % ROWS]]))
            await proc.exit()
        samples.append((time.perf_counter() - start) / NODE_QUERIES * 1e6)
        assert answer.payload and answer.payload[0]["id"] == (NODE_QUERIES - 1) % ROWS, answer.payload
    return statistics.median(samples)


# -- the HTTP flow ----------------------------------------------------------------------------------

class KeySpec(Spec, kw_only=True):
    """GET /users/ID -> [query, [ID]] (benchmark only)."""

    table: str


def compile_key(spec: KeySpec, context: Any) -> OneToOne:
    query = f"SELECT id, name, email FROM {spec.table} WHERE id = ?"

    def action(proc: Process, pck: Packet) -> Packet:
        path = pck.payload.get("path", "") if isinstance(pck.payload, dict) else ""
        tail = path.rsplit("/", 1)[-1]
        return Packet([query, [int(tail) if tail.isdigit() else -1]])

    return OneToOne(action)


FLOW = """
- kind: listener
  name: listener
  port: 0
  ports:
    out: [{{name: key, port: in}}]
- kind: key
  name: key
  table: {table}
  ports:
    out: [{{name: users, port: in}}]
- kind: sql
  name: users
  driver: {driver}
  source: '{source}'
"""


async def wrk(url: str) -> tuple[float, float] | None:
    if shutil.which("wrk") is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{CONNS}", f"-d{DURATION}s", "--latency", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    text = (await proc.communicate())[0].decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if errors:
        print(f"  wrk saw {errors.group(1)} non-2xx answers", file=sys.stderr)
    if not rps or not p99:
        print(text, file=sys.stderr)
        return None
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return float(rps.group(1)), float(p99.group(1)) * scale


async def http(driver: str, source: str, table: str) -> tuple[float, float] | None:
    from portflow.apply import apply, prepare_specs
    from portflow.plugins.net import register as register_net
    from portflow.plugins.sql import register as register_sql
    from portflow.runtime import Runtime
    from portflow.scheme import Scheme
    from portflow.spec import read_documents
    from portflow.store import open_store

    scheme = Scheme()
    register_net(scheme)
    register_sql(scheme)
    scheme.register("key", KeySpec, compile_key)
    store = open_store(f"memory://bench-{uuid.uuid4().hex}")
    await store.open()
    docs, problems = prepare_specs(read_documents(FLOW.format(driver=driver, source=source, table=table)), "default")
    assert not problems, problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, scheme=scheme, languages=object(), watch=False)
    try:
        problems = await runtime.start()
        assert not problems, problems
        listener = runtime.table.lookup("default", "listener").node
        url = f"{listener.url}/users/42"
        best = None
        for _ in range(2):  # the first run warms up (prepared statements, pool)
            best = await wrk(url)
        return best
    finally:
        await runtime.close()
        shared = runtime.context.shared
        if "net.listeners" in shared:
            await shared["net.listeners"].aclose()
        if Databases.KEY in shared:
            await shared[Databases.KEY].aclose()
        await store.close()


async def bench(driver: str, source: str, table: str) -> tuple[float | None, tuple[float, float] | None]:
    node = SQLNode(default_drivers().get(driver), source, name="bench", databases=Databases())
    try:
        await node.load()
        await fill(node, table)
        us = await node_us(node, table)
        print(f"{driver:9} node  {us:8.1f} µs/query (own process: begin, select by key, commit)")
        result = await http(driver, source, table)
        if result:
            print(f"{driver:9} http  {result[0]:8.0f} req/s  p99 {result[1]:.2f} ms  (wrk -t1 -c{CONNS}, {DURATION}s)")
        else:
            print(f"{driver:9} http  n/a (wrk missing or failed)")
        proc = Process()
        out = OutPort("bench")
        out.link(node.in_port)
        await out.send(proc, Packet(f"DROP TABLE IF EXISTS {table}"))
        await proc.exit()
        return us, result
    finally:
        await node.close()


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


async def main() -> None:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            mode = conn.execute(f"PRAGMA journal_mode = {SQLITE_JOURNAL}").fetchone()[0]
        print(f"sqlite    journal_mode={mode}")
        figures["sqlite"] = await bench("sqlite", path, "users")
    try:
        figures["postgres"] = await bench("postgres", POSTGRES, f"bench_users_{uuid.uuid4().hex[:8]}")
    except Exception as exc:  # noqa: BLE001 - no server: say so, do not fail
        print(f"postgres  n/a ({type(exc).__name__}: {exc})")
        figures["postgres"] = (None, None)
    line = []
    for name in ("sqlite", "postgres"):
        _us, result = figures[name]
        line.append(f"{name}_rps={fmt(result[0] if result else None, '.0f')}")
        line.append(f"{name}_p99_ms={fmt(result[1] if result else None, '.2f')}")
    for name in ("sqlite", "postgres"):
        line.append(f"{name}_node_us={fmt(figures[name][0], '.1f')}")
    print(" ".join(line))


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
