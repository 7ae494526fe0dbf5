"""Live reload under load: replace the ping flow's snippet 100 times through the CLI while 32 clients
keep calling /ping, once on SQLite and once on PostgreSQL.

Per store prints ``failed=N reload_ms_p50=X reload_ms_p99=Y``: failed requests (connection errors or
non-200 answers) during the whole run, and the time from the `portflow apply` command's return to the
first response carrying the new text (0 when that response came before the command had even exited).
Also printed: ``from_start_ms`` (from launching the command) and ``apply_ms`` (the command's own run
time, mostly interpreter start-up). Prints figures only; asserts nothing.

PostgreSQL: ``BENCH_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/postgres); a scratch
database is created and dropped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PING = ROOT / "examples" / "ping.yaml"
CLI = [sys.executable, "-m", "portflow.cli.main", "--log-level", "warning"]
RELOADS = int(os.environ.get("RELOADS", "100"))
CONCURRENCY = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(url: str, workdir: Path) -> str:
    env = {**os.environ, "PORTFLOW_DATABASE_URL": url}
    port = free_port()
    server = await asyncio.create_subprocess_exec(*CLI, "start", "--from-specs", str(PING), "-e", f"PORT={port}",
                                                  env=env, cwd=workdir, stdout=asyncio.subprocess.DEVNULL,
                                                  stderr=asyncio.subprocess.DEVNULL)
    target = f"http://127.0.0.1:{port}/ping"
    failed = 0
    first_seen: dict[str, float] = {}
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
            for _ in range(200):
                try:
                    async with http.get(target) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

            async def client() -> None:
                nonlocal failed
                while not stop.is_set():
                    try:
                        async with http.get(target) as resp:
                            body = await resp.text()
                            if resp.status != 200:
                                failed += 1
                            elif body not in first_seen:
                                first_seen[body] = time.monotonic()
                    except aiohttp.ClientError:
                        failed += 1

            clients = [asyncio.create_task(client()) for _ in range(CONCURRENCY)]
            reloads, from_start, applies = [], [], []
            spec = PING.read_text()
            for i in range(RELOADS):
                text = f"pong {i}"
                path = workdir / "changed.yaml"
                path.write_text(spec.replace("code: pong", f"code: {text}"))
                launched = time.monotonic()
                apply = await asyncio.create_subprocess_exec(*CLI, "apply", "specs", "-f", str(path), env=env,
                                                             stdout=asyncio.subprocess.DEVNULL)
                await apply.wait()
                returned = time.monotonic()
                while text not in first_seen:
                    await asyncio.sleep(0.001)
                reloads.append(max(0.0, first_seen[text] - returned) * 1000)
                from_start.append((first_seen[text] - launched) * 1000)
                applies.append((returned - launched) * 1000)
            stop.set()
            await asyncio.gather(*clients)
    finally:
        server.terminate()
        await server.wait()
    return (f"failed={failed} reload_ms_p50={statistics.median(reloads):.1f} "
            f"reload_ms_p99={percentile(reloads, 99):.1f} from_start_ms_p50={statistics.median(from_start):.0f} "
            f"from_start_ms_p99={percentile(from_start, 99):.0f} apply_ms_p50={statistics.median(applies):.0f}")


async def main() -> None:
    import psycopg
    from psycopg import sql

    with tempfile.TemporaryDirectory() as tmp:
        print(f"sqlite: {await run(f'sqlite:///{tmp}/reload.db', Path(tmp))}", flush=True)
        server = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        name = f"portflow_bench_{secrets.token_hex(4)}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                url = urllib.parse.urlsplit(server)._replace(path=f"/{name}").geturl()
                print(f"postgresql: {await run(url, Path(tmp))}", flush=True)
            finally:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    asyncio.run(main())
