"""A single-row INSERT on PostgreSQL: the sql node against psycopg on one connection, in one run.

    .venv/bin/python benchmarks/sql_insert.py [N]

Prints µs per INSERT for: psycopg ``execute`` on one autocommit connection (one round trip, the server
commits); psycopg ``BEGIN``+INSERT pipelined then ``COMMIT`` on one connection (what a transaction costs at
least: two round trips); the pool's check-out and return alone; that transaction through the pool; and the sql node, each INSERT in its own
process (the node begins, inserts, and the process commits). Last line: ``psycopg_us=… txn_us=… pool_us=…
node_us=… node_over_psycopg=…``. PostgreSQL is ``PORTFLOW_BENCH_POSTGRES`` (default
postgresql://postgres@127.0.0.1:5432/postgres); a table with a unique name is made and dropped.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import psycopg

from portflow.packet import Packet
from portflow.plugins.sql.drivers import Databases, default_drivers
from portflow.plugins.sql.node import SQLNode
from portflow.port import OutPort
from portflow.process import Process

# synchronous_commit=off on both sides: the figures are the client's cost, not the disk's fsync (milliseconds here)
POSTGRES = os.environ.get("PORTFLOW_BENCH_POSTGRES",
                          "postgresql://postgres@127.0.0.1:5432/postgres?options=-csynchronous_commit%3Doff")


async def timed(n: int, step) -> float:
    for i in range(min(200, n)):
        await step(-i - 1)
    best = float("inf")
    for r in range(3):
        start = time.perf_counter()
        for i in range(n):
            await step(r * n + i)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


async def main(n: int) -> None:
    table = f"bench_insert_{uuid.uuid4().hex[:8]}"
    conn = await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True)
    await conn.execute(f"CREATE TABLE {table} (id INTEGER, name VARCHAR(100))")
    node = SQLNode(default_drivers().get("postgres"), POSTGRES, name="bench", databases=Databases())
    await node.load()
    out = OutPort("bench")
    out.link(node.in_port)
    sql = f"INSERT INTO {table} (id, name) VALUES (%s, %s)"
    txn = await psycopg.AsyncConnection.connect(POSTGRES)
    try:
        async def direct(i: int) -> None:
            await conn.execute(sql, (i, "x"))

        async def transaction(i: int) -> None:
            async with txn.pipeline():
                await txn.execute(sql, (i, "x"))
            await txn.commit()

        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(POSTGRES, kwargs={"autocommit": True}, min_size=1, max_size=10, open=False)
        await pool.open(wait=True)

        async def pooled(i: int) -> None:  # what the node does on the wire, through the pool
            c = await pool.getconn()
            async with c.pipeline():
                await c.execute("BEGIN")
                await c.execute(sql, (i, "x"))
            await c.execute("COMMIT")
            await pool.putconn(c)

        async def checkout(i: int) -> None:
            c = await pool.getconn()
            await pool.putconn(c)

        query = f"INSERT INTO {table} (id, name) VALUES (?, ?)"

        async def via_node(i: int) -> None:
            proc = Process()
            answer = await out.send(proc, Packet([query, [i, "x"]]))
            await proc.exit()
            if isinstance(answer.payload, BaseException):
                raise answer.payload

        figures = {"psycopg": await timed(n, direct), "txn": await timed(n, transaction)}
        figures["pool"] = await timed(n, checkout)
        figures["pooled_txn"] = await timed(n, pooled)
        await pool.close()
        figures["node"] = await timed(n, via_node)
        figures["psycopg2"] = await timed(n, direct)
        for name, us in figures.items():
            print(f"{name:9} {us:8.1f} µs/insert")
        base = min(figures["psycopg"], figures["psycopg2"])
        print(f"psycopg_us={base:.1f} txn_us={figures['txn']:.1f} pool_us={figures['pool']:.1f} "
              f"node_us={figures['node']:.1f} node_over_psycopg={figures['node'] / base:.2f}")
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
        await txn.close()
        await node.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
