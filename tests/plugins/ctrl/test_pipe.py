"""pipe: out[0]'s answer feeds the next connected out[i] (uniflow-semantics §8)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.pipe import PipeNode


async def test_answers_flow_through_the_stages(send, recorder):
    node = PipeNode()
    first, second = recorder(lambda p: p + 1), recorder(lambda p: p * 10)
    node.outport("out[0]").link(first.in_port)
    node.outport("out[1]").link(second.in_port)
    assert await send(node, 1) == 20
    assert second.seen == [2]


async def test_unconnected_stages_are_skipped(send, recorder):
    node = PipeNode()
    first, third = recorder(lambda p: p + 1), recorder(lambda p: p * 10)
    node.outport("out[0]").link(first.in_port)
    node.out(1)
    node.outport("out[2]").link(third.in_port)
    assert await send(node, 1) == 20


async def test_unconnected_out0_passes_the_input_to_the_next_stage(send, recorder):
    node = PipeNode()
    node.out(0)
    second = recorder(lambda p: f"got {p}")
    node.outport("out[1]").link(second.in_port)
    assert await send(node, "x") == "got x"


async def test_without_out0_the_input_is_answered_back(send):
    assert await send(PipeNode(), "same") == "same"


async def test_an_error_answer_stops_the_pipe_and_goes_to_error(send, recorder):
    node = PipeNode()

    def boom(p):
        raise FlowError("stage failed")

    first, second = recorder(boom), recorder()
    handler = recorder(lambda e: {"status": 500, "body": str(e)})
    node.outport("out[0]").link(first.in_port)
    node.outport("out[1]").link(second.in_port)
    node.outport("error").link(handler.in_port)
    assert await send(node, 1) == {"status": 500, "body": "stage failed"}
    assert second.seen == []


async def test_unhandled_error_is_answered(send, recorder):
    node = PipeNode()
    node.outport("out[0]").link(recorder(lambda p: FlowError("nope")).in_port)
    answer = await send(node, 1)
    assert isinstance(answer, FlowError) and str(answer) == "nope"
