"""The test runner: the tests a runtime has activated, and running them.

A ``Runner`` is a service of the runtime (``context.services.get(Runner)``); each ``test`` node registers
itself there when the symbol table activates it and unregisters when it is deactivated. ``portflow test``
loads a namespace, takes the runner with ``find_runner(runtime.context)`` and calls ``run(pattern)``:
every matching test runs concurrently, each in a process of its own whose hops the runner records as
``Frame``s while it runs (it subscribes to the runtime's hop observer), so ``assert.target`` can look
back at what happened (``runner.frames(proc)``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ...errors import FlowTimeout
from ...observe import Hop, Observer, Subscriber
from ...port import Frame
from ...process import Process
from ...scheme import Context
from ...spec import format_duration

__all__ = ["Runner", "Result", "Suite", "runner_for", "find_runner"]


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


class _Recorder(Subscriber):
    """The frames of each running test's process (and its children), from the hop observer."""

    def __init__(self) -> None:
        self.frames: dict[Process, list[Frame]] = {}
        self._open: dict[Hop, Frame] = {}

    def of(self, proc: Process) -> list[Frame] | None:
        p: Process | None = proc
        while p is not None:
            frames = self.frames.get(p)
            if frames is not None:
                return frames
            p = p.parent
        return None

    def hop_started(self, hop: Hop) -> None:
        frames = self.of(hop.process)
        if frames is None:
            return
        if hop.index == 0:
            frames.append(Frame(hop.source.node, hop.source.name, None, hop.packet))
        frame = self._open[hop] = Frame(hop.target.node, hop.target.name, hop.packet)
        frames.append(frame)

    def hop_ended(self, hop: Hop) -> None:
        frame = self._open.pop(hop, None)
        if frame is not None:
            frame.output, frame.end = hop.answer, time.time()


class Runner:
    """Tests by name (``namespace/name``); ``run`` runs the ones whose name matches a pattern."""

    def __init__(self, observer: Observer | None = None) -> None:
        self._tests: dict[str, Suite] = {}
        self.observer = observer
        self._recorder = _Recorder()

    @classmethod
    def service(cls, context: Context) -> Runner:
        """The runtime's runner, recording through its hop observer."""
        return cls(context.observer)

    def frames(self, proc: Process) -> list[Frame] | None:
        """The frames recorded so far in the test process ``proc`` belongs to; None outside a test."""
        return self._recorder.of(proc)

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
            result = await run_one(name, suite, timeout=timeout, recorder=self._recorder)
            results[name] = result
            if on_result is not None:
                on_result(result)

        unsubscribe = self.observer.subscribe(self._recorder) if self.observer is not None else None
        try:
            async with asyncio.TaskGroup() as group:
                for name, suite in selected:
                    group.create_task(one(name, suite))
        finally:
            if unsubscribe is not None:
                unsubscribe()
        return [results[name] for name, _ in selected]


async def run_one(name: str, suite: Suite, *, timeout: float | None = None,
                  recorder: _Recorder | None = None) -> Result:
    """Run one test in a fresh process whose frames ``recorder`` keeps; a crash or a timeout is a failure."""
    proc = Process()
    if recorder is not None:
        recorder.frames[proc] = []
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
    try:
        await proc.exit(error)
    finally:
        if recorder is not None:
            recorder.frames.pop(proc, None)
    return Result(name, error, duration)


def runner_for(context: Context) -> Runner:
    """The runtime's runner, created on first use."""
    return context.services.get(Runner)


def find_runner(context: Context) -> Runner | None:
    """The runtime's runner, or None when no test node was ever compiled there."""
    return context.services.find(Runner)
