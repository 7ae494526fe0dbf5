"""counter: numbering per process, kept in ``proc.local``."""

from __future__ import annotations

import pytest

from portflow import Context, Process, SpecError
from portflow_example.counter import CounterNode


async def test_counts_the_packets_of_one_process(send):
    node = CounterNode(start=10, step=5)
    proc = Process()
    try:
        assert [await send(node, p, proc) for p in "abc"] == [
            {"count": 10, "payload": "a"}, {"count": 15, "payload": "b"}, {"count": 20, "payload": "c"}]
    finally:
        await proc.exit()


async def test_each_process_starts_over(send):
    node = CounterNode()
    assert await send(node, "x") == {"count": 1, "payload": "x"}
    assert await send(node, "y") == {"count": 1, "payload": "y"}


async def test_a_process_that_exits_drops_its_count(send):
    node = CounterNode()
    proc = Process()
    await send(node, "x", proc)
    assert proc.peek_local(node) is not None
    await proc.exit()
    assert proc.peek_local(node) is None


def test_step_zero_is_a_spec_error_naming_the_field(scheme):
    with pytest.raises(SpecError) as caught:
        scheme.decode({"kind": "counter", "name": "n", "step": 0})
    assert str(caught.value) == "spec 'n' (kind counter): step: must not be 0"


def test_spec_fields_become_the_constructor_arguments(scheme):
    node = scheme.compile(scheme.decode({"kind": "counter", "start": "0", "step": -1}), Context(scheme))
    assert isinstance(node, CounterNode)
    assert (node.start, node.step) == (0, -1)
