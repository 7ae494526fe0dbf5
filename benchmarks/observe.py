"""What watching costs: ping req/s with nothing on, metrics on, metrics + tracing at 1 %, tracing at 100 %.

Starts four `portflow start` processes on examples/ping.yaml (each its own memory store), one per arm:

- ``off``: no admin address, no tracing;
- ``metrics``: ``--admin 127.0.0.1:PORT`` (the metrics subscriber counts every hop and request);
- ``metrics+trace1%``: and ``OTEL_TRACES_EXPORTER=null OTEL_TRACES_SAMPLER=traceidratio
  OTEL_TRACES_SAMPLER_ARG=0.01`` (spans made and dropped: the cost of tracing, not of sending);
- ``trace100%``: ``OTEL_TRACES_EXPORTER=null OTEL_TRACES_SAMPLER=always_on``, no metrics.

Then runs ``wrk -t1 -c64 -dDURATION`` against each in turn, ROUNDS rounds (arms alternate, so drift hits all
alike), and prints each arm's median req/s and its ratio to ``off`` (targets: metrics >= 0.9x, tracing 1 %
>= 0.85x). On a shared machine req/s swings with the neighbours' load, so it also prints the server's own
CPU time per request (user + system, from /proc, over the same runs) and the throughput ratio that implies
(``off``'s CPU per request over the arm's): a CPU-bound server's req/s scales with it. After the run it reads
the metrics arm's /metrics, to show the requests were counted. Last line: ``off_rps=.. metrics=..x
trace1=..x trace100=..x cpu_metrics=..x cpu_trace1=..x cpu_trace100=..x``. Prints figures only; asserts
nothing. Needs wrk. Knobs: ROUNDS=3 DURATION=10.
"""

from __future__ import annotations

import importlib.util
import os
import re
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
NULL_TRACES = {"OTEL_TRACES_EXPORTER": "null"}
ARMS: dict[str, tuple[bool, dict[str, str]]] = {  # name -> (metrics on, variables)
    "off": (False, {}),
    "metrics": (True, {}),
    "metrics+trace1%": (True, {**NULL_TRACES, "OTEL_TRACES_SAMPLER": "traceidratio",
                               "OTEL_TRACES_SAMPLER_ARG": "0.01"}),
    "trace100%": (False, {**NULL_TRACES, "OTEL_TRACES_SAMPLER": "always_on"}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bytes(resp.read())


def start(metrics: bool, variables: dict[str, str], tmp: str) -> tuple[subprocess.Popen, str, str | None]:
    port = free_port()
    admin = f"127.0.0.1:{free_port()}" if metrics else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFLOW_", "OTEL_"))}
    env.update(variables, PORTFLOW_DATABASE_URL="memory://")
    args = [sys.executable, "-m", "portflow.cli.main", "--log-level", "warning", "start", "--from-specs",
            str(PING), "-e", f"PORT={port}", *(["--admin", admin] if admin else [])]
    proc = subprocess.Popen(args, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ping"
    for _ in range(300):
        try:
            if get(url) == b"pong":
                return proc, url, admin
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{args}: did not answer at {url}")


def wrk(url: str, duration: str) -> tuple[float, int]:
    """(req/s, requests) of one run."""
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{duration}s", url], capture_output=True, text=True,
                         check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    assert rate is not None and total is not None, out
    return float(rate.group(1)), int(total.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counted(admin: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = get(f"http://{admin}/metrics").decode()
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "portflow_http_requests_total")


def main() -> None:
    tracing = importlib.util.find_spec("portflow.tracing") is not None
    if not tracing:
        print("# note: this checkout has no portflow.tracing: the tracing arms run without tracing")
    with tempfile.TemporaryDirectory() as tmp:
        servers = {name: start(metrics, variables, tmp) for name, (metrics, variables) in ARMS.items()}
        try:
            for _name, (_, url, _) in servers.items():
                wrk(url, "2")  # warm up
            rps: dict[str, list[float]] = {name: [] for name in ARMS}
            cpu = dict.fromkeys(ARMS, 0.0)
            served = dict.fromkeys(ARMS, 0)
            for r in range(ROUNDS):
                for name, (proc, url, _) in servers.items():
                    before = cpu_seconds(proc.pid)
                    rate, total = wrk(url, DURATION)
                    cpu[name] += cpu_seconds(proc.pid) - before
                    served[name] += total
                    rps[name].append(rate)
                print(f"round {r + 1}: " + "  ".join(f"{n}={rps[n][-1]:.0f}" for n in ARMS), flush=True)
            medians = {name: statistics.median(v) for name, v in rps.items()}
            per_request = {name: cpu[name] / served[name] * 1e6 for name in ARMS}
            off = medians["off"]
            for name, median in medians.items():
                print(f"{name:<16} {median:9.0f} req/s  {median / off:5.2f}x of off   "
                      f"{per_request[name]:6.1f} µs CPU/request  {per_request['off'] / per_request[name]:5.2f}x")
            admin = servers["metrics"][2]
            if admin:
                print(f"metrics arm counted {counted(admin):.0f} requests in portflow_http_requests_total")
        finally:
            for proc, _, _ in servers.values():
                proc.send_signal(signal.SIGTERM)
            for proc, _, _ in servers.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    cpu_ratio = {name: per_request["off"] / per_request[name] for name in ARMS}
    print(f"off_rps={off:.0f} metrics={medians['metrics'] / off:.2f}x trace1={medians['metrics+trace1%'] / off:.2f}x "
          f"trace100={medians['trace100%'] / off:.2f}x cpu_metrics={cpu_ratio['metrics']:.2f}x "
          f"cpu_trace1={cpu_ratio['metrics+trace1%']:.2f}x cpu_trace100={cpu_ratio['trace100%']:.2f}x")


if __name__ == "__main__":
    main()
