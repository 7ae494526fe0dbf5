"""block: a private cluster wired by its children's ports, behind inbounds/outbounds (uniflow-semantics §8)."""

from __future__ import annotations

import pytest

from portflow.errors import FlowError, SpecError
from portflow.plugins.ctrl import register
from portflow.plugins.ctrl.block import BlockNode
from portflow.scheme import Context, Scheme
from portflow.spec import read_documents

from .conftest import Add, AddSpec


def compile_yaml(ctx: Context, text: str):
    (doc,) = read_documents(text)
    return ctx.scheme.compile(ctx.scheme.decode(doc), ctx)


BLOCK = """
kind: block
name: calc
specs:
  - kind: add
    value: 1
    ports:
      out:
        - name: tens
          port: in
  - kind: add
    name: tens
    value: 10
inbounds:
  in:
    - name: $0
      port: in
outbounds:
  out:
    - name: tens
      port: out
  error:
    - name: $0
      port: error
    - name: tens
      port: error
"""


async def test_children_are_wired_by_their_ports_once_loaded(ctx, send):
    node = compile_yaml(ctx, BLOCK)
    await node.load()
    assert await send(node, 5) == 16
    await node.close()


async def test_outbound_ports_carry_children_outputs(ctx, send, recorder):
    node = compile_yaml(ctx, BLOCK)
    sink = recorder(lambda p: f"sink got {p}")
    node.outport("out").link(sink.in_port)
    await node.load()
    assert await send(node, 0) == "sink got 11"
    await node.close()


async def test_errors_of_children_leave_through_the_error_outbound(ctx, send, recorder):
    node = compile_yaml(ctx, BLOCK)
    handler = recorder(lambda e: f"handled: {e}")
    node.outport("error").link(handler.in_port)
    await node.load()
    assert await send(node, "boom") == "handled: add 1: boom"
    await node.close()


async def test_unhandled_child_error_is_answered(ctx, send):
    node = compile_yaml(ctx, BLOCK)
    await node.load()
    answer = await send(node, "boom")
    assert isinstance(answer, FlowError) and str(answer) == "add 1: boom"
    await node.close()


async def test_children_load_with_the_block_in_dependency_order_and_run_hooks(ctx, events):
    loaded = []
    ctx.hooks.on_load(lambda sb: loaded.append((sb.namespace, sb.name)))
    node = compile_yaml(ctx, BLOCK)
    assert events == []
    await node.load()
    assert events == [("load", 10), ("load", 1)]  # downstream first
    assert loaded == [("default/calc", "tens"), ("default/calc", "$0")]
    await node.unload()
    assert events[2:] == [("unload", 1), ("unload", 10)]  # upstream first
    await node.close()
    assert sorted(events[4:]) == [("close", 1), ("close", 10)]


async def test_reload_after_unload_works_again(ctx, send):
    node = compile_yaml(ctx, BLOCK)
    await node.load()
    await node.unload()
    await node.load()
    assert await send(node, 1) == 12
    await node.close()


async def test_a_block_inside_a_block(ctx, send):
    node = compile_yaml(ctx, """
kind: block
name: outer
specs:
  - kind: block
    name: inner
    specs:
      - kind: add
        value: 100
    inbounds:
      in: [{name: $0, port: in}]
    outbounds:
      out: [{name: $0, port: out}]
inbounds:
  in: [{name: inner, port: in}]
""")
    await node.load()
    assert await send(node, 1) == 101
    await node.close()


def test_construct_without_a_spec():
    node = BlockNode([], {}, {})
    assert node.inport("in") is None and node.outport("out") is None


@pytest.mark.parametrize(("text", "message"), [
    ("specs: [{kind: add}]\ninbounds: {in: [{name: nobody, port: in}]}",
     r"inbounds\.in\[0\]: no child spec with name 'nobody'"),
    ("specs: [{kind: add}]\ninbounds: {in: [{name: $0, port: sideways}]}",
     r"inbounds\.in\[0\]\.port: spec '\$0' \(kind add\) has no in-port 'sideways'"),
    ("specs: [{kind: add}]\noutbounds: {out: [{name: $0, port: nowhere}]}",
     r"outbounds\.out\[0\]\.port: spec '\$0' \(kind add\) has no out-port 'nowhere'"),
    ("specs: [{kind: add, value: 1}, {kind: nosuch}]", r"specs\[1\]: .*unknown kind 'nosuch'"),
    ("specs: [{kind: sleep, interval: soon}]", r"specs\[0\]: spec '\$0' \(kind sleep\): interval: invalid duration"),
    ("specs: [{kind: add, name: a}, {kind: add, name: a}]", r"specs\[1\]\.name: 'a' is used twice"),
    ("specs: [3]", r"specs\[0\]: expected object, got int"),
])
def test_bad_specs_name_the_field(ctx, text, message):
    with pytest.raises(SpecError, match=r"spec 'b' \(kind block\): " + message):
        compile_yaml(ctx, "kind: block\nname: b\n" + text)


async def test_runtime_loads_children_when_the_block_is_activated(store, events, send):
    from portflow.apply import apply, prepare_specs
    from portflow.runtime import Runtime

    scheme = Scheme()
    register(scheme)
    scheme.register("add", AddSpec, lambda spec, c: Add(spec.value, events))
    docs, problems = prepare_specs(read_documents(BLOCK), "default")
    assert not problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, scheme=scheme, languages=object(), watch=False)
    await runtime.start()
    try:
        sb = runtime.table.lookup("default", "calc")
        assert sb.loaded and events == [("load", 10), ("load", 1)]
        assert await send(sb.node, 3) == 14
    finally:
        await runtime.close()
    assert ("unload", 1) in events and ("close", 10) in events



async def test_a_child_that_fails_to_load_fails_the_block(ctx, events):
    class Broken(Add):
        async def load(self):
            raise OSError("address already in use")

    ctx.scheme.register("broken", AddSpec, lambda spec, c: Broken(spec.value, events))
    node = compile_yaml(ctx, "kind: block\nname: b\nspecs: [{kind: broken, name: http}]")
    with pytest.raises(FlowError, match=r"spec 'http' \(kind broken\): load failed: address already in use"):
        await node.load()
    await node.unload()
    await node.close()
