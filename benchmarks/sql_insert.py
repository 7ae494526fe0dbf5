"""A single-row INSERT on PostgreSQL: the sql node against psycopg on one connection, in one run.

    .venv/bin/python benchmarks/sql_insert.py [ROUNDS]   (default 40)

Each round runs 50 INSERTs of every variant in turn (alternating, so a busy machine slows them alike);
the figures are each variant's best round, in µs per INSERT, and ``ratio`` is the median over the rounds
of node over psycopg in the same round (paired, so it holds up better than the best rounds on a machine
that others load):

- ``psycopg``: psycopg ``execute`` on one autocommit connection (one round trip, the server commits);
- ``txn``: a transaction through psycopg's API on one connection: BEGIN+INSERT in psycopg's pipeline,
  then COMMIT (what the node sent before it drove libpq's pipeline itself: one write for BEGIN+INSERT);
- ``pool``: the pool's check-out and return alone;
- ``node``: the sql node, each INSERT in its own process (the node begins and inserts, the process
  commits on exit).

Last line: ``node_us=… psycopg_us=… ratio=…``. PostgreSQL is
``PORTFLOW_BENCH_POSTGRES`` (default postgresql://postgres@127.0.0.1:5432/postgres); a table with a unique
name is made and dropped.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import psycopg
from psycopg_pool import AsyncConnectionPool

from portflow.packet import Packet
from portflow.plugins.sql.drivers import Databases, default_drivers
from portflow.plugins.sql.node import SQLNode
from portflow.port import OutPort
from portflow.process import Process

# synchronous_commit=off on both sides: the figures are the client's cost, not the disk's fsync (milliseconds here)
POSTGRES = os.environ.get("PORTFLOW_BENCH_POSTGRES",
                          "postgresql://postgres@127.0.0.1:5432/postgres?options=-csynchronous_commit%3Doff")
PER_ROUND = 50

Step = Callable[[int], Awaitable[None]]


async def alternate(rounds: int, steps: dict[str, Step]) -> dict[str, list[float]]:
    """Each step's rounds, µs per call; the steps take turns round by round."""
    counter = 0
    for step in steps.values():  # warm up: prepared statements, caches, the pool
        for _ in range(4 * PER_ROUND):
            counter += 1
            await step(-counter)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(PER_ROUND):
                counter += 1
                await step(counter)
            times[name].append((time.perf_counter() - start) / PER_ROUND * 1e6)
    return times


async def main(rounds: int) -> None:
    table = f"bench_insert_{uuid.uuid4().hex[:8]}"
    conn = await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True)
    await conn.execute(f"CREATE TABLE {table} (id INTEGER, name VARCHAR(100))")
    node = SQLNode(default_drivers().get("postgres"), POSTGRES, name="bench", databases=Databases())
    await node.load()
    out = OutPort("bench")
    out.link(node.in_port)
    txn = await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True)
    pool = AsyncConnectionPool(POSTGRES, kwargs={"autocommit": True}, min_size=1, max_size=10, open=False)
    await pool.open(wait=True)
    sql = f"INSERT INTO {table} (id, name) VALUES (%s, %s)"
    query = f"INSERT INTO {table} (id, name) VALUES (?, ?)"
    try:
        async def direct(i: int) -> None:
            await conn.execute(sql, (i, "x"))

        async def transaction(i: int) -> None:
            async with txn.pipeline():
                await txn.execute("BEGIN")
                await txn.execute(sql, (i, "x"))
            await txn.execute("COMMIT")

        async def checkout(i: int) -> None:
            await pool.putconn(await pool.getconn())

        async def via_node(i: int) -> None:
            proc = Process()
            answer = await out.send(proc, Packet([query, [i, "x"]]))
            await proc.exit()
            if isinstance(answer.payload, BaseException):
                raise answer.payload

        times = await alternate(rounds, {"psycopg": direct, "txn": transaction, "pool": checkout, "node": via_node})
        best = {name: min(rounds_us) for name, rounds_us in times.items()}
        for name, us in best.items():
            print(f"{name:8} {us:8.1f} µs/insert")
        ratio = statistics.median(n / p for n, p in zip(times["node"], times["psycopg"], strict=True))
        print(f"node_us={best['node']:.1f} psycopg_us={best['psycopg']:.1f} ratio={ratio:.2f} "
              f"txn_us={best['txn']:.1f} pool_us={best['pool']:.1f}")
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.close()
        await txn.close()
        await pool.close()
        await node.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40))
