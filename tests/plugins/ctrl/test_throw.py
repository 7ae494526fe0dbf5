"""throw: the input becomes an error (uniflow-semantics §8)."""

import pytest

from portflow.errors import FlowError
from portflow.plugins.ctrl.throw import ThrowNode


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("forbidden", "forbidden"),
        (["a", "b"], "b: a"),
        (["a", None, "b", "c"], "c: b: a"),
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        ({"b": 2, "a": 1}, "map[a:1 b:2]"),
        ([[1, 2]], "[1 2]"),
    ],
)
async def test_input_becomes_an_error_message(send, payload, message):
    answer = await send(ThrowNode(), payload)
    assert isinstance(answer, FlowError)
    assert str(answer) == message


async def test_null_input_answers_null(send):
    assert await send(ThrowNode(), None) is None
    assert await send(ThrowNode(), [None]) is None


async def test_an_error_input_is_thrown_as_is(send):
    error = FlowError("original")
    assert await send(ThrowNode(), error) is error


def test_has_only_an_in_port():
    node = ThrowNode()
    assert node.inport("in") is not None
    assert node.outport("out") is None and node.outport("error") is None
