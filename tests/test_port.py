"""gather_inline: what asyncio.gather does, without a task per branch while no branch waits."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from portflow.port import gather_inline

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def _scenario(log: list[str]):
    async def waits(name: str) -> str:
        log.append(name + "1")
        await asyncio.sleep(0)
        log.append(name + "2")
        return name

    async def quick(name: str) -> str:
        log.append(name)
        return name

    return [waits("a"), quick("b"), waits("c"), quick("d")]


async def test_same_answers_and_interleaving_as_gather():
    seen_gather: list[str] = []
    expected = await asyncio.gather(*_scenario(seen_gather))
    seen: list[str] = []
    assert await gather_inline(_scenario(seen)) == expected == ["a", "b", "c", "d"]
    assert seen == seen_gather


async def test_branches_that_never_wait_make_no_task():
    before = len(asyncio.all_tasks())
    counts = []

    async def branch(i: int) -> int:
        counts.append(len(asyncio.all_tasks()))
        return i

    assert await gather_inline([branch(i) for i in range(8)]) == list(range(8))
    assert counts == [before] * 8


async def test_each_branch_has_its_own_context():
    async def sets(value: str) -> str:
        seen = VAR.get()
        VAR.set(value)
        return seen

    assert await gather_inline([sets("x"), sets("y")]) == ["unset", "unset"]
    assert VAR.get() == "unset"


async def test_a_deadline_inside_a_waiting_branch_applies_to_that_branch():
    async def slow() -> str:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.Event().wait()
        except TimeoutError:
            return "timed out"
        return "no"

    async def quick() -> str:
        return "quick"

    assert await gather_inline([slow(), quick()]) == ["timed out", "quick"]


async def test_the_first_error_is_raised_and_the_others_still_run():
    done: list[str] = []

    async def fails() -> None:
        raise ValueError("boom")

    async def later() -> None:
        await asyncio.sleep(0)
        done.append("later")

    with pytest.raises(ValueError, match="boom"):
        await gather_inline([fails(), later()])
    await asyncio.sleep(0.01)
    assert done == ["later"]


async def test_cancelling_the_caller_cancels_every_branch():
    started = asyncio.Event()
    cancelled: list[str] = []

    async def waits(name: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    task = asyncio.ensure_future(gather_inline([waits("a"), waits("b")]))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["a", "b"]
