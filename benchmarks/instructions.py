"""Instructions per HTTP request of the whole server (every thread: granian's, the loop's, the log writer's),
counted by valgrind's callgrind: a figure that a busy, shared machine does not move, where req/s does.

    .venv/bin/python benchmarks/instructions.py [--src DIR ...] [--few 500] [--many 2500] [FLOW ...]

Each flow (``ping``, ``greet_python``, ``greet_cel``, ``greet_javascript``, ``fanout``: the flows of
benchmarks/flows.sh) is served by ``portflow start`` under callgrind twice, once answering ``--few``
requests and once ``--many``, over one keep-alive connection, one request at a time; the difference over
the extra requests is the cost of one request, start-up and shut-down cancelled out. Two figures: the
loop thread's (the main thread: the engine's Python; steady to ~1%) and all threads' (granian's I/O too,
but also the snippet watchdog's and the log writer's work, which follows the wall clock, not the requests,
and valgrind slows the clock ~50x: compare it between checkouts only loosely). ``--src`` runs the
same with another checkout's ``src`` first on the path (``--src /tmp/base/src --src src``: before and
after, side by side). Needs valgrind (Debian: ``apt-get install valgrind``); takes about a minute per flow
and checkout. Last line: ``FLOW[@SRC]=loop-thread instructions ...``. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GREET = b'{"name": "ada", "n": 21, "tags": ["x", "y", "z"]}'
FLOWS = {
    "ping": ("examples/ping.yaml", "/ping"),
    "greet_python": ("benchmarks/flows/greet-python.yaml", "/greet"),
    "greet_cel": ("benchmarks/flows/greet-cel.yaml", "/greet"),
    "greet_javascript": ("benchmarks/flows/greet-javascript.yaml", "/greet"),
    "fanout": ("benchmarks/flows/fanout.yaml", "/greet"),
}


def request(path: str) -> bytes:
    if path == "/ping":
        return b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), len(GREET))) + GREET


def send(port: int, path: str, n: int) -> None:
    """``n`` requests, one at a time on one connection; each answer must be a 200."""
    data = request(path)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        buffered = b""
        for _ in range(n):
            sock.sendall(data)
            while True:
                head, sep, rest = buffered.partition(b"\r\n\r\n")
                if sep:
                    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    length = int(match.group(1)) if match else 0
                    if len(rest) >= length:
                        if not head.startswith(b"HTTP/1.1 200"):
                            raise SystemExit(f"{path}: {head.splitlines()[0].decode()}")
                        buffered = rest[length:]
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit(f"{path}: the server closed the connection")
                buffered += chunk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server ended before it answered (exit {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not listen on {port} within {seconds:.0f}s")


def instructions(src: str, flow: str, path: str, n: int) -> tuple[int, int]:
    """``(loop thread, all threads)``: the instructions of a server that started, answered ``n`` requests
    (after 200 to warm up) and stopped."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        code = ("import sys; from portflow.cli.main import main; "
                f"sys.argv = ['portflow', 'start', '--from-specs', {flow!r}, '-e', 'PORT={port}']; main()")
        env = {**os.environ, "PYTHONPATH": src, "PORTFLOW_DATABASE_URL": "memory://"}
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                                 "--log-file=/dev/null", sys.executable, "-c", code], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, proc)
            send(port, path, 200)
            send(port, path, n)
        finally:
            proc.send_signal(2)
            proc.wait(timeout=120)
        threads = {}
        for part in Path(tmp).glob("callgrind.out-*"):  # one file per thread; -01 is the main one, the loop's
            found = re.search(r"^totals: (\d+)", part.read_text(errors="replace"), re.MULTILINE)
            if found is not None:
                threads[part.name] = int(found.group(1))
        if "callgrind.out-01" not in threads:
            raise SystemExit(f"callgrind wrote no totals for {flow}")
        return threads["callgrind.out-01"], sum(threads.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flows", nargs="*", default=list(FLOWS), help=f"flows to count (default: all: {' '.join(FLOWS)})")
    parser.add_argument("--src", action="append", help="a checkout's src directory (repeat to compare; default: src)")
    parser.add_argument("--few", type=int, default=500, help="requests of the shorter run")
    parser.add_argument("--many", type=int, default=2500, help="requests of the longer run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:  # `make bench` runs every script: say so and go on
        print("instructions.py: valgrind not found (apt-get install valgrind); nothing counted")
        return
    unknown = [f for f in args.flows if f not in FLOWS]
    if unknown:
        raise SystemExit(f"unknown flow(s) {', '.join(unknown)} (known: {', '.join(FLOWS)})")
    sources = [str(Path(s).resolve()) for s in (args.src or [str(REPO / "src")])]
    figures = {}
    for name in args.flows:
        flow, path = FLOWS[name]
        for src in sources:
            few = instructions(src, flow, path, args.few)
            many = instructions(src, flow, path, args.many)
            loop, every = ((b - a) // (args.many - args.few) for a, b in zip(few, many, strict=True))
            key = name if len(sources) == 1 else f"{name}@{src}"
            figures[key] = loop
            print(f"{name:18} loop thread {loop:9,}   all threads {every:9,} instructions/request   {src}", flush=True)
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
