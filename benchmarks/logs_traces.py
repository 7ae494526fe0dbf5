"""Ping with the access log and tracing on and off, side by side: `portflow start` on examples/ping.yaml, wrk.

usage: python benchmarks/logs_traces.py [ROUNDS] [SECONDS]   (needs wrk)
Arms: nothing on; the access log in text and in JSON; tracing sampled at 0 % (the cost of observing hops
and of asking the sampler), 1 % and 100 % (all to the
no-op exporter `null`, so the figure is tracing's cost, not a collector's). Each arm's log lines go to a file
of their own (as under a supervisor); the arms run alternately, ROUNDS times each; prints each arm's median
req/s and server CPU time per request (from /proc: steadier than req/s on a shared machine), each with its
ratio to "off". Asserts nothing.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PORTFLOW = str(Path(sys.executable).with_name("portflow"))
QUIET = {"PORTFLOW_LOGGING_ACCESS": "false"}
ONLY = os.environ.get("ARMS")  # e.g. ARMS="off,trace 1%": only these
ARMS = {
    "off": QUIET,
    "access text": {"PORTFLOW_LOGGING_ACCESS": "true"},
    "access json": {"PORTFLOW_LOGGING_ACCESS": "true", "PORTFLOW_LOGGING_FORMAT": "json"},
    "trace 0%": {**QUIET, "OTEL_TRACES_EXPORTER": "null", "OTEL_TRACES_SAMPLER": "always_off"},
    "trace 1%": {**QUIET, "OTEL_TRACES_EXPORTER": "null", "OTEL_TRACES_SAMPLER": "traceidratio",
                 "OTEL_TRACES_SAMPLER_ARG": "0.01"},
    "trace 100%": {**QUIET, "OTEL_TRACES_EXPORTER": "null", "OTEL_TRACES_SAMPLER": "always_on"},
}


if ONLY:
    ARMS = {k: v for k, v in ARMS.items() if k in ONLY.split(",")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full = {**os.environ, "PORTFLOW_DATABASE_URL": "memory://", **env}
    with log.open("ab") as out:
        proc = subprocess.Popen([PORTFLOW, "start", "--from-specs", str(REPO / "examples/ping.yaml"),
                                 "-e", f"PORT={port}"], env=full, stdout=subprocess.DEVNULL, stderr=out)
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as resp:
                if resp.read() == b"pong":
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("portflow did not answer /ping")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, seconds: int, pid: int = 0) -> tuple[float, float]:
    """(req/s, server CPU µs per request): the second figure holds under a noisy neighbour, the first not."""
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/ping"],
                         capture_output=True, text=True, check=True).stdout
    used = cpu_seconds(pid) - before if pid else 0.0
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert rate and total, out
    return float(rate.group(1)), used / int(total.group(1)) * 1e6


def main(rounds: int, seconds: int) -> None:
    figures: dict[str, list[tuple[float, float]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {arm: start(env, Path(tmp) / f"{i}.log") for i, (arm, env) in enumerate(ARMS.items())}
        try:
            for _, port in servers.values():
                wrk(port, 1)  # warm up
            for _ in range(rounds):
                for arm, (proc, port) in servers.items():
                    figures[arm].append(wrk(port, seconds, proc.pid))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
        lines = {arm: sum(1 for _ in (Path(tmp) / f"{i}.log").open()) for i, arm in enumerate(ARMS)}
    base = statistics.median(r for r, _ in figures["off"])
    base_cpu = statistics.median(c for _, c in figures["off"])
    for arm, values in figures.items():
        rate, cpu = statistics.median(r for r, _ in values), statistics.median(c for _, c in values)
        print(f"{arm:12s} {rate:9.0f} req/s  ratio {rate / base:.2f}   {cpu:6.1f} µs CPU/request  "
              f"ratio {cpu / base_cpu:.2f}  ({lines[arm]} log lines)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
