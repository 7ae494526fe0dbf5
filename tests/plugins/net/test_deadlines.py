"""race.Deadlines: one timer bounds a step of many tasks (the listener's body reads)."""

from __future__ import annotations

import asyncio

import pytest

from portflow.plugins.net.race import Deadlines


async def _step(deadlines: Deadlines, seconds: float, work: float) -> str:
    task = deadlines.enter(seconds)
    try:
        try:
            await asyncio.sleep(work)
        finally:
            deadlines.leave(task)
    except asyncio.CancelledError:
        if deadlines.expired(task):
            return "expired"
        raise
    return "done"


async def test_a_task_past_its_deadline_is_cancelled_and_told_so_the_others_finish():
    deadlines = Deadlines(tick=0.02)
    results = await asyncio.gather(_step(deadlines, 0.05, 5.0), _step(deadlines, 5.0, 0.1),
                                   _step(deadlines, 0.05, 0.0))
    assert results == ["expired", "done", "done"]
    assert not deadlines.tasks and not deadlines.late  # nothing kept once the steps are over


async def test_an_expired_task_is_uncancelled_and_runs_on():
    deadlines = Deadlines(tick=0.02)

    async def run() -> str:
        outcome = await _step(deadlines, 0.03, 5.0)
        await asyncio.sleep(0)  # a task still cancelled would raise here
        return outcome

    assert await run() == "expired"


async def test_a_cancel_for_another_reason_is_not_an_expiry():
    deadlines = Deadlines(tick=0.02)
    task = asyncio.ensure_future(_step(deadlines, 5.0, 5.0))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_timer_stops_when_no_task_is_waiting():
    deadlines = Deadlines(tick=0.02)
    assert await _step(deadlines, 1.0, 0.0) == "done"
    await asyncio.sleep(0.06)
    assert deadlines._timer is None  # no sweeping while idle


async def test_the_request_paths_current_task_is_asyncios():
    from portflow.plugins.net.race import current_task

    loop = asyncio.get_running_loop()

    async def seen() -> bool:
        return current_task(loop) is asyncio.current_task() is not None

    assert await seen() and await asyncio.ensure_future(seen())
