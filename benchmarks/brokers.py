"""Each broker through a flow against its bare client, side by side: runs ``benchmarks/brokers/bench_<kind>.py``
(all, or those named) one after another and prints their lines.

    .venv/bin/python benchmarks/brokers.py [nats mqtt amqp redis]   (BROKER_N=20000 messages each)

Needs the brokers of this machine (NATS 4222, Mosquitto 1883, RabbitMQ 5672, Redis 6379). Prints figures,
asserts nothing; a broker whose script fails prints its error line and the run goes on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "brokers"


def main(names: list[str]) -> int:
    # ``bench_`` keeps a script's name from shadowing its client's module (``nats``, ``redis``) on sys.path.
    scripts = sorted(HERE.glob("bench_*.py"))
    chosen = [p for p in scripts if not names or p.stem.removeprefix("bench_") in names]
    failed = 0
    for script in chosen:
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE, check=False)
        lines = [line for line in run.stdout.splitlines() if line.startswith("broker=")]
        if run.returncode or not lines:
            failed += 1
            tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"broker={script.stem.removeprefix('bench_')} failed: {tail}", flush=True)
        else:
            print(lines[-1], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
