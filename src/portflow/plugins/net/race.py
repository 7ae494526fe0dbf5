"""The race between a request's work and its client going away: the first to finish cancels the other.

``race(work, receive, running)`` awaits ``work`` in the calling task, inside a task group whose one child
watches the connection (``receive()`` until ``http.disconnect``). When ``work`` ends it cancels the
watcher; when the client leaves first the watcher cancels ``work``, and ``race`` raises ``ClientGone``.
The work stays in the request's own task, so deadlines it set (``asyncio.timeout``) still apply to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from ...port import resume

__all__ = ["ClientGone", "race", "resume", "until_first"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client closed its connection before the answer was written."""


class _State:
    __slots__ = ("running", "gone")

    def __init__(self) -> None:
        self.running = False
        self.gone = False


async def _disconnected(receive: Any) -> None:
    try:
        while (await receive()).get("type") != "http.disconnect":
            pass  # a leftover body message
    except Exception:  # noqa: BLE001 - a connection that broke is a client that left
        return


async def race(work: Awaitable[T], receive: Any, running: set[asyncio.Task]) -> T:
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
            watch = group.create_task(_disconnected(receive))
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
