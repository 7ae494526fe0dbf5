"""The test runner: the tests a runtime has activated, and running them.

A ``Runner`` lives in the runtime's ``context.shared`` (under ``RUNNER_KEY``); each ``test`` node
registers itself there when the symbol table activates it and unregisters when it is deactivated.
``portflow test`` loads a namespace, takes the runner with ``find_runner(runtime.context.shared)`` and
calls ``run(pattern)``: every matching test runs concurrently, each in a process of its own that records
its frames (so ``assert.target`` can look back at what happened).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...errors import FlowTimeout
from ...process import Process
from ...spec import format_duration

__all__ = ["RUNNER_KEY", "Runner", "Result", "Suite", "runner_for", "find_runner", "format_duration"]

RUNNER_KEY = "testing.runner"


class Suite(Protocol):
    """Something the runner can run: returns the failure (an exception) or None when it passed."""

    async def run(self, proc: Process) -> BaseException | None: ...


@dataclass(frozen=True)
class Result:
    """One test's outcome."""

    name: str
    error: BaseException | None
    duration: float  # seconds

    @property
    def passed(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        """The failure as text (empty when the test passed)."""
        if self.error is None:
            return ""
        return str(self.error) or type(self.error).__name__


class Runner:
    """Tests by name (``namespace/name``); ``run`` runs the ones whose name matches a pattern."""

    def __init__(self) -> None:
        self._tests: dict[str, Suite] = {}

    def __len__(self) -> int:
        return len(self._tests)

    def __contains__(self, name: str) -> bool:
        return name in self._tests

    def register(self, name: str, suite: Suite) -> None:
        self._tests[name] = suite

    def unregister(self, name: str, suite: Suite | None = None) -> None:
        """Forget ``name`` (only if it is still ``suite``, when given)."""
        if suite is None or self._tests.get(name) is suite:
            self._tests.pop(name, None)

    def names(self, pattern: str | re.Pattern[str] | None = None) -> list[str]:
        """Registered names matching ``pattern`` (an unanchored regular expression search), sorted."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return sorted(n for n in self._tests if regex is None or regex.search(n))

    async def run(
        self,
        pattern: str | re.Pattern[str] | None = None,
        *,
        timeout: float | None = None,
        on_result: Callable[[Result], Any] | None = None,
    ) -> list[Result]:
        """Run the matching tests concurrently; results in name order. ``on_result`` sees each as it ends."""
        selected = [(name, self._tests[name]) for name in self.names(pattern)]
        results: dict[str, Result] = {}

        async def one(name: str, suite: Suite) -> None:
            result = await run_one(name, suite, timeout=timeout)
            results[name] = result
            if on_result is not None:
                on_result(result)

        async with asyncio.TaskGroup() as group:
            for name, suite in selected:
                group.create_task(one(name, suite))
        return [results[name] for name, _ in selected]


async def run_one(name: str, suite: Suite, *, timeout: float | None = None) -> Result:
    """Run one test in a fresh process that records frames; a crash or a timeout is a failure."""
    proc = Process()
    proc.frames = []
    started = time.perf_counter()
    error: BaseException | None
    try:
        async with asyncio.timeout(timeout):
            error = await suite.run(proc)
    except TimeoutError:
        error = FlowTimeout(f"timeout after {format_duration(timeout or 0)}")
    except Exception as exc:  # noqa: BLE001 - a broken node fails its test, not the run
        error = exc
    duration = time.perf_counter() - started
    await proc.exit(error)
    return Result(name, error, duration)


def runner_for(shared: MutableMapping[str, Any]) -> Runner:
    """The runner kept in ``shared`` (a runtime's ``context.shared``), created on first use."""
    runner = shared.get(RUNNER_KEY)
    if runner is None:
        runner = shared[RUNNER_KEY] = Runner()
    return runner


def find_runner(shared: MutableMapping[str, Any]) -> Runner | None:
    """The runner in ``shared``, or None when no test node was ever compiled there."""
    return shared.get(RUNNER_KEY)
