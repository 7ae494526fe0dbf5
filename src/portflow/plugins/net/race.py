"""The race between a request's work and its client going away: the first to finish cancels the other.

``race(work, disconnected, running)`` awaits ``work`` in the calling task, inside a task group whose one
child watches the connection (``disconnected()`` returns once the client has left). When ``work`` ends it
cancels the watcher; when the client leaves first the watcher cancels ``work``, and ``race`` raises
``ClientGone``. The work stays in the request's own task, so deadlines it set (``asyncio.timeout``) still
apply to it.

``Deadlines`` bounds a step of many tasks (reading a request body) with one timer for all of them, which
costs a dict entry per task instead of ``asyncio.timeout``'s timer per task.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from time import monotonic
from typing import Any, TypeVar

from ...port import resume

__all__ = ["ClientGone", "Deadlines", "current_task", "race", "resume", "until_first"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed its connection before the answer was written."""


class _State:
    __slots__ = ("running", "gone")

    def __init__(self) -> None:
        self.running = False
        self.gone = False


async def race(work: Awaitable[T], disconnected: Callable[[], Coroutine[Any, Any, None]],
               running: set[asyncio.Task]) -> T:
    """``await work`` raced against the client leaving; the request's task sits in ``running`` meanwhile
    (so that a draining listener can cancel it). Raises ``ClientGone``."""
    task = asyncio.current_task()
    assert task is not None
    state = _State()

    def on_gone(watch: asyncio.Task) -> None:
        if not watch.cancelled() and state.running:
            state.gone = True
            task.cancel()

    running.add(task)
    try:
        async with asyncio.TaskGroup() as group:
            watch = group.create_task(disconnected())
            watch.add_done_callback(on_gone)
            state.running = True
            try:
                return await work
            finally:
                state.running = False
                watch.cancel()
    except asyncio.CancelledError:
        if state.gone:
            task.uncancel()
            raise ClientGone from None
        raise
    except BaseExceptionGroup as group:  # the work's own error, wrapped by the task group
        raise group.exceptions[0] from None
    finally:
        running.discard(task)


async def until_first(*aws: Awaitable[Any]) -> None:
    """Wait until the first of ``aws`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _current_task_getter() -> Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]:
    """``asyncio.current_task(loop)``, for the request path. On Python 3.11 ``current_task`` is a Python
    function around the C module's table of running tasks, so this reads that table directly when it is
    there (tests/plugins/net/test_deadlines.py checks both agree); 3.12 made ``current_task`` C itself."""
    if sys.version_info < (3, 12):
        import _asyncio

        tasks = getattr(_asyncio, "_current_tasks", None)
        if isinstance(tasks, dict):
            return tasks.get
    return asyncio.current_task


current_task = _current_task_getter()

#: The message of the cancel with which ``Deadlines`` ends a task past its deadline.
EXPIRED = "portflow: deadline passed"


class Deadlines:
    """Tasks that must finish a step by a deadline, swept by one timer every ``tick`` seconds (so a
    deadline holds to within a tick). ``enter`` before the step, ``leave`` after it; a task past its
    deadline is cancelled with ``EXPIRED``, and ``expired(task)`` then says so (and uncancels it)."""

    __slots__ = ("tick", "tasks", "late", "_timer", "_loop")

    def __init__(self, tick: float = 0.25) -> None:
        self.tick = tick
        self.tasks: dict[asyncio.Task[Any], float] = {}
        self.late: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, seconds: float) -> asyncio.Task[Any]:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        task = current_task(loop)
        assert task is not None
        self.tasks[task] = monotonic() + seconds
        if self._timer is None:
            self._timer = loop.call_later(self.tick, self._sweep)
        return task

    def leave(self, task: asyncio.Task[Any]) -> None:
        self.tasks.pop(task, None)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` was cancelled for passing its deadline (then it is uncancelled)."""
        if task not in self.late:
            return False
        self.late.discard(task)
        task.uncancel()
        return True

    def _sweep(self) -> None:
        self._timer = None
        now = monotonic()
        for task, deadline in list(self.tasks.items()):
            if deadline <= now:
                del self.tasks[task]
                self.late.add(task)
                task.cancel(EXPIRED)
        if self.tasks:
            self._timer = asyncio.get_running_loop().call_later(self.tick, self._sweep)
