"""Ping throughput with 1 and 2 worker processes, measured in the same run.

Starts `portflow start --workers N` on examples/ping.yaml (SQLite store in a temp dir) for N = 1 and 2,
then runs `wrk -t1 -c64 -d10s` against each, alternating, 3 rounds. The load generator shares the
machine's cores with the servers, so the ratio is reported as measured. Last line:
``workers1_rps=X workers2_rps=Y ratio=Z``. Prints figures only; asserts nothing. Needs wrk.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PING = ROOT / "examples" / "ping.yaml"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "10")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PORTFLOW_DATABASE_URL": f"sqlite:///{tmp}/workers{workers}.db"}
    proc = subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "--log-level", "warning", "start",
                             "--workers", str(workers), "--from-specs", str(PING), "-e", f"PORT={port}"],
                            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ping"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.read() == b"pong":
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"--workers {workers} did not answer at {url}")


def wrk(url: str, duration: str) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"\s99%\s+(\S+)", out).group(1)
    return rps, p99


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        servers = {n: start(n, Path(tmp)) for n in (1, 2)}
        results: dict[int, list[float]] = {1: [], 2: []}
        try:
            for _, url in servers.values():
                wrk(url, "3")  # warm-up
            for r in range(ROUNDS):
                for n, (_, url) in servers.items():
                    rps, p99 = wrk(url, DURATION)
                    results[n].append(rps)
                    print(f"round {r + 1} workers={n} {rps:10.1f} req/s p99 {p99}", flush=True)
        finally:
            for proc, _ in servers.values():
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    one, two = statistics.median(results[1]), statistics.median(results[2])
    print(f"workers1_rps={one:.0f} workers2_rps={two:.0f} ratio={two / one:.2f}")


if __name__ == "__main__":
    main()
