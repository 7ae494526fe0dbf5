"""retry: threshold + 1 attempts at most (uniflow-semantics §8)."""

from portflow.errors import FlowError
from portflow.plugins.ctrl.retry import RetryNode


def flaky(failures: int):
    calls = []

    def reply(payload):
        calls.append(payload)
        return FlowError(f"attempt {len(calls)}") if len(calls) <= failures else f"ok {payload}"

    return reply, calls


async def test_retries_until_success(send, recorder):
    reply, calls = flaky(2)
    node = RetryNode(threshold=3)
    node.out_port.link(recorder(reply).in_port)
    assert await send(node, "x") == "ok x"
    assert calls == ["x", "x", "x"]


async def test_gives_up_after_threshold_retries_with_the_last_error(send, recorder):
    reply, calls = flaky(10)
    node = RetryNode(threshold=2)
    node.out_port.link(recorder(reply).in_port)
    answer = await send(node, "x")
    assert isinstance(answer, FlowError) and str(answer) == "attempt 3"
    assert len(calls) == 3


async def test_threshold_zero_means_one_attempt(send, recorder):
    reply, calls = flaky(1)
    node = RetryNode()
    node.out_port.link(recorder(reply).in_port)
    assert isinstance(await send(node, 1), FlowError)
    assert len(calls) == 1


async def test_unconnected_out_answers_the_input(send):
    assert await send(RetryNode(3), "x") == "x"


def test_has_no_error_port():
    assert RetryNode().outport("error") is None


def test_negative_threshold_is_a_spec_error():
    import pytest

    from portflow.errors import SpecError
    from portflow.plugins.ctrl import register
    from portflow.scheme import Scheme

    scheme = Scheme()
    register(scheme)
    with pytest.raises(SpecError, match=r"spec 'r' \(kind retry\): threshold: expected int >= 0, got -1"):
        scheme.decode({"kind": "retry", "name": "r", "threshold": -1})  # the bound is declared: decode checks it
