"""switch: the first matching case's port (uniflow-semantics §8)."""

from __future__ import annotations

import pytest

from portflow.errors import CompileError, FlowError, SpecError
from portflow.plugins.ctrl.switch import SwitchNode


def ports(node, recorder, n):
    sinks = [recorder(lambda p, i=i: [i, p]) for i in range(n)]
    for i, sink in enumerate(sinks):
        node.outport(f"out[{i}]").link(sink.in_port)
    return sinks


async def test_first_match_wins(send, recorder):
    node = SwitchNode([(lambda p: p > 10, 0), (lambda p: p > 5, 1), (lambda p: True, 2)])
    ports(node, recorder, 3)
    assert await send(node, 11) == [0, 11]
    assert await send(node, 6) == [1, 6]
    assert await send(node, 1) == [2, 1]


async def test_no_match_answers_the_input(send, recorder):
    node = SwitchNode([(lambda p: False, 0)])
    ports(node, recorder, 1)
    assert await send(node, "x") == "x"


async def test_an_evaluation_error_goes_to_error(send, recorder):
    def bad(p):
        raise FlowError("bad case")

    node = SwitchNode([(bad, 0)])
    ports(node, recorder, 1)
    node.error_port.link(recorder(lambda e: f"handled {e}").in_port)
    assert await send(node, 1) == "handled bad case"


# -- through the codec -----------------------------------------------------------------------------

async def test_matches_in_the_default_language(build, send, recorder):
    node = build("""
kind: switch
matches:
  - when: self.method == 'GET'
    port: out[1]
  - when: self.method == 'POST'
    port: out[0]
  - when: 'true'
    port: error        # not out[N]: ignored, as in uniflow
""")
    ports(node, recorder, 2)
    assert await send(node, {"method": "GET"}) == [1, {"method": "GET"}]
    assert await send(node, {"method": "POST"}) == [0, {"method": "POST"}]
    assert await send(node, {"method": "PUT"}) == {"method": "PUT"}


def test_a_bad_expression_names_the_case(build):
    with pytest.raises((CompileError, SpecError), match=r"^spec 'sw' \(kind switch\): matches\[1\]\.when: .+"):
        build({"kind": "switch", "name": "sw",
               "matches": [{"when": "true", "port": "out[0]"}, {"when": "self ==", "port": "out[1]"}]})


def test_a_case_needs_when_and_port(build):
    with pytest.raises(SpecError, match=r"matches"):
        build({"kind": "switch", "matches": [{"when": "true"}]})
