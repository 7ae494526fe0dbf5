"""Processes: one unit of work (an HTTP request, a test, a lifecycle call) flowing through the nodes.

A process has an id, a parent, children, copy-on-write data and exit hooks. Children run in their
parent's task group: ``await parent.join()`` waits for them, and the parent's exit cancels what is still
running. Resources opened for a process (a transaction, a file) close with it: ``close(error)`` gets the
process's exit error, so a transaction commits on success and rolls back on error.

Everything is lazy: a process that nobody forks, names or hooks costs a few attribute writes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, cast

import uuid_utils

__all__ = ["Process", "Resource", "RUNNING", "TERMINATED", "running"]

log = logging.getLogger("portflow.process")

RUNNING = 0
TERMINATED = 1

ExitHook = Callable[["Process"], Awaitable[None] | None]
_MISSING = object()
_RESOURCES = object()  # the ``_locals`` key of the resources a process opened, in opening order


_late: set[asyncio.Future[Any]] = set()


def _late_hook(proc: Process, awaitable: Awaitable[None]) -> None:
    """Run an exit hook added after the exit; keep it referenced and log its failure."""
    future = asyncio.ensure_future(awaitable)
    _late.add(future)

    def done(f: asyncio.Future[Any]) -> None:
        _late.discard(f)
        if not f.cancelled() and f.exception() is not None:
            log.error("process %s: exit hook failed", proc.id, exc_info=f.exception())

    future.add_done_callback(done)


class Resource(Protocol):
    """Something a process owns; closed once when the process exits."""

    async def close(self, error: BaseException | None) -> None: ...


#: Processes created and not yet exited. A list, not a class attribute: writing a class attribute would
#: invalidate the interpreter's attribute caches for every Process on each write.
_live = [0]


def running() -> int:
    """Processes created and not yet exited, in this interpreter (``portflow_processes_active``)."""
    return _live[0]


class Process:
    """One flow of packets; see the module docstring."""

    __slots__ = (
        "_id", "parent", "status", "error", "start_time", "end_time", "failure",
        "_data", "_hooks", "_children", "_tasks", "_done", "_locals", "observed",
    )

    def __init__(self, parent: Process | None = None) -> None:
        _live[0] += 1
        #: Whom this process's hops are reported to (set by the observer, ``observe.py``), or None.
        self.observed: Any = None
        self._id: str | None = None
        self.parent = parent
        self.status = RUNNING
        self.error: BaseException | None = None
        self.start_time = time.time()
        self.end_time: float | None = None
        #: The first error a task started in this process raised (also this process's exit error).
        self.failure: BaseException | None = None
        self._data: dict[str, Any] | None = None
        self._hooks: list[ExitHook] | None = None
        self._children: set[Process] | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._done: asyncio.Future[None] | None = None
        self._locals: dict[Any, Any] | None = None

    # -- identity -------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """A UUIDv7, minted the first time somebody asks."""
        if self._id is None:
            self._id = str(uuid_utils.uuid7())
        return self._id

    @property
    def terminated(self) -> bool:
        return self.status == TERMINATED

    def __repr__(self) -> str:
        return f"<Process {self.id} {'running' if self.status == RUNNING else 'terminated'}>"

    # -- data: children see their ancestors' values and shadow them with their own ------------
    def get(self, key: str, default: Any = None) -> Any:
        proc: Process | None = self
        while proc is not None:
            data = proc._data
            if data is not None:
                value = data.get(key, _MISSING)
                if value is not _MISSING:
                    return value
            proc = proc.parent
        return default

    def set(self, key: str, value: Any) -> None:
        if self._data is None:
            self._data = {}
        self._data[key] = value

    def setdefault(self, key: str, value: Any) -> Any:
        """``key`` of this process's own data, set to ``value`` first when it has none (as ``dict.setdefault``)."""
        data = self._data
        if data is None:
            data = self._data = {}
        return data.setdefault(key, value)

    def delete(self, key: str) -> None:
        """Remove ``key`` here, or from the nearest ancestor that has it."""
        proc: Process | None = self
        while proc is not None:
            if proc._data is not None and key in proc._data:
                del proc._data[key]
                return
            proc = proc.parent

    def data(self) -> dict[str, Any]:
        """All values visible from this process, nearest first wins."""
        chain = []
        proc: Process | None = self
        while proc is not None:
            chain.append(proc._data or {})
            proc = proc.parent
        merged: dict[str, Any] = {}
        for data in reversed(chain):
            merged.update(data)
        return merged

    def local(self, owner: Any, factory: Callable[[], Any]) -> Any:
        """A per-process slot owned by ``owner`` (usually a node), created on first use, dropped on exit."""
        slots = self._locals
        if slots is None:
            slots = self._locals = {}
        value = slots.get(owner, _MISSING)
        if value is _MISSING:
            value = slots[owner] = factory()
        return value

    def peek_local(self, owner: Any) -> Any:
        """The slot owned by ``owner`` if it exists, else None."""
        return None if self._locals is None else self._locals.get(owner)

    def resource(self, key: Any, opener: Callable[[], Resource]) -> Resource:
        """The resource under ``key``, opened on first use and closed when the process exits."""
        slots = self._locals
        if slots is not None and key in slots:
            return cast(Resource, slots[key])
        res = opener()
        self.local(key, lambda: res)
        self.local(_RESOURCES, list).append(res)

        async def close(proc: Process) -> None:
            opened = proc.peek_local(_RESOURCES)
            if opened is not None and any(r is res for r in opened):  # not closed by ``commit()`` already
                await res.close(proc.error)

        self.on_exit(close)
        return res

    async def commit(self) -> None:
        """Close the resources opened so far as on success (a transaction commits), now: before an answer
        that says so is sent. Waits for the process's tasks and children first. Raises the first failure;
        the resources after it then close with that error (roll back)."""
        opened = self.peek_local(_RESOURCES)
        if not opened:
            return
        await self.join()
        failure: Exception | None = None
        while opened:
            res = opened.pop()
            try:
                await res.close(failure)
            except Exception as exc:  # noqa: BLE001 - reported to the caller, which answers for it
                failure = failure or exc
        if failure is not None:
            raise failure

    # -- children ---------------------------------------------------------------------------------
    def fork(self) -> Process:
        """A child process: it sees this process's data, and exits no later than this one."""
        child = Process(self)
        if self.status == TERMINATED:
            child.status = TERMINATED
            child.error = self.error
            child.end_time = time.time()
            return child
        if self._children is None:
            self._children = set()
        self._children.add(child)
        return child

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in this process's task group: ``join()`` waits for it, ``exit()`` cancels it.

        A task that fails is logged and its error kept as ``failure``: the process then exits with that
        error (its transactions roll back, observers see it), unless it exits with an error of its own."""
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("process %s: task failed", self.id, exc_info=error)
            if self.failure is None:
                self.failure = error

    async def join(self) -> None:
        """Wait until every task started in this process and every child process has finished."""
        if not self._tasks and not self._children:
            return
        while True:
            pending = [t for t in (self._tasks or ()) if not t.done()]
            children = [c for c in (self._children or ()) if c.status == RUNNING]
            if not pending and not children:
                return
            if pending:
                await asyncio.wait(pending)
            for child in children:
                await child.wait()

    # -- exit ---------------------------------------------------------------------------------------
    def on_exit(self, hook: ExitHook) -> None:
        """Run ``hook(process)`` when the process exits (last added runs first); at once if it has."""
        if self.status == TERMINATED:
            result = hook(self)
            if inspect.isawaitable(result):
                _late_hook(self, result)
            return
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)

    @property
    def idle(self) -> bool:
        """Nothing was started, forked, hooked or opened in it: ``join`` and ``commit`` return at once and
        ``exit_now`` can exit it."""
        return not (self._tasks or self._children or self._hooks or self._locals)

    def exit_now(self, error: BaseException | None = None) -> bool:
        """``exit(error)`` at once, when it has nothing to wait for (no tasks, children or exit hooks): True.
        Otherwise False, and nothing is done: ``await exit(error)``."""
        if self.status == TERMINATED:
            return True
        if self._tasks or self._children or self._hooks:
            return False
        self._terminate(error if error is not None or self.failure is None else self.failure)
        self._release()
        return True

    async def exit(self, error: BaseException | None = None) -> None:
        """End the process once: cancel its tasks, exit its children, run exit hooks, release waiters."""
        if self.status == TERMINATED:
            return
        self._terminate(error)
        if self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if error is None and self.failure is not None:
            self.error = error = self.failure
        if self._children:
            for child in list(self._children):
                await child.exit(error)
            self._children = None
        hooks = self._hooks
        if hooks:
            self._hooks = None
            for hook in reversed(hooks):
                try:
                    result = hook(self)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("process %s: exit hook failed", self.id)
        self._release()

    def _terminate(self, error: BaseException | None) -> None:
        """The start of an exit: no longer live, terminated with ``error``, its end time taken."""
        _live[0] -= 1
        self.status = TERMINATED
        self.error = error
        self.end_time = time.time()

    def _release(self) -> None:
        """The end of an exit: out of its parent, data dropped, waiters released."""
        parent = self.parent
        if parent is not None and parent._children is not None:
            parent._children.discard(self)
        self._locals = None
        self._data = None
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def wait(self) -> None:
        """Wait until the process has exited."""
        if self.status == TERMINATED:
            return
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._done)
