"""`portflow start --workers 2 --admin`: one admin address counts every worker; ready means all are."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from .conftest import LOADED, PING, free_port, http
from .test_admin_address import eventually, metrics, value


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def run_dir(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return Path(next(e for e in environ if e.startswith(b"_PORTFLOW_RUN_DIR=")).split(b"=", 1)[1].decode())


def ping(port: int) -> str:
    # A new connection per request, so SO_REUSEPORT spreads them over the workers.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as resp:
        return resp.read().decode()


def requests_of(directory: Path, pid: int) -> float:
    """The requests one worker counted, read from its own report only."""
    report = json.loads((directory / f"ready-{pid}.json").read_text())
    return sum(row[-1] for row in report["metrics"]["portflow_http_requests"])


def test_one_admin_address_counts_all_workers(start, tmp_path):
    port = free_port()
    s = start("--workers", "2", "--from-specs", str(PING), "-e", f"PORT={port}", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED, count=2)
    assert eventually(lambda: http(f"{admin}/readyz")[0] == 200), http(f"{admin}/readyz")
    workers = children(s.proc.pid)
    assert len(workers) == 2
    for _ in range(40):
        assert ping(port) == "pong"
    families = eventually(lambda: (lambda f: f if value(f, "portflow_http_requests_total", route="/ping",
                                                        status="200") == 40 else None)(metrics(admin)))
    assert families, metrics(admin)
    assert value(families, "portflow_packets_total", node="pong", port="in") == 40
    assert value(families, "portflow_symbols", state="active") == 3  # the most of any worker, not the sum
    directory = run_dir(workers[0])
    per_worker = [requests_of(directory, pid) for pid in workers]
    assert sum(per_worker) == 40 and all(n > 0 for n in per_worker), per_worker  # both counted, summed once
    assert s.stop() == 0
    assert not directory.exists()  # the run's directory goes with the run


def test_a_stuck_worker_makes_the_address_unready(start):
    port = free_port()
    s = start("--workers", "2", "--from-specs", str(PING), "-e", f"PORT={port}", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED, count=2)
    assert eventually(lambda: http(f"{admin}/readyz")[0] == 200)
    stuck = children(s.proc.pid)[1]
    os.kill(stuck, signal.SIGSTOP)
    try:
        assert eventually(lambda: http(f"{admin}/readyz")[0] == 503, timeout=15)
        report = json.loads(http(f"{admin}/readyz")[2])
        assert [e["reason"].startswith("not answering for ") for e in report["not_ready"]] == [True]
        assert f"(pid {stuck})" in report["not_ready"][0]["message"]
    finally:
        os.kill(stuck, signal.SIGCONT)
    assert eventually(lambda: http(f"{admin}/readyz")[0] == 200, timeout=15)


def test_workers_with_a_taken_port_are_unready_and_strict_exits_1(start, taken_port):
    port = taken_port  # held without SO_REUSEPORT: the workers cannot share it
    s = start("--workers", "2", "--from-specs", str(PING), "-e", f"PORT={port}", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED, count=2)
    def both_failed() -> bool:
        entries = json.loads(http(f"{admin}/readyz")[2])["not_ready"]
        return len(entries) == 2 and all(e["reason"].startswith("load failed") for e in entries)

    assert eventually(both_failed), http(f"{admin}/readyz")
    status, _, body = http(f"{admin}/readyz")
    assert status == 503
    entries = json.loads(body)["not_ready"]
    assert sorted(e["worker"] for e in entries) == [1, 2]
    assert all(e["reason"] == f"load failed: cannot listen on *:{port}: Address already in use"
               for e in entries), entries
    assert s.stop() == 0
    strict = start("--strict", "--workers", "2", "-e", f"PORT={port}")
    assert strict.proc.wait(timeout=60) == 1
    strict.stop()
    assert strict.output.count(f"load failed: cannot listen on *:{port}") >= 2
    assert "error: not ready: worker 1 (pid " in strict.output and "error: not ready: worker 2 (pid " in strict.output
