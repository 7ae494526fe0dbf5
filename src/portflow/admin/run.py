"""How ``start --workers N`` serves one admin address for all its workers: a per-run directory.

The supervisor makes a private directory for the run and hands it to every worker (``RUN_DIR``). Each
worker writes its report there, ``ready-PID.json``: its readiness and, when metrics are on (``RUN_METRICS``),
its metrics' snapshot; rewritten every ``HEARTBEAT`` seconds (and once more when it stops), so a worker
whose loop stopped answering shows as stale. The supervisor's admin address reads them: ready only when
every worker runs, has loaded and is ready; metrics merged over the workers, those of workers that exited
kept (counters and histograms only), so totals never go back.

The browser view runs the namespace's tests in a worker the same way: the supervisor writes a request,
``tests-ID.json`` (the pattern); the first worker to claim it (an atomic rename) runs the tests with its
runtime's runner and writes ``tests-ID.result``, which the supervisor waits for. While a page follows the
view's events the supervisor keeps ``watching.json`` fresh (the nodes opened on the page); while it is, each
worker watches its traffic (``recent.Recent``) and adds to its report its recent errors and the last
frames of those nodes, which the supervisor merges (``Workers.recent``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .readiness import check

__all__ = ["RunDirectory", "Workers", "report_forever", "write_report", "claim_tests", "watched_nodes", "RUN_DIR",
           "RUN_METRICS", "HEARTBEAT", "STALE"]

#: The variable that names the run's directory to a worker.
RUN_DIR = "_PORTFLOW_RUN_DIR"
#: Set (to 1) when the workers count metrics for the supervisor's admin address.
RUN_METRICS = "_PORTFLOW_RUN_METRICS"
#: Seconds between two reports of a worker; one older than ``STALE`` seconds means its loop is stuck.
HEARTBEAT = 1.0
STALE = 5.0


def write_report(directory: str, runtime: Any, metrics: Any = None, recent: Any = None) -> dict[str, Any]:
    """Write this worker's readiness (atomically) and return it."""
    report = {"pid": os.getpid(), "time": time.time(), **check(runtime).as_json()}
    if metrics is not None:
        report["metrics"] = metrics.snapshot()
    if recent is not None:
        shown = recent.follow(directory)
        if shown is not None:
            report["recent"] = shown
    path = Path(directory) / f"ready-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    tmp.replace(path)
    return report


async def report_forever(directory: str, runtime: Any, metrics: Any = None, recent: Any = None) -> None:
    """Report now, then every ``HEARTBEAT`` seconds, and once more when cancelled (the worker stops); run
    the tests the supervisor asks for (see the module docstring)."""
    running: set[asyncio.Task[None]] = set()
    try:
        while True:
            write_report(directory, runtime, metrics, recent)
            for request in claim_tests(directory):
                task = asyncio.ensure_future(_run_tests(request, runtime))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.sleep(HEARTBEAT)
    finally:
        for task in running:
            task.cancel()
        if recent is not None:
            recent.unfollow()
        with contextlib.suppress(OSError):
            write_report(directory, runtime, metrics)


def claim_tests(directory: str) -> list[Path]:
    """The test requests this worker claimed (renamed to ``tests-ID.PID``: no other worker gets them)."""
    claimed = []
    for request in Path(directory).glob("tests-*.json"):
        mine = request.with_suffix(f".{os.getpid()}")
        with contextlib.suppress(OSError):
            request.rename(mine)
            claimed.append(mine)
    return claimed


async def _run_tests(claimed: Path, runtime: Any) -> None:
    from .edit import run_live_tests

    try:
        asked = _read(claimed)
        answer: dict[str, Any] = {"results": await run_live_tests(runtime, str(asked.get("pattern") or ""),
                                                                  asked.get("timeout"))}
    except Exception as exc:  # noqa: BLE001 - the supervisor shows it; the worker goes on
        answer = {"error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)}
    with contextlib.suppress(OSError):
        _write(claimed.with_suffix(".result"), answer, done=claimed)


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: Any, done: Path | None = None) -> None:
    """Write JSON atomically (a reader sees all of it or nothing); then remove ``done``."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)
    if done is not None:
        done.unlink()


WATCHING = "watching.json"


def watched_nodes(directory: str) -> list[str] | None:
    """The nodes the supervisor's page has open, when a page watches (``watching.json`` fresh), else None."""
    try:
        asked = _read(Path(directory) / WATCHING)
    except (OSError, ValueError):
        return None
    if time.time() - float(asked.get("time", 0)) > STALE:
        return None
    return [str(n) for n in asked.get("nodes", [])]


class RunDirectory:
    """The supervisor's side: create the directory, read the workers' reports, remove it at the end."""

    def __init__(self, metrics: bool) -> None:
        self.path = tempfile.mkdtemp(prefix="portflow-run-")
        self.metrics = metrics
        #: The counters and histograms of workers that exited.
        self.retired: list[dict[str, Any]] = []

    def environment(self) -> dict[str, str]:
        """The variables a worker needs."""
        env = {RUN_DIR: self.path}
        if self.metrics:
            env[RUN_METRICS] = "1"
        return env

    def report(self, pid: int) -> dict[str, Any] | None:
        try:
            report: dict[str, Any] = json.loads((Path(self.path) / f"ready-{pid}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report

    def worker_exited(self, pid: int) -> None:
        """Forget a worker that exited, keeping its counters and histograms (not its gauges)."""
        from .metrics import GAUGES

        report = self.report(pid)
        if report is not None and report.get("metrics"):
            self.retired.append({k: v for k, v in report["metrics"].items() if k not in GAUGES})
        with contextlib.suppress(OSError):
            (Path(self.path) / f"ready-{pid}.json").unlink()

    def readiness(self, pids: dict[int, int | None], count: int) -> dict[str, Any]:
        """All workers' readiness as one report: ``pids`` maps worker number -> pid (None: not running)."""
        not_ready: list[dict[str, Any]] = []
        warnings: list[dict[str, Any]] = []
        now = time.time()
        for index in range(1, count + 1):
            pid = pids.get(index)
            report = self.report(pid) if pid is not None else None
            who = f"worker {index}" + (f" (pid {pid})" if pid is not None else "")
            if pid is None:
                problem = "not running"
            elif report is None:
                problem = "starting"
            elif now - float(report["time"]) > STALE:
                problem = f"not answering for {now - float(report['time']):.0f}s"
            else:
                for entry in report["not_ready"]:
                    not_ready.append({"worker": index, **entry, "message": f"{who}: {entry['message']}"})
                if not warnings:  # the same specs in every worker: their warnings once
                    warnings.extend(report["warnings"])
                continue
            not_ready.append({"worker": index, "spec": None, "kind": None, "reason": problem,
                              "message": f"{who}: {problem}"})
        return {"ready": not not_ready, "not_ready": not_ready, "warnings": warnings}

    def snapshots(self, pids: Iterable[int | None]) -> list[dict[str, Any]]:
        """The metrics of the running workers ``pids`` and of those that exited."""
        live = [r["metrics"] for pid in pids if pid is not None and (r := self.report(pid)) and r.get("metrics")]
        return [*live, *self.retired] or [{}]

    async def run_tests(self, pattern: str, timeout: float) -> list[dict[str, Any]]:
        """Have a worker run the tests matching ``pattern`` (see the module docstring) and return its results;
        a bad pattern is a ``ValueError``, no answer within ``timeout`` plus the heartbeats a ``TimeoutError``."""
        ident = uuid.uuid4().hex
        request = Path(self.path) / f"tests-{ident}.json"
        _write(request, {"pattern": pattern, "timeout": timeout})
        result = request.with_suffix(".result")
        deadline = time.monotonic() + timeout + STALE
        try:
            while not result.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no worker ran the tests within {timeout + STALE:.0f}s")
                await asyncio.sleep(0.05)
            answer = _read(result)
        finally:
            for leftover in (request, result):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        if "error" in answer:
            raise ValueError(answer["error"])
        return list(answer["results"])

    def watch(self, nodes: Iterable[str]) -> None:
        """A page watches (with ``nodes`` open): the workers watch their traffic for the next ``STALE`` s."""
        with contextlib.suppress(OSError):
            _write(Path(self.path) / WATCHING, {"time": time.time(), "nodes": list(nodes)})

    def recent(self, pids: Iterable[int | None]) -> dict[str, Any]:
        """The running workers' recent traffic merged: whether every one watches, errors (newest first), the
        frames of the nodes asked for (newest first)."""
        from .recent import ERRORS, FRAMES

        errors: list[dict[str, Any]] = []
        frames: dict[str, list[dict[str, Any]]] = {}
        watching = []
        for pid in pids:
            report = self.report(pid) if pid is not None else None
            shown = (report or {}).get("recent")
            watching.append(shown is not None)
            if not shown:
                continue
            errors += shown.get("errors", [])
            for node, listed in shown.get("frames", {}).items():
                frames.setdefault(node, []).extend(listed)
        errors.sort(key=lambda e: -e["time"])
        return {"watching": bool(watching) and all(watching), "errors": errors[:ERRORS],
                "frames": {n: sorted(f, key=lambda x: -x["time"])[:FRAMES] for n, f in frames.items()}}

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Workers:
    """The supervisor's workers as the browser view (``ui.UI``) uses them: run tests in one, watch their
    traffic, read it merged. ``pids()`` gives the running workers' pids."""

    def __init__(self, run_dir: RunDirectory, pids: Callable[[], Iterable[int | None]]) -> None:
        self.run_dir = run_dir
        self.pids = pids

    async def run_tests(self, pattern: str, timeout: float) -> list[dict[str, Any]]:
        return await self.run_dir.run_tests(pattern, timeout)

    def watch(self, nodes: Iterable[str]) -> None:
        self.run_dir.watch(nodes)

    def recent(self) -> dict[str, Any]:
        return self.run_dir.recent(self.pids())
