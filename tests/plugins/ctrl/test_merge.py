"""merge: one packet per in[i] of a process, joined (uniflow-semantics §7, §8)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.merge import MergeNode
from portflow.process import Process


async def test_waits_for_every_input_then_outputs_the_list(send, recorder):
    node = MergeNode()
    node.inport("in[1]")
    sink = recorder()
    node.out_port.link(sink.in_port)
    proc = Process()
    assert await send(node, "a", "in[0]", proc) == "a"  # partial: answered with itself
    assert sink.seen == []
    assert await send(node, "b", "in[1]", proc) == ["a", "b"]
    assert sink.seen == [["a", "b"]]
    await proc.exit()


async def test_rows_are_per_process(send):
    node = MergeNode()
    node.inport("in[1]")
    p1, p2 = Process(), Process()
    await send(node, 1, "in[0]", p1)
    await send(node, 2, "in[0]", p2)
    assert await send(node, 3, "in[1]", p2) == [2, 3]
    assert await send(node, 4, "in[1]", p1) == [1, 4]


async def test_null_inputs_are_kept_in_their_place(send):
    node = MergeNode()
    node.inport("in[2]")
    proc = Process()
    await send(node, "a", "in[0]", proc)
    await send(node, None, "in[1]", proc)
    assert await send(node, "c", "in[2]", proc) == ["a", None, "c"]


async def test_an_error_input_goes_to_error(send, recorder):
    node = MergeNode()
    node.inport("in[1]")
    handler = recorder(lambda p: f"handled {p}")
    node.error_port.link(handler.in_port)
    proc = Process()
    await send(node, "a", "in[0]", proc)
    answer = await send(node, FlowError("bad"), "in[1]", proc)
    assert answer == "handled bad"


async def test_an_unhandled_error_input_is_answered(send):
    node = MergeNode()
    node.inport("in[1]")
    proc = Process()
    await send(node, "a", "in[0]", proc)
    answer = await send(node, FlowError("bad"), "in[1]", proc)
    assert isinstance(answer, FlowError) and str(answer) == "bad"
