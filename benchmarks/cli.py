"""Start-up time of the ``portflow`` command.

Runs the real executable (the one next to this Python) several times each: ``portflow --help``, and
``portflow get specs`` on an empty SQLite store in a temporary directory (also on ``memory://``, which
skips the file), with Python's bytecode cache as an installed package has it. Prints the median and the
minimum wall time of each in milliseconds; last line: ``help_ms=X get_ms=Y`` (medians). Prints figures
only; asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 11
PORTFLOW = str(Path(sys.executable).with_name("portflow"))


def timings(args: list[str], env: dict[str, str], cwd: str) -> list[float]:
    samples = []
    for i in range(RUNS + 1):
        start = time.perf_counter()
        done = subprocess.run([PORTFLOW, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise SystemExit(f"portflow {' '.join(args)} exited {done.returncode}")
        if i:  # the first run warms the OS caches
            samples.append(elapsed)
    return samples


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
        env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp}/empty.db"
        # As installed, Python caches bytecode; PYTHONDONTWRITEBYTECODE=1 (set in some sandboxes) makes every
        # run compile portflow's sources again. Measure as installed (caches kept in tmp, not in the tree),
        # and, when the variable is set here, also without the cache.
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = f"{tmp}/pycache"
        rows = [("python -c pass (the floor)", [_time([sys.executable, "-c", "pass"], env, tmp) for _ in range(RUNS)])]
        help_runs = timings(["--help"], cached, tmp)
        get_runs = timings(["get", "specs"], cached, tmp)
        rows += [("portflow --help", help_runs), ("portflow get specs (sqlite)", get_runs),
                 ("portflow get specs (memory)",
                  timings(["get", "specs"], {**cached, "PORTFLOW_DATABASE_URL": "memory://"}, tmp))]
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            rows += [("--help, no bytecode cache", timings(["--help"], env, tmp)),
                     ("get specs, no bytecode cache", timings(["get", "specs"], env, tmp))]
    print(f"{'':30} median      min  (ms, {RUNS} runs; a loaded machine shows in the median first)")
    for label, runs in rows:
        print(f"{label:30} {statistics.median(runs):6.1f} {min(runs):8.1f}")
    print(f"help_ms={statistics.median(help_runs):.1f} get_ms={statistics.median(get_runs):.1f}")


def _time(args: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main()
