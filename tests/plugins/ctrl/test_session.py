"""session (v0.12): a value per process; inputs replayed into every live session (uniflow-semantics §12)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.session import SessionNode
from portflow.process import Process


async def test_io_stores_a_session_and_in_reaches_it_in_a_child(send, recorder):
    node = SessionNode()
    sink = recorder(lambda p: f"{p[0]} got {p[1]}")
    node.out_port.link(sink.in_port)
    owner = Process()
    assert await send(node, "alice", "io", owner) is None
    assert await send(node, "hello", "in") == "alice got hello"
    child = sink.procs[0]
    assert child.parent is owner and child.terminated
    assert not owner.terminated
    await owner.exit()


async def test_every_live_session_gets_the_input(send, recorder):
    node = SessionNode()
    sink = recorder(lambda p: p[0])
    node.out_port.link(sink.in_port)
    a, b = Process(), Process()
    await send(node, "a", "io", a)
    await send(node, "b", "io", b)
    await send(node, "a2", "io", a)  # the latest value wins
    assert sorted(await send(node, "msg", "in")) == ["a2", "b"]
    assert sorted(sink.seen) == [["a2", "msg"], ["b", "msg"]]
    await a.exit()
    await b.exit()


async def test_a_session_ends_with_its_process(send, recorder):
    node = SessionNode()
    sink = recorder()
    node.out_port.link(sink.in_port)
    owner = Process()
    await send(node, "alice", "io", owner)
    await owner.exit()
    assert node.sessions == {}
    assert await send(node, "hello", "in") == "hello"  # no session: the input is answered back
    assert sink.seen == []


async def test_an_error_answer_ends_the_children_with_it(send, recorder):
    node = SessionNode()
    sink = recorder(lambda p: FlowError("gone"))
    node.out_port.link(sink.in_port)
    owner = Process()
    await send(node, "s", "io", owner)
    answer = await send(node, "x", "in")
    assert isinstance(answer, FlowError)
    assert isinstance(sink.procs[0].error, FlowError)
    await owner.exit()


async def test_unconnected_out_answers_the_pairs(send):
    node = SessionNode()
    owner = Process()
    await send(node, "s", "io", owner)
    assert await send(node, "x", "in") == ["s", "x"]
    await owner.exit()
