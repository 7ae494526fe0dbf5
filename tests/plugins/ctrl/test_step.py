"""step: children chained in order in a private cluster (uniflow-semantics §8)."""

from __future__ import annotations

import pytest

from portflow.errors import FlowError, SpecError
from portflow.plugins.ctrl.step import StepNode
from portflow.spec import read_documents


def compile_yaml(ctx, text):
    (doc,) = read_documents(text)
    return ctx.scheme.compile(ctx.scheme.decode(doc), ctx)


STEP = """
kind: step
name: chain
specs:
  - kind: add
    value: 1
    ports:                # ignored: a step wires its children in order
      out:
        - name: nowhere
          port: in
  - kind: add
    value: 10
  - kind: add
    value: 100
"""


async def test_children_run_in_sequence(ctx, send):
    node = compile_yaml(ctx, STEP)
    assert isinstance(node, StepNode)
    await node.load()
    assert await send(node, 0) == 111
    await node.close()


async def test_the_last_childs_out_is_the_steps_out(ctx, send, recorder):
    node = compile_yaml(ctx, STEP)
    sink = recorder(lambda p: [p])
    node.outport("out").link(sink.in_port)
    await node.load()
    assert await send(node, 0) == [111]
    await node.close()


async def test_children_get_a_private_namespace_and_default_names(ctx):
    loaded = []
    ctx.hooks.on_load(lambda sb: loaded.append((sb.namespace, sb.name)))
    node = compile_yaml(ctx, STEP)
    await node.load()
    assert loaded == [("default/chain", "$2"), ("default/chain", "$1"), ("default/chain", "$0")]
    await node.close()


async def test_any_childs_error_leaves_through_error(ctx, send, recorder):
    node = compile_yaml(ctx, STEP)
    handler = recorder(lambda e: f"handled: {e}")
    node.outport("error").link(handler.in_port)
    await node.load()
    assert await send(node, "boom") == "handled: add 1: boom"
    await node.close()


async def test_unhandled_error_is_answered(ctx, send):
    node = compile_yaml(ctx, STEP)
    await node.load()
    answer = await send(node, "boom")
    assert isinstance(answer, FlowError) and str(answer) == "add 1: boom"
    await node.close()


async def test_one_child_is_both_in_and_out(ctx, send):
    node = compile_yaml(ctx, "kind: step\nspecs: [{kind: add, value: 2}]")
    await node.load()
    assert await send(node, 1) == 3
    await node.close()


async def test_a_step_ending_in_a_sink(ctx, send):
    node = compile_yaml(ctx, "kind: step\nspecs: [{kind: add, value: 2}, {kind: throw}]")
    await node.load()
    answer = await send(node, 1)
    assert isinstance(answer, FlowError) and str(answer) == "3"
    assert node.outport("out") is None
    await node.close()


def test_empty_step_has_no_ports(ctx):
    node = compile_yaml(ctx, "kind: step")
    assert node.inport("in") is None


def test_a_bad_child_names_its_index(ctx):
    with pytest.raises(SpecError, match=r"spec 's' \(kind step\): specs\[1\]: spec '\$1' \(kind sleep\): interval"):
        compile_yaml(ctx, "kind: step\nname: s\nspecs: [{kind: add}, {kind: sleep, interval: x}]")
