"""nop: answers null (uniflow-semantics §8)."""

from portflow.plugins.ctrl.nop import NopNode


async def test_answers_null(send):
    assert await send(NopNode(), {"anything": 1}) is None


def test_has_only_an_in_port():
    assert NopNode().outport("out") is None
