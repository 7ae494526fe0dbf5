"""How ``start --workers N`` serves one admin address for all its workers: a per-run directory.

The supervisor makes a private directory for the run and hands it to every worker (``RUN_DIR``). Each
worker writes its report there, ``ready-PID.json``: its readiness and, when metrics are on (``RUN_METRICS``),
its metrics' snapshot; rewritten every ``HEARTBEAT`` seconds (and once more when it stops), so a worker
whose loop stopped answering shows as stale. The supervisor's admin address reads them: ready only when
every worker runs, has loaded and is ready; metrics merged over the workers, those of workers that exited
kept (counters and histograms only), so totals never go back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .readiness import check

__all__ = ["RunDirectory", "report_forever", "write_report", "RUN_DIR", "RUN_METRICS", "HEARTBEAT", "STALE"]

#: The variable that names the run's directory to a worker.
RUN_DIR = "_PORTFLOW_RUN_DIR"
#: Set (to 1) when the workers count metrics for the supervisor's admin address.
RUN_METRICS = "_PORTFLOW_RUN_METRICS"
#: Seconds between two reports of a worker; one older than ``STALE`` seconds means its loop is stuck.
HEARTBEAT = 1.0
STALE = 5.0


def write_report(directory: str, runtime: Any, metrics: Any = None) -> dict[str, Any]:
    """Write this worker's readiness (atomically) and return it."""
    report = {"pid": os.getpid(), "time": time.time(), **check(runtime).as_json()}
    if metrics is not None:
        report["metrics"] = metrics.snapshot()
    path = Path(directory) / f"ready-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    tmp.replace(path)
    return report


async def report_forever(directory: str, runtime: Any, metrics: Any = None) -> None:
    """Report now, then every ``HEARTBEAT`` seconds, and once more when cancelled (the worker stops)."""
    try:
        while True:
            write_report(directory, runtime, metrics)
            await asyncio.sleep(HEARTBEAT)
    finally:
        with contextlib.suppress(OSError):
            write_report(directory, runtime, metrics)


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

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
