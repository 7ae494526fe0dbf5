"""for (alias loop): each element to out[0], joined answers to out[1] (uniflow-semantics §8)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.for_ import ForNode


async def test_each_element_then_the_joined_answers(send, recorder):
    node = ForNode()
    each = recorder(lambda p: p * 2)
    done = recorder(lambda p: {"total": sum(p)})
    node.outport("out[0]").link(each.in_port)
    node.outport("out[1]").link(done.in_port)
    assert await send(node, [1, 2, 3]) == {"total": 12}
    assert each.seen == [1, 2, 3]
    assert done.seen == [[2, 4, 6]]
    assert len({id(p) for p in each.procs}) == 1  # one process


async def test_non_list_is_sent_once(send, recorder):
    node = ForNode()
    each = recorder(lambda p: p + 1)
    node.outport("out").link(each.in_port)
    assert await send(node, 41) == 42


async def test_unconnected_ports_answer_the_joined_elements(send):
    assert await send(ForNode(), ["a", "b"]) == ["a", "b"]


async def test_empty_list_gives_an_empty_list(send):
    assert await send(ForNode(), []) == []


async def test_a_failed_element_sends_the_joined_error_to_error(send, recorder):
    node = ForNode()

    def fail_on_two(p):
        if p == 2:
            raise FlowError("two is bad")
        return p

    each = recorder(fail_on_two)
    done = recorder()
    handler = recorder(lambda e: f"caught: {e}")
    node.outport("out[0]").link(each.in_port)
    node.outport("out[1]").link(done.in_port)
    node.outport("error").link(handler.in_port)
    assert await send(node, [1, 2, 3]) == "caught: two is bad"
    assert done.seen == []


async def test_unhandled_error_is_answered(send, recorder):
    node = ForNode()
    each = recorder(lambda p: FlowError(f"bad {p}"))
    node.outport("out[0]").link(each.in_port)
    answer = await send(node, [1, 2])
    assert isinstance(answer, FlowError) and str(answer) == "bad 1\nbad 2"


def test_ports():
    node = ForNode()
    assert node.outport("out") is node.outport("out[0]")
    assert node.outport("out[2]") is None
    assert node.inport("in[1]") is None
