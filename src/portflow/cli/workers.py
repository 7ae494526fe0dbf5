"""``portflow start --workers N``: a supervisor that runs N worker processes, each a whole runtime on
the same store, sharing listening sockets through SO_REUSEPORT.

The supervisor applies ``--from-specs``/``--from-values`` once, then starts the workers. A worker that
dies is restarted with backoff (0.1 s doubling to 5 s; reset once it has run for 30 s) and the death is
logged. SIGINT/SIGTERM are passed on to every worker, which shut down gracefully; a worker still alive
after the grace period is killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("portflow.workers")

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
HEALTHY_AFTER = 30.0


def worker_count(text: str) -> int:
    """``'auto'`` -> the number of cores; otherwise a positive integer."""
    if text == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{text!r}: expected a positive number or 'auto'")
    return n


class Supervisor:
    """Keeps ``count`` copies of ``argv`` running until told to stop."""

    def __init__(self, argv: Sequence[str], count: int, grace: float,
                 exited: Callable[[int], None] | None = None) -> None:
        self.argv = list(argv)
        self.count = count
        self.grace = grace
        self.stopping = False
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        #: Called with the pid of each worker that exited (the run directory forgets it).
        self.exited = exited
        #: True when ``run``'s check found the workers not ready (``start --strict``).
        self.failed = False

    def pids(self) -> dict[int, int | None]:
        """Worker number -> pid of the worker running now (None while it is restarted)."""
        return {i: (p.pid if p.returncode is None else None) for i, p in self.procs.items()}

    async def _keep(self, index: int) -> None:
        backoff = BACKOFF_START
        while not self.stopping:
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(*self.argv, stdin=asyncio.subprocess.DEVNULL)
            self.procs[index] = proc
            log.info("worker %d started (pid %d)", index, proc.pid)
            status = await proc.wait()
            if self.exited is not None:
                self.exited(proc.pid)
            if self.stopping:
                return
            if time.monotonic() - started > HEALTHY_AFTER:
                backoff = BACKOFF_START
            how = f"signal {-status}" if status < 0 else f"status {status}"
            log.error("worker %d (pid %d) exited with %s; restarting in %.1fs", index, proc.pid, how, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def run(self, check: Awaitable[bool] | None = None) -> None:
        """Keep the workers running until SIGINT/SIGTERM, or until ``check`` (awaited beside them) is False."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def checking(check: Awaitable[bool]) -> None:
            if not await check:
                self.failed = True
                stop.set()

        async with asyncio.TaskGroup() as keepers:  # a keeper that fails stops the others, and is raised
            tasks = [keepers.create_task(self._keep(i + 1)) for i in range(self.count)]
            if check is not None:
                tasks.append(keepers.create_task(checking(check)))
            await stop.wait()
            self.stopping = True
            await self._stop_workers()
            for task in tasks:  # a keeper waiting out a backoff would otherwise sleep on
                task.cancel()

    async def _stop_workers(self) -> None:
        log.info("stopping %d worker(s)", len(self.procs))
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + 5
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                await proc.wait()

ENVIRONMENT_VARIABLE = "_PORTFLOW_WORKER_ENVIRONMENT"


def worker_argv(root_args: Sequence[str], namespace: str, environment: dict[str, str]) -> list[str]:
    """The command line of one worker: the same program, ``start --worker``, without the seed files.

    The ``-e`` environment travels in a variable (JSON), not on the command line, so it neither shows in
    ``ps`` nor gets split on commas again.
    """
    os.environ[ENVIRONMENT_VARIABLE] = json.dumps(environment)
    return [sys.executable, "-m", "portflow.cli.main", *root_args, "start", "--worker", "-n", namespace]


def worker_environment() -> dict[str, str]:
    """The ``-e`` environment a supervisor handed to this worker."""
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    return {str(k): str(v) for k, v in json.loads(text).items()} if text else {}
