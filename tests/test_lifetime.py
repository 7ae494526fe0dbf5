"""Lifetime: one task group and one exit stack; start() returns what the task reports when ready."""

from __future__ import annotations

import asyncio

import pytest

from portflow.lifetime import Lifetime, current
from portflow.scheme import Context, Scheme


async def test_start_returns_the_ready_value_and_close_cancels_the_task():
    cancelled = asyncio.Event()

    async def serve(status):
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        status.started(server.sockets[0].getsockname()[1])  # bind port 0, tell the port
        try:
            await asyncio.Event().wait()
        finally:
            server.close()
            cancelled.set()

    ctx = Context(scheme=Scheme())
    port = await ctx.start(serve, name="server")
    assert isinstance(port, int) and port > 0
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)  # it really listens
    writer.close()
    await ctx.lifetime.aclose()
    assert cancelled.is_set()


async def test_a_task_that_fails_before_it_is_ready_raises_out_of_start():
    async def broken(status):
        raise OSError("address in use")

    async with Lifetime() as lifetime:
        with pytest.raises(OSError, match="address in use"):
            await lifetime.start(broken)


async def test_a_later_failure_is_reported_with_its_owner_and_spares_the_other_tasks():
    failures = []
    owner = object()

    async def fails_later(status):
        status.started("ready")
        raise RuntimeError("boom")

    async def keeps_running(status):
        status.started()
        await asyncio.Event().wait()

    async with Lifetime(on_failure=lambda who, exc: failures.append((who, str(exc)))) as lifetime:
        other = await lifetime.spawn(keeps_running)
        assert await lifetime.start(fails_later, owner=owner) == "ready"
        await asyncio.sleep(0.01)
        assert failures == [(owner, "boom")] and not other.done


async def test_cleanups_run_last_first_when_the_lifetime_closes():
    order = []
    lifetime = Lifetime()
    lifetime.open()
    assert current() is lifetime

    async def first():
        order.append("first")

    async def second():
        order.append("second")

    lifetime.callback(first)
    lifetime.callback(second)
    await lifetime.aclose()
    assert order == ["second", "first"] and current() is None


async def test_a_service_is_created_once_per_runtime_and_closed_with_it():
    class Pool:
        closed = 0

        @classmethod
        def service(cls, context):
            pool = cls()
            pool.context = context
            return pool

        async def aclose(self):
            Pool.closed += 1

    ctx = Context(scheme=Scheme())
    assert ctx.services.find(Pool) is None
    pool = ctx.services.get(Pool)
    assert ctx.services.get(Pool) is pool and pool.context is ctx
    await ctx.lifetime.aclose()
    assert Pool.closed == 1
