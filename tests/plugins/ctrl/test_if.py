"""if: truthy to out[0], falsy to out[1] (uniflow-semantics §8)."""

from __future__ import annotations

import pytest

from portflow.config import RuntimeSettings
from portflow.errors import CompileError, FlowError, FlowTimeout, SpecError
from portflow.plugins.ctrl.if_ import IfNode


def branches(node, recorder):
    yes, no = recorder(lambda p: ["yes", p]), recorder(lambda p: ["no", p])
    node.outport("out[0]").link(yes.in_port)
    node.outport("out[1]").link(no.in_port)
    return yes, no


@pytest.mark.parametrize(("value", "branch"), [
    (True, "yes"), (1, "yes"), ("x", "yes"), ([0], "yes"), ({"a": None}, "yes"),
    ([], "yes"), ({}, "yes"), (b"", "yes"), (-0.0, "yes"),  # Go: a non-nil empty slice or map is not zero
    (False, "no"), (0, "no"), (0.0, "no"), ("", "no"), (None, "no"),
])
async def test_truthiness_is_not_the_zero_value(send, recorder, value, branch):
    node = IfNode(lambda payload: value)
    branches(node, recorder)
    assert await send(node, "p") == [branch, "p"]


async def test_the_packet_passes_unchanged(send, recorder):
    node = IfNode(lambda payload: payload["ok"])
    yes, _ = branches(node, recorder)
    await send(node, {"ok": True, "data": [1]})
    assert yes.seen == [{"ok": True, "data": [1]}]


async def test_an_undeclared_branch_answers_the_input(send, recorder):
    node = IfNode(lambda payload: False)
    node.outport("out").link(recorder(lambda p: "yes").in_port)  # only out[0]
    assert await send(node, "input") == "input"


async def test_an_evaluation_error_goes_to_error(send, recorder):
    def condition(payload):
        raise FlowError("no such key")

    node = IfNode(condition)
    yes, no = branches(node, recorder)
    handler = recorder(lambda e: f"handled {e}")
    node.error_port.link(handler.in_port)
    assert await send(node, 1) == "handled no such key"
    assert yes.seen == no.seen == []


# -- through the codec -----------------------------------------------------------------------------

async def test_when_in_the_default_language(build, send, recorder):
    node = build({"kind": "if", "when": "self > 10"})
    branches(node, recorder)
    assert await send(node, 11) == ["yes", 11]
    assert await send(node, 9) == ["no", 9]


async def test_when_in_another_language(build, send, recorder):
    node = build({"kind": "if", "language": "javascript", "when": "export default (x) => x.n > 1"})
    branches(node, recorder)
    assert await send(node, {"n": 2}) == ["yes", {"n": 2}]


async def test_default_language_comes_from_the_context(context, send, recorder):
    context.settings = RuntimeSettings(language="javascript")
    spec = context.scheme.decode({"kind": "if", "when": "export default (x) => x === 'a'"})
    node = context.scheme.compile(spec, context)
    branches(node, recorder)
    assert await send(node, "a") == ["yes", "a"]


async def test_timeout(build, send):
    node = build({"kind": "if", "name": "spin", "language": "javascript", "timeout": 30,
                  "when": "export default () => { while (true) {} }"})
    answer = await send(node, 1)
    assert isinstance(answer, FlowTimeout) and "spec 'spin' (kind if): timeout after 30ms" in str(answer)


def test_a_bad_expression_names_the_field(build):
    with pytest.raises((CompileError, SpecError), match=r"^spec 'cond' \(kind if\): when: .+"):
        build({"kind": "if", "name": "cond", "when": "self >"})
