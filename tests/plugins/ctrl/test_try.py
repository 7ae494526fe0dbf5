"""try: error answers go to the error port (uniflow-semantics §8)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.try_ import TryNode


async def test_success_passes_through(send, recorder):
    node = TryNode()
    node.out_port.link(recorder(lambda p: p * 2).in_port)
    handler = recorder()
    node.error_port.link(handler.in_port)
    assert await send(node, 21) == 42
    assert handler.seen == []


async def test_error_answer_is_handled_by_error(send, recorder):
    node = TryNode()
    node.out_port.link(recorder(lambda p: FlowError("bad input")).in_port)
    node.error_port.link(recorder(lambda e: {"status": 400, "body": str(e)}).in_port)
    assert await send(node, 1) == {"status": 400, "body": "bad input"}


async def test_unhandled_error_is_answered(send, recorder):
    node = TryNode()
    node.out_port.link(recorder(lambda p: FlowError("bad")).in_port)
    answer = await send(node, 1)
    assert isinstance(answer, FlowError) and str(answer) == "bad"


async def test_unconnected_out_answers_the_input(send):
    assert await send(TryNode(), "x") == "x"
