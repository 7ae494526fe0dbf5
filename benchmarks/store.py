"""Store figures: insert, find, update and watch latency, per backend, in microseconds.

    .venv/bin/python benchmarks/store.py [--n 2000] [--postgres postgresql://postgres@127.0.0.1/postgres]

Prints figures, asserts nothing. PostgreSQL runs in a throw-away database (created, then dropped), and is
left out when the server cannot be reached. "watch (other process)" is the time from a commit in another
OS process to the event in this one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import textwrap
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from portflow.store import Store, open_store

WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from portflow.store import open_store

    async def main(url):
        async with open_store(url) as store:
            print("ready", flush=True)
            for line in sys.stdin:
                t = time.time()
                await store.values.insert([{"id": line.strip(), "namespace": "bench"}])
                print(t, time.time(), flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


def doc(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"id-{i:06d}",
        "namespace": "default" if i % 2 else "other",
        "name": f"node-{i}",
        "kind": "listener" if i % 10 == 0 else "snippet",
        "ports": {"out": [{"name": f"node-{i + 1}", "port": "in"}]},
        "code": "return $ * 2",
        **extra,
    }


async def per_op(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    """Mean microseconds per call of ``op(i)`` for i in range(n)."""
    t = time.perf_counter()
    for i in range(n):
        await op(i)
    return (time.perf_counter() - t) / n * 1e6


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def watch_latency(store: Store, n: int) -> list[float]:
    """Microseconds from calling insert to the watcher having the event, this process."""
    out = []
    async with store.values.watch({"namespace": "lat"}) as w:
        for i in range(n):
            t = time.perf_counter()
            await store.values.insert([{"id": f"lat-{i}", "namespace": "lat"}])
            await asyncio.wait_for(anext(w), 10)
            out.append((time.perf_counter() - t) * 1e6)
    return out


async def cross_process_latency(store: Store, url: str, n: int) -> list[float]:
    """Microseconds from another process's commit to the event here."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    out = []
    try:
        await asyncio.wait_for(proc.stdout.readline(), 30)
        async with store.values.watch({"namespace": "bench"}) as w:
            for i in range(n):
                proc.stdin.write(f"x-{i}\n".encode())
                await asyncio.wait_for(anext(w), 10)
                got = time.time()
                _, committed = map(float, (await proc.stdout.readline()).split())
                out.append((got - committed) * 1e6)
                await asyncio.sleep(0.005)  # spread the commits over the poll period
    finally:
        proc.stdin.close()
        await proc.wait()
    return out


async def bench(label: str, url: str, n: int, cross: bool) -> None:
    async with open_store(url) as store:
        rows: list[tuple[str, str]] = []
        rows.append(("insert, 1 doc per call", f"{await per_op(n, lambda i: store.specs.insert([doc(i)])):9.1f}"))
        batch = [doc(i) for i in range(n, n + 1000)]
        t = time.perf_counter()
        await store.specs.insert(batch)
        rows.append(("insert, batch of 1000 (per doc)", f"{(time.perf_counter() - t) / 1000 * 1e6:9.1f}"))
        total = n + 1000
        by_name = await per_op(500, lambda i: store.specs.find({"namespace": "default", "name": f"node-{2 * i + 1}"}))
        rows.append(("find by namespace+name", f"{by_name:9.1f}"))
        by_ids = await per_op(200, lambda i: store.specs.find({"id": [f"id-{j:06d}" for j in range(i, i + 10)]}))
        rows.append(("find by id (any of 10)", f"{by_ids:9.1f}"))
        rows.append(
            (f"find by JSON field ({total // 10} of {total})", f"{await per_op(20, lambda i: store.specs.find({'kind': 'listener'})):9.1f}")
        )
        rows.append((f"find all ({total} docs)", f"{await per_op(5, lambda i: store.specs.find()):9.1f}"))
        rows.append(("update 1 doc by id", f"{await per_op(500, lambda i: store.specs.update([doc(i, v=i)])):9.1f}"))
        lat = await watch_latency(store, 300)
        rows.append(("watch: insert -> event (this process)", f"{statistics.median(lat):9.1f}   p99 {pct(lat, 0.99):9.1f}"))
        if cross:
            lat = await cross_process_latency(store, url, 50)
            rows.append(("watch: commit -> event (other process)", f"{statistics.median(lat):9.1f}   p99 {pct(lat, 0.99):9.1f}"))
        rows.append(("delete all (per doc)", f"{await per_op(1, lambda i: store.specs.delete({})) / total:9.1f}"))
    print(f"\n{label}  ({url})")
    for name, value in rows:
        print(f"  {name:<42} {value} µs")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="documents inserted one by one (default 2000)")
    ap.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = ap.parse_args()
    print(f"portflow store benchmark, python {sys.version.split()[0]}, n={args.n}")

    await bench("memory", f"memory://bench-{secrets.token_hex(4)}", args.n, cross=False)
    with tempfile.TemporaryDirectory() as tmp:
        await bench("sqlite", f"sqlite:///{tmp}/bench.db", args.n, cross=True)

    try:
        import psycopg
        from psycopg import sql

        admin = await psycopg.AsyncConnection.connect(args.postgres, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports and moves on
        print(f"\npostgresql: skipped ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
        return
    name = f"portflow_bench_{secrets.token_hex(4)}"
    async with admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = urllib.parse.urlsplit(args.postgres)._replace(path=f"/{name}").geturl()
            await bench("postgresql", url, args.n, cross=True)
        finally:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    asyncio.run(main())
