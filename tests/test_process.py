import asyncio

import pytest

from portflow.process import Process


async def test_id_is_a_uuid7_minted_once():
    p = Process()
    assert p.id == p.id
    assert p.id[14] == "7"


async def test_children_see_parent_data_and_shadow_it():
    parent = Process()
    parent.set("a", 1)
    child = parent.fork()
    assert child.get("a") == 1
    child.set("a", 2)
    assert child.get("a") == 2 and parent.get("a") == 1
    child.delete("a")
    assert child.get("a") == 1
    child.delete("a")  # removes from the nearest ancestor that has it
    assert parent.get("a") is None


async def test_exit_is_idempotent_and_runs_hooks_once_last_first():
    p = Process()
    calls = []
    p.on_exit(lambda proc: calls.append(("sync", proc.error)))

    async def hook(proc):
        calls.append(("async", proc.error))

    p.on_exit(hook)
    err = RuntimeError("x")
    await p.exit(err)
    await p.exit()
    assert calls == [("async", err), ("sync", err)]
    assert p.terminated and p.error is err and p.end_time is not None


async def test_hook_added_after_exit_runs_at_once():
    p = Process()
    await p.exit()
    calls = []
    p.on_exit(lambda proc: calls.append(1))
    assert calls == [1]


async def test_parent_exit_cancels_running_children_and_their_tasks():
    parent = Process()
    child = parent.fork()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work():
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    child.start(work())
    await started.wait()
    await parent.exit()
    assert child.terminated
    assert cancelled.is_set()


async def test_join_waits_for_children():
    parent = Process()
    done = []

    async def work(child, n):
        await asyncio.sleep(0.01 * n)
        done.append(n)
        await child.exit()

    for n in (2, 1):
        child = parent.fork()
        parent.start(work(child, n))
    await parent.join()
    assert sorted(done) == [1, 2]


class Tx:
    def __init__(self):
        self.outcome = None

    async def close(self, error):
        self.outcome = "rollback" if error else "commit"


@pytest.mark.parametrize("error, outcome", [(None, "commit"), (RuntimeError("500"), "rollback")])
async def test_resources_close_with_the_process(error, outcome):
    p = Process()
    tx = p.resource("tx", Tx)
    assert p.resource("tx", Tx) is tx  # opened once
    await p.exit(error)
    assert tx.outcome == outcome


async def test_wait_returns_after_exit():
    p = Process()
    waiter = asyncio.create_task(p.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    await p.exit()
    await asyncio.wait_for(waiter, 1)


async def test_an_async_hook_added_after_exit_still_runs(caplog):
    p = Process()
    await p.exit()
    ran = asyncio.Event()

    async def hook(proc):
        ran.set()

    p.on_exit(hook)
    await asyncio.wait_for(ran.wait(), 1)

    async def broken(proc):
        raise RuntimeError("hook broke")

    p.on_exit(broken)
    for _ in range(5):
        await asyncio.sleep(0)
    assert "exit hook failed" in caplog.text


async def test_a_failed_task_of_a_process_becomes_its_exit_error():
    from portflow.process import Process

    async def broken():
        raise RuntimeError("child task broke")

    proc = Process()
    seen = []
    proc.on_exit(lambda p: seen.append(p.error))
    proc.start(broken())
    await proc.join()
    await proc.exit()
    assert str(proc.failure) == "child task broke" and seen == [proc.failure]


async def test_exit_now_ends_a_process_with_nothing_to_wait_for_as_exit_does():
    from portflow.process import running

    before = running()
    parent = Process()
    child = parent.fork()
    child.set("k", 1)
    waiter = asyncio.create_task(child.wait())
    await asyncio.sleep(0)
    err = RuntimeError("x")
    assert child.idle and child.exit_now(err)
    assert child.terminated and child.error is err and child.end_time is not None and child.get("k") is None
    await asyncio.wait_for(waiter, 1)
    assert parent.idle  # the child left its parent
    assert parent.exit_now() and child.exit_now() and running() == before


async def test_exit_now_declines_a_process_with_hooks_tasks_or_children():
    hooked = Process()
    hooked.on_exit(lambda proc: None)
    busy = Process()
    busy.start(asyncio.sleep(0))
    forked = Process()
    forked.fork()
    for proc in (hooked, busy, forked):
        assert not proc.idle and not proc.exit_now() and not proc.terminated
        await proc.exit()
        assert proc.terminated


async def test_exit_now_takes_a_failed_task_as_its_error_as_exit_does():
    async def broken():
        raise RuntimeError("task broke")

    proc = Process()
    proc.start(broken())
    await proc.join()
    assert proc.exit_now() and str(proc.error) == "task broke"


async def test_a_process_that_opened_a_resource_is_not_idle():
    class Tx:
        async def close(self, error):
            pass

    proc = Process()
    proc.resource("tx", Tx)
    assert not proc.idle
