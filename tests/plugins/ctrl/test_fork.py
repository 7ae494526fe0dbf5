"""fork: a child process per packet; the caller gets null at once (uniflow-semantics §8)."""

import asyncio

from portflow.errors import FlowError
from portflow.node import OneToOne
from portflow.plugins.ctrl.fork import ForkNode
from portflow.process import Process


async def test_answers_null_at_once_and_runs_the_packet_in_a_child(send, recorder):
    node = ForkNode()
    release = asyncio.Event()
    seen = []

    async def slow(proc, pck):
        await release.wait()
        seen.append((proc, pck.payload))
        return pck

    node.out_port.link(OneToOne(slow).in_port)
    parent = Process()
    assert await send(node, "job", proc=parent) is None
    assert seen == []
    release.set()
    await parent.join()
    (child, payload), = seen
    assert payload == "job" and child.parent is parent and child.terminated
    await parent.exit()


async def test_an_error_answer_goes_to_error_and_ends_the_child_with_it(send, recorder):
    node = ForkNode()
    node.out_port.link(recorder(lambda p: FlowError("failed")).in_port)
    handler = recorder()
    node.error_port.link(handler.in_port)
    parent = Process()
    await send(node, 1, proc=parent)
    await parent.join()
    assert [str(e) for e in handler.seen] == ["failed"]
    child = handler.procs[0]
    assert child.parent is parent and isinstance(child.error, FlowError)
    await parent.exit()


async def test_the_child_sees_the_parents_data(send, recorder):
    node = ForkNode()
    sink = recorder()
    node.out_port.link(sink.in_port)
    parent = Process()
    parent.set("user", "ada")
    await send(node, 1, proc=parent)
    await parent.join()
    assert sink.procs[0].parent is parent
    await parent.exit()


async def test_the_parents_exit_cancels_unfinished_children(send):
    node = ForkNode()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever(proc, pck):
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return pck

    node.out_port.link(OneToOne(forever).in_port)
    parent = Process()
    await send(node, 1, proc=parent)
    await started.wait()
    await parent.exit()
    assert cancelled.is_set()


async def test_a_terminated_process_forks_nothing(send, recorder):
    node = ForkNode()
    sink = recorder()
    node.out_port.link(sink.in_port)
    parent = Process()
    await parent.exit()
    assert await send(node, 1, proc=parent) is None
    assert sink.seen == []
