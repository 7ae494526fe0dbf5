"""How ``start --workers N`` serves one admin address for all its workers: a per-run directory.

The supervisor makes a private directory for the run and hands it to every worker (``RUN_DIR``). Each
worker writes its readiness there (``ready-PID.json``, rewritten every ``HEARTBEAT`` seconds, so a worker
whose loop stopped answering shows as stale) and, when metrics are on, counts into prometheus-client's
multiprocess files there (``PROMETHEUS_MULTIPROC_DIR`` is the same directory). The supervisor's admin
address reads them: ready only when every worker runs, has loaded and is ready; metrics summed over workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .readiness import check

__all__ = ["RunDirectory", "report_forever", "write_report", "RUN_DIR", "HEARTBEAT", "STALE"]

#: The variable that names the run's directory to a worker.
RUN_DIR = "_PORTFLOW_RUN_DIR"
#: Seconds between two reports of a worker; one older than ``STALE`` seconds means its loop is stuck.
HEARTBEAT = 1.0
STALE = 5.0


def write_report(directory: str, runtime: Any, metrics: Any = None) -> dict[str, Any]:
    """Write this worker's readiness (atomically) and return it."""
    if metrics is not None:
        metrics.refresh()
    report = {"pid": os.getpid(), "time": time.time(), **check(runtime).as_json()}
    path = Path(directory) / f"ready-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    tmp.replace(path)
    return report


async def report_forever(directory: str, runtime: Any, metrics: Any = None) -> None:
    """Report now, then every ``HEARTBEAT`` seconds (a worker's task, cancelled when it stops)."""
    while True:
        write_report(directory, runtime, metrics)
        await asyncio.sleep(HEARTBEAT)


class RunDirectory:
    """The supervisor's side: create the directory, read the workers' reports, remove it at the end."""

    def __init__(self, metrics: bool) -> None:
        self.path = tempfile.mkdtemp(prefix="portflow-run-")
        self.metrics = metrics

    def environment(self) -> dict[str, str]:
        """The variables a worker needs (set before it starts, so prometheus-client sees them at import)."""
        env = {RUN_DIR: self.path}
        if self.metrics:
            env["PROMETHEUS_MULTIPROC_DIR"] = self.path
        return env

    def report(self, pid: int) -> dict[str, Any] | None:
        try:
            report: dict[str, Any] = json.loads((Path(self.path) / f"ready-{pid}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return report

    def worker_exited(self, pid: int) -> None:
        """Forget a worker that exited: its report, and its live gauges."""
        with contextlib.suppress(OSError):
            (Path(self.path) / f"ready-{pid}.json").unlink()
        if self.metrics:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.path)

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

    def metrics_text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.path)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
