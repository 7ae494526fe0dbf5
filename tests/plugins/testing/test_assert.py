"""The ``assert`` kind (uniflow-semantics §8, testing): expect, chaining, and target frame scanning."""

from __future__ import annotations

import pytest

from portflow.config import RuntimeSettings
from portflow.errors import CompileError, FlowError
from portflow.packet import Packet
from portflow.plugins.testing import find_runner
from portflow.plugins.testing.assert_ import AssertNode
from portflow.scheme import Context
from support.probe import send_to

from .conftest import ExprLanguages, make_scheme, outcomes


async def send(node, payload, proc=None):
    return await send_to(node, payload, proc=proc)


def build(doc: dict):
    scheme = make_scheme()
    context = Context(scheme=scheme, languages=ExprLanguages(), settings=RuntimeSettings(language="expr"))
    return scheme.compile(scheme.decode({"kind": "assert", "name": "a", **doc}), context)


async def test_passes_the_pair_on_and_fails_with_assert_failed():
    node = build({"expect": "self > 1"})
    assert await send(node, [2, -1]) == [2, -1]
    error = await send(node, [1, -1])
    assert isinstance(error, FlowError) and str(error) == "assert failed: self > 1 (payload: 1)"


async def test_map_keys_are_variables_in_the_default_language():
    node = build({"expect": "status == 200 and self['body'] == 'ok'"})
    assert await send(node, [{"status": 200, "body": "ok"}, -1]) == [{"status": 200, "body": "ok"}, -1]


async def test_input_must_be_a_pair():
    node = build({"expect": "True"})
    error = await send(node, 42)
    assert isinstance(error, FlowError) and "expected [payload, index], got 42" in str(error)


async def test_error_port_takes_the_failure():
    node = build({"expect": "False"})
    caught = []

    from portflow.node import OneToOne

    handler = OneToOne(lambda proc, pck: caught.append(pck.payload) or Packet("handled"))
    node.outport("error").link(handler.inport("in"))
    assert await send(node, [0, -1]) == "handled"
    assert str(caught[0]).startswith("assert failed")


async def test_timeout():
    node = build({"expect": "sleep 1", "timeout": "20ms"})
    error = await send(node, [0, -1])
    assert isinstance(error, FlowError) and "timeout after 20ms" in str(error)


def test_compile_errors_name_the_spec_and_field():
    with pytest.raises(CompileError, match=r"spec 'a' \(kind assert\): expect: syntax error"):
        build({"expect": "1 +"})
    with pytest.raises(CompileError, match=r"spec 'a' \(kind assert\): target: name or id required"):
        build({"expect": "True", "target": {"port": "out"}})


async def test_target_requires_recorded_frames():
    node = AssertNode(ExprLanguages().compile("expr", "True"), "True", target=build(
        {"expect": "True", "target": {"name": "x", "port": "out"}}).target, resolve=lambda t: None)
    error = await send(node, [0, -1])
    assert "records no frames" in str(error)


TARGETS = """
- kind: test
  name: chain
  ports:
    out[0]: [{name: first, port: in}]
    out[1]: [{name: first-out, port: in}]
- kind: const
  name: first
  value: 1
  ports:
    out: [{name: second, port: in}]
- kind: const
  name: second
  value: 2
- kind: assert
  name: first-out
  expect: self == 1
  target: {name: first, port: out}
  ports:
    out: [{name: second-in, port: in}]
- kind: assert
  name: second-in
  expect: self == 1
  target: {name: second, port: in}
  ports:
    out: [{name: answer, port: in}]
- kind: assert
  name: answer
  expect: self == 1
"""


async def test_target_scans_frames_of_the_tests_process_and_chains(tests):
    runtime = await tests(TARGETS)
    assert await outcomes(runtime) == {"default/chain": None}


async def test_target_uses_the_frame_payload_and_index(tests):
    runtime = await tests(TARGETS)
    seen = []
    node = runtime.table.lookup("default", "answer").node
    node.program = lambda payload: seen.append(payload) or True
    probe = []
    last = runtime.table.lookup("default", "second-in").node
    original = last.action

    async def spy(proc, pck):
        out = await original(proc, pck)
        probe.append((pck.payload, out.payload, [f.port for f in find_runner(runtime.context).frames(proc)]))
        return out

    last._run.action = spy
    await outcomes(runtime)
    (given, out, ports) = probe[0]
    assert given[0] == 1 and out[0] == 1 and ports[out[1]] == "in"  # the frame index points at second.in
    assert seen == [1]


async def test_missing_target_frame_fails(tests):
    runtime = await tests(TARGETS.replace("target: {name: second, port: in}", "target: {name: first, port: out}"))
    (message,) = (await outcomes(runtime)).values()
    assert message.startswith("assert failed: target first.out: no packet went through it after frame")


async def test_unknown_target_node_or_port_fails(tests):
    runtime = await tests(TARGETS.replace("target: {name: second, port: in}", "target: {name: nobody, port: in}"))
    assert (await outcomes(runtime))["default/chain"] == "assert failed: target nobody.in: no such node"
    runtime = await tests(TARGETS.replace("target: {name: second, port: in}", "target: {name: second, port: sideways}"),
                          namespace="other")
    assert (await outcomes(runtime))["other/chain"] == "assert failed: target second.sideways: the node has no such port"
