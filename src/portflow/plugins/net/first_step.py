"""A request's first step run at once, with no Task until it has to wait (Python 3.12's eager start, on 3.11).

Most requests (a GET the flow answers without waiting) end in the first step of their coroutine. A Task
per request costs ~5 µs on Python 3.11: the C object, the ``WeakSet`` that ``asyncio.all_tasks`` reads
(Python code, both on creation and when the task is freed), a scheduled step and its turn of the loop.
:func:`starter` instead runs the first step at once, in a copy of the context as a Task would. Only a
coroutine that then waits gets a Task, which goes on from where it stopped (:class:`_Rest`).

During that step ``asyncio.current_task()`` is a :class:`FirstStep`: code that captures its task there
(``asyncio.timeout``, a task group, ``Deadlines``, ``race``) holds the FirstStep. Once the Task exists, the
FirstStep hands every call on to it (cancel, uncancel, cancelling, done, result; a done callback is called with the Task).
So a cancel or a deadline set in the first step reaches the coroutine just as it would under one Task.
Cancels asked for during the first step itself wait for the Task. A coroutine that ends in its first step
ends with its result, even if it asked to cancel itself on the way (a Task would end cancelled then).

It uses ``asyncio.tasks._enter_task``/``_leave_task``, which are private (granian's own scheduler uses them
too). They are checked at import. Without them, and on Python 3.12+ (not tested here), ``starter`` makes a
plain Task per request, as before.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context, copy_context
from typing import Any

__all__ = ["FirstStep", "available", "starter"]

_enter_task: Callable[..., None] | None
_leave_task: Callable[..., None] | None
try:
    from asyncio.tasks import _enter_task, _leave_task
except ImportError:  # pragma: no cover - asyncio changed: a Task per request
    _enter_task = _leave_task = None


def available() -> bool:
    """Whether first steps run without a Task here (Python 3.11 with asyncio's task bookkeeping)."""
    return sys.version_info < (3, 12) and _enter_task is not None


Start = Callable[[Coroutine[Any, Any, Any], Callable[[asyncio.Task[Any]], None]], None]


def starter(loop: asyncio.AbstractEventLoop) -> Start:
    """``start(coro, keep)``: run ``coro`` on ``loop``, its first step at once; ``keep(task)`` is given
    the Task of a coroutine that waits (granian's ``taskref``, which holds it)."""
    if not available():
        def start_task(coro: Coroutine[Any, Any, Any], keep: Callable[[asyncio.Task[Any]], None]) -> None:
            keep(loop.create_task(coro))

        return start_task

    enter, leave = _enter_task, _leave_task
    assert enter is not None and leave is not None

    def start(coro: Coroutine[Any, Any, Any], keep: Callable[[asyncio.Task[Any]], None]) -> None:
        context = copy_context()
        first = FirstStep(loop, context)
        try:
            enter(loop, first)
        except RuntimeError:  # called from inside a task (not from the loop's own callbacks): a Task then
            keep(loop.create_task(coro, context=context))
            return
        try:
            waiting = context.run(coro.send, None)
        except StopIteration as stop:
            first.finished(stop.value, None)
            return
        except BaseException as exc:  # ended with an error, as a Task's first step could
            first.finished(None, exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            loop.call_exception_handler({"message": "a request's first step raised", "exception": exc})
            return
        finally:
            leave(loop, first)
        task = loop.create_task(_Rest(coro, waiting), context=context)  # the rest in the same context
        first.hand_over(task)
        keep(task)

    return start


_STARTED = object()


class _Rest(Coroutine[Any, Any, Any]):
    """The rest of a coroutine whose first step ran and stopped on ``waiting``, for a Task to run: its first
    step waits on ``waiting``; then each step is the coroutine's. A cancel (a throw) before that first step
    still reaches the coroutine, where a generator that was never started would swallow it."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting

    def send(self, value: Any) -> Any:
        waiting = self.waiting
        if waiting is not _STARTED:
            self.waiting = _STARTED
            return waiting
        return self.coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self.waiting = _STARTED
        if val is None and tb is None:
            return self.coro.throw(typ)
        return self.coro.throw(typ, val, tb)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self  # type: ignore[return-value]

    def __next__(self) -> Any:
        return self.send(None)


class FirstStep(asyncio.Task):
    """A request's task while its first step runs, and a stand-in for its Task after (see the module)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, context: Context) -> None:  # no Task.__init__: nothing
        self._step_loop = loop  # scheduled, nothing registered
        self._step_context = context
        self._step_rest: asyncio.Task[Any] | None = None
        self._step_cancels: list[Any] = []  # cancel messages asked for before the Task exists
        self._step_callbacks: list[tuple[Callable[[Any], Any], Context | None]] = []
        self._step_ended: tuple[Any, BaseException | None] | None = None

    # -- the two ways the first step ends ------------------------------------------------------------
    def hand_over(self, task: asyncio.Task[Any]) -> None:
        self._step_rest = task
        for message in self._step_cancels:  # once the Task waits where the first step stopped (a cancel
            self._step_loop.call_soon(task.cancel, message)  # before its first step would not reach ``coro``)
        for callback, context in self._step_callbacks:
            task.add_done_callback(callback, context=context)
        self._step_cancels = []
        self._step_callbacks = []

    def finished(self, result: Any, error: BaseException | None) -> None:
        self._step_ended = (result, error)
        for callback, context in self._step_callbacks:
            self._step_loop.call_soon(callback, self, context=context)
        self._step_callbacks = []

    # -- the Task's API, handed on ---------------------------------------------------------------------
    def cancel(self, msg: Any = None) -> bool:
        if self._step_rest is not None:
            return self._step_rest.cancel(msg)
        if self._step_ended is not None:
            return False
        self._step_cancels.append(msg)
        return True

    def cancelling(self) -> int:
        return self._step_rest.cancelling() if self._step_rest is not None else len(self._step_cancels)

    def uncancel(self) -> int:
        if self._step_rest is not None:
            return self._step_rest.uncancel()
        if self._step_cancels:
            self._step_cancels.pop()
        return len(self._step_cancels)

    def done(self) -> bool:
        return self._step_rest.done() if self._step_rest is not None else self._step_ended is not None

    def cancelled(self) -> bool:
        return self._step_rest is not None and self._step_rest.cancelled()

    def result(self) -> Any:
        if self._step_rest is not None:
            return self._step_rest.result()
        if self._step_ended is None:
            raise asyncio.InvalidStateError("Result is not set.")
        if self._step_ended[1] is not None:
            raise self._step_ended[1]
        return self._step_ended[0]

    def exception(self) -> BaseException | None:
        if self._step_rest is not None:
            return self._step_rest.exception()
        if self._step_ended is None:
            raise asyncio.InvalidStateError("Exception is not set.")
        return self._step_ended[1]

    def add_done_callback(self, fn: Callable[[Any], Any], *, context: Context | None = None) -> None:
        if self._step_rest is not None:  # ``fn`` is then called with the Task
            self._step_rest.add_done_callback(fn, context=context)
        elif self._step_ended is not None:
            self._step_loop.call_soon(fn, self, context=context)
        else:
            self._step_callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], Any]) -> int:
        if self._step_rest is not None:
            return self._step_rest.remove_done_callback(fn)
        before = len(self._step_callbacks)
        self._step_callbacks = [(cb, ctx) for cb, ctx in self._step_callbacks if cb is not fn]
        return before - len(self._step_callbacks)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._step_loop

    def get_context(self) -> Context:
        return self._step_context

    def get_coro(self) -> Any:
        return self._step_rest.get_coro() if self._step_rest is not None else None

    def get_name(self) -> str:
        return self._step_rest.get_name() if self._step_rest is not None else "first step"

    def set_name(self, value: object) -> None:
        if self._step_rest is not None:
            self._step_rest.set_name(value)

    def get_stack(self, *, limit: int | None = None) -> list[Any]:
        return self._step_rest.get_stack(limit=limit) if self._step_rest is not None else []

    def __repr__(self) -> str:
        return f"<FirstStep of {self._step_rest!r}>" if self._step_rest is not None else "<FirstStep>"
