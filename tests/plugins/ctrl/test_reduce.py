"""reduce (v0.12): a streaming fold per process (uniflow-semantics §12)."""

from __future__ import annotations

import pytest

from portflow.errors import CompileError, FlowError, SpecError
from portflow.plugins.ctrl.reduce import ReduceNode
from portflow.process import Process


async def test_emits_the_accumulator_for_every_packet(send, recorder):
    node = ReduceNode(lambda acc, cur, index: acc + cur, 0)
    sink = recorder()
    node.out_port.link(sink.in_port)
    proc = Process()
    assert [await send(node, n, proc=proc) for n in (1, 2, 3)] == [1, 3, 6]
    assert sink.seen == [1, 3, 6]
    await proc.exit()


async def test_each_process_folds_on_its_own(send):
    node = ReduceNode(lambda acc, cur, index: [*acc, [index, cur]], [])
    p1, p2 = Process(), Process()
    await send(node, "a", proc=p1)
    await send(node, "x", proc=p2)
    assert await send(node, "b", proc=p1) == [[0, "a"], [1, "b"]]
    assert await send(node, "y", proc=p2) == [[0, "x"], [1, "y"]]


async def test_an_error_goes_to_error_and_keeps_the_accumulator(send, recorder):
    def add(acc, cur, index):
        if cur is None:
            raise FlowError("cur is null")
        return acc + cur

    node = ReduceNode(add, 10)
    handler = recorder(lambda e: f"handled {e}")
    node.error_port.link(handler.in_port)
    proc = Process()
    assert await send(node, 1, proc=proc) == 11
    assert await send(node, None, proc=proc) == "handled cur is null"
    assert await send(node, 1, proc=proc) == 12


# -- through the codec -----------------------------------------------------------------------------

async def test_action_in_the_default_language_with_acc_cur_index(build, send):
    node = build({"kind": "reduce", "action": "acc + cur * index", "init": 0})
    proc = Process()
    assert [await send(node, n, proc=proc) for n in (5, 5, 5)] == [0, 5, 15]


async def test_action_in_javascript(build, send):
    node = build({"kind": "reduce", "language": "javascript", "init": [],
                  "action": "export default ({acc, cur}) => [...acc, cur]"})
    proc = Process()
    await send(node, "a", proc=proc)
    assert await send(node, "b", proc=proc) == ["a", "b"]


def test_a_bad_action_names_the_field(build):
    with pytest.raises((CompileError, SpecError), match=r"^spec 'sum' \(kind reduce\): action: .+"):
        build({"kind": "reduce", "name": "sum", "action": "acc +"})


def test_action_is_required(build):
    with pytest.raises(SpecError, match=r"action: required"):
        build({"kind": "reduce"})
