"""Lifetime: the one task group and the one exit stack of a runtime.

Every background task of a runtime is started here, anyio-style: ``await lifetime.start(fn, owner=node)``
runs ``fn(status)`` in the runtime's task group and returns what the task passes to ``status.started(value)``
(a bound port, say) once it is ready. A task that fails before it is ready raises out of ``start``; one that
fails later is logged and reported to ``on_failure(owner, error)`` (the runtime marks the owner's symbol
failed); either way it never takes the other tasks down. ``start`` returns the ready value; the task itself
is a ``Job`` from ``spawn`` when the caller must stop it early (a node that unloads).

Every resource registers its cleanup here too (``callback``, ``enter``); closing the lifetime cancels the
tasks, then runs the cleanups in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["Lifetime", "Job", "TaskStatus", "current"]

log = logging.getLogger("portflow.lifetime")

T = TypeVar("T")
_current: contextvars.ContextVar[Lifetime | None] = contextvars.ContextVar("portflow_lifetime", default=None)


def current() -> Lifetime | None:
    """The lifetime of the runtime whose code is running (for code deep below a codec, such as a server
    a node starts), or None outside a runtime."""
    return _current.get()


class TaskStatus(Generic[T]):
    """Handed to a started task: call ``started(value)`` once it is ready."""

    def __init__(self) -> None:
        self._ready: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def started(self, value: Any = None) -> None:
        if not self._ready.done():
            self._ready.set_result(value)


class Job(Generic[T]):
    """A task started in a lifetime: ``ready`` is what it reported, ``stop()`` cancels it and waits."""

    def __init__(self, task: asyncio.Task[Any], ready: T) -> None:
        self.task = task
        self.ready = ready

    @property
    def done(self) -> bool:
        return self.task.done()

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(_settled(self.task))


async def _settled(task: asyncio.Task[Any]) -> None:
    await asyncio.wait([task])


Failure = Callable[[Any, BaseException], None]


class Lifetime:
    """One task group and one exit stack; ``async with Lifetime() as lt:`` or ``open``/``aclose``."""

    def __init__(self, on_failure: Failure | None = None) -> None:
        self.exit_stack = contextlib.AsyncExitStack()
        self.on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._token: contextvars.Token[Lifetime | None] | None = None

    async def __aenter__(self) -> Lifetime:
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def open(self) -> None:
        """Make this the ``current()`` lifetime of the calling task and the tasks it creates from now on."""
        self._token = _current.set(self)

    # -- tasks --------------------------------------------------------------------------------------
    async def spawn(self, fn: Callable[[TaskStatus[T]], Awaitable[Any]], *, name: str = "portflow-task",
                    owner: Any = None) -> Job[T]:
        """Start ``fn(status)`` and wait until it calls ``status.started(value)`` (or ends)."""
        if self._closed:
            raise RuntimeError("the runtime is closed; no task can start in it")
        status: TaskStatus[T] = TaskStatus()
        context = contextvars.copy_context()
        context.run(_current.set, self)
        task = asyncio.get_running_loop().create_task(self._run(fn, status, owner, name), name=name,
                                                      context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        either: list[asyncio.Future[Any]] = [task, status._ready]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if status._ready.done():
            return Job(task, status._ready.result())
        error = task.exception() if not task.cancelled() else None
        if error is not None:
            raise error
        return Job(task, None)  # type: ignore[arg-type]  # ended (or was cancelled) without reporting

    async def start(self, fn: Callable[[TaskStatus[T]], Awaitable[Any]], *, name: str = "portflow-task",
                    owner: Any = None) -> T:
        """Start ``fn(status)`` in the task group; return the value it reports as ready."""
        return (await self.spawn(fn, name=name, owner=owner)).ready

    async def _run(self, fn: Callable[[TaskStatus[T]], Awaitable[Any]], status: TaskStatus[T], owner: Any,
                   name: str) -> None:
        try:
            await fn(status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not status._ready.done():
                raise  # spawn() raises it to the caller
            log.error("%s: background task failed: %s", name, exc, exc_info=exc)
            if self.on_failure is not None and owner is not None:
                self.on_failure(owner, exc)

    # -- cleanups -----------------------------------------------------------------------------------
    def callback(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``await fn()`` when the lifetime closes (last registered first)."""
        self.exit_stack.push_async_callback(_logged, fn)

    async def enter(self, cm: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enter ``cm`` now and exit it when the lifetime closes."""
        return await self.exit_stack.enter_async_context(cm)

    async def aclose(self) -> None:
        """Cancel every task still running, then run the cleanups in reverse order."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.exit_stack.aclose()
        if self._token is not None:
            with contextlib.suppress(ValueError):  # closed from another context than it was opened in
                _current.reset(self._token)
            self._token = None


async def _logged(fn: Callable[[], Awaitable[Any]]) -> None:
    try:
        await fn()
    except Exception:
        log.exception("cleanup %s failed", getattr(fn, "__qualname__", fn))
