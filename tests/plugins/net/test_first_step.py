"""A request's first step without a Task (plugins/net/first_step.py): what code inside it sees of its task."""

from __future__ import annotations

import asyncio
import contextvars
import sys

import pytest

from portflow.plugins.net import first_step
from portflow.plugins.net.first_step import FirstStep, starter
from portflow.plugins.net.race import EXPIRED, Deadlines

pytestmark = pytest.mark.skipif(not first_step.available(), reason="first steps run in a Task on this Python")


def test_it_runs_on_the_python_we_ship_for():
    # Python 3.11 has no eager tasks: this module is what saves the Task. If asyncio's task bookkeeping moved,
    # say so (the module falls back to a Task per request, slower but right).
    if sys.version_info < (3, 12):
        assert first_step.available(), f"asyncio.tasks._enter_task/_leave_task are gone on Python {sys.version}"


async def started(coro, tasks: list | None = None) -> None:
    """Start ``coro`` the way the server does: from a loop callback (no task current)."""
    loop = asyncio.get_running_loop()
    kept = tasks if tasks is not None else []
    ran = loop.create_future()
    loop.call_soon(lambda: (starter(loop)(coro, kept.append), ran.set_result(None)))
    await ran


async def test_a_coroutine_that_does_not_wait_gets_no_task():
    seen = []

    async def answer():
        seen.append(asyncio.current_task())
        return "pong"

    tasks: list = []
    before = len(asyncio.all_tasks())
    await started(answer(), tasks)
    assert tasks == [] and len(asyncio.all_tasks()) == before
    assert isinstance(seen[0], FirstStep) and seen[0].done() and seen[0].result() == "pong"


async def test_one_that_waits_goes_on_in_a_task_in_the_same_context():
    var = contextvars.ContextVar("var", default="unset")
    seen = []
    go = asyncio.get_running_loop().create_future()

    async def work():
        var.set("set in the first step")
        first = asyncio.current_task()
        await go
        seen.append((first, asyncio.current_task(), var.get()))

    tasks: list = []
    await started(work(), tasks)
    assert len(tasks) == 1 and not tasks[0].done()
    go.set_result(None)
    await tasks[0]
    first, then, value = seen[0]
    assert isinstance(first, FirstStep) and then is tasks[0] and value == "set in the first step"
    assert var.get() == "unset"  # nothing leaked into the caller's context
    assert first.done() and first.result() is None and first.get_coro() is tasks[0].get_coro()


async def test_a_cancel_of_the_task_captured_in_the_first_step_reaches_the_coroutine():
    captured = []
    outcome = []

    async def work():
        captured.append(asyncio.current_task())
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            outcome.append(("cancelled", exc.args))
            raise

    tasks: list = []
    await started(work(), tasks)
    assert captured[0].cancel("bye") is True
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert outcome == [("cancelled", ("bye",))] and captured[0].cancelled() and captured[0].done()


async def test_a_cancel_asked_for_during_the_first_step_waits_for_the_task():
    outcome = []

    async def work():
        me = asyncio.current_task()
        me.cancel("early")
        assert me.cancelling() == 1
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            outcome.append(exc.args)
            raise

    tasks: list = []
    await started(work(), tasks)
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert outcome == [("early",)]


async def test_a_timeout_entered_in_the_first_step_fires_in_the_task():
    outcome = []

    async def work():
        try:
            async with asyncio.timeout(0.02):
                await asyncio.sleep(10)
        except TimeoutError:
            outcome.append("timed out")
        outcome.append(asyncio.current_task().cancelling())

    tasks: list = []
    await started(work(), tasks)
    await asyncio.wait_for(tasks[0], 5)
    assert outcome == ["timed out", 0]


async def test_a_task_group_entered_in_the_first_step_reports_its_child_error():
    outcome = []

    async def fail():
        await asyncio.sleep(0)
        raise ValueError("child failed")

    async def work():
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fail())
                await asyncio.sleep(10)  # cancelled by the group when the child fails
        except* ValueError as errors:
            outcome.append(str(errors.exceptions[0]))
        outcome.append(asyncio.current_task().cancelling())

    tasks: list = []
    await started(work(), tasks)
    await asyncio.wait_for(tasks[0], 5)
    assert outcome == ["child failed", 0]


async def test_a_deadline_entered_in_the_first_step_cancels_and_is_told_apart():
    deadlines = Deadlines(tick=0.01)
    outcome = []

    async def work():
        task = deadlines.enter(0.02)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            outcome.append((exc.args, deadlines.expired(task), asyncio.current_task().cancelling()))
        finally:
            deadlines.leave(task)

    tasks: list = []
    await started(work(), tasks)
    await asyncio.wait_for(tasks[0], 5)
    assert outcome == [((EXPIRED,), True, 0)]


async def test_done_callbacks_and_waiting_on_the_stand_in():
    calls = []
    captured = []
    go = asyncio.get_running_loop().create_future()

    async def work():
        me = asyncio.current_task()
        captured.append(me)
        me.add_done_callback(lambda t: calls.append(("early", t)))
        await go
        return 7

    tasks: list = []
    await started(work(), tasks)
    first = captured[0]
    first.add_done_callback(lambda t: calls.append(("late", t)))
    dropped = calls.append
    first.add_done_callback(dropped)
    assert first.remove_done_callback(dropped) == 1
    go.set_result(None)
    done, pending = await asyncio.wait([first], timeout=5)
    assert done == {first} and not pending and first.result() == 7 and first.exception() is None
    await asyncio.sleep(0)
    assert calls == [("early", tasks[0]), ("late", tasks[0])]

    ended = []

    async def quick():
        ended.append(asyncio.current_task())

    await started(quick())
    ended[0].add_done_callback(lambda t: calls.append(("after", t)))
    await asyncio.sleep(0)
    assert calls[-1] == ("after", ended[0]) and ended[0].cancel() is False


async def test_a_cancel_before_the_task_first_runs_still_reaches_the_coroutine():
    captured, outcome, tasks = [], [], []

    async def work():
        captured.append(asyncio.current_task())
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    loop = asyncio.get_running_loop()

    def go():
        starter(loop)(work(), tasks.append)
        captured[0].cancel()  # the Task exists and has not run yet

    loop.call_soon(go)
    await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert outcome == ["cancelled"]
