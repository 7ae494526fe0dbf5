"""split: element i of a list to out[i] (uniflow-semantics §8)."""

from portflow.plugins.ctrl.split import SplitNode


async def test_list_elements_go_to_their_ports_and_answers_join(send, recorder):
    node = SplitNode()
    a, b = recorder(lambda p: p * 10), recorder(lambda p: p * 100)
    node.outport("out[0]").link(a.in_port)
    node.outport("out[1]").link(b.in_port)
    assert await send(node, [1, 2]) == [10, 200]
    assert a.seen == [1] and b.seen == [2]


async def test_elements_past_the_declared_ports_are_dropped(send, recorder):
    node = SplitNode()
    a = recorder()
    node.outport("out").link(a.in_port)
    assert await send(node, ["x", "y", "z"]) == "x"
    assert a.seen == ["x"]


async def test_non_list_goes_whole_to_out0(send, recorder):
    node = SplitNode()
    a = recorder()
    node.outport("out[0]").link(a.in_port)
    assert await send(node, {"k": 1}) == {"k": 1}


async def test_without_ports_the_input_is_answered_back(send):
    assert await send(SplitNode(), [1, 2]) == [1, 2]


async def test_unconnected_ports_answer_with_their_element(send):
    node = SplitNode()
    node.out(1)
    assert await send(node, [1, 2]) == [1, 2]
