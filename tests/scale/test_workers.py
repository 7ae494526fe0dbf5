"""`portflow start --workers N`: real worker processes sharing one port, restarted when they die."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from portflow.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PING = ROOT / "examples" / "ping.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, timeout: float = 2.0) -> str:
    # A new connection per request, so SO_REUSEPORT spreads them over the workers.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=timeout) as resp:
        return resp.read().decode()


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s (last error: {last})")


@pytest.fixture
def workers(tmp_path):
    port = free_port()
    db = tmp_path / "flows.db"
    env = {**os.environ, "PORTFLOW_DATABASE_URL": f"sqlite:///{db}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "portflow.cli.main", "start", "--workers", "2", "--from-specs", str(PING),
         "-e", f"PORT={port}"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(children(proc.pid)) == 2, 20, "two workers")
        wait_for(lambda: all(listening(pid, port) for pid in children(proc.pid)), 20, "both workers listening")
        wait_for(lambda: get(port) == "pong", 20, "pong")
        yield proc, port, f"sqlite:///{db}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        print(out.decode(errors="replace"))


def test_workers_share_the_port_and_stop_on_sigterm(workers):
    proc, port, _ = workers
    pids = children(proc.pid)
    assert len(pids) == 2
    assert all(get(port) == "pong" for _ in range(20))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_a_killed_worker_is_restarted_and_the_other_keeps_answering(workers):
    proc, port, _ = workers
    victim, survivor = children(proc.pid)
    os.kill(victim, signal.SIGKILL)
    assert listening(survivor, port)
    answered = 0

    def survivor_answers() -> bool:
        nonlocal answered
        try:
            answered += get(port, timeout=5) == "pong"
        except OSError:
            pass  # a connection the dead worker had accepted
        return answered >= 10

    wait_for(survivor_answers, 60, "ten pongs after the kill")  # the survivor kept answering
    assert survivor in children(proc.pid)
    new = wait_for(lambda: [p for p in children(proc.pid) if p not in (victim, survivor)], 60, "restart")
    assert len(new) == 1
    wait_for(lambda: listening(new[0], port), 60, "new worker listening on the shared port")
    assert all(get(port) == "pong" for _ in range(10))


def test_a_spec_change_reaches_every_worker(workers):
    _proc, port, url = workers

    async def change():
        async with open_store(url) as store:
            doc = (await store.specs.find({"name": "pong"}))[0]
            await store.specs.update([{**doc, "code": "pong v2"}])

    asyncio.run(change())
    # Every worker must serve the new text: new connections land on both.
    wait_for(lambda: all(get(port) == "pong v2" for _ in range(20)), 10, "every worker on the new spec")
