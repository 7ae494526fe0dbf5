"""JavaScript snippets are given only the keys of a map payload their code can read (``javascript.reads``)."""

from __future__ import annotations

import datetime as dt

import pytest

from portflow.errors import FlowError
from portflow.lang import builtin_languages
from portflow.lang.javascript import reads

GREET = "export default function (args) {\n  const b = args.body;\n  return { greeting: 'hello ' + b.name };\n}"

PLANS = [
    (GREET, {"body"}),
    ("export default (a) => a.x + a?.y", {"x", "y"}),
    ("export default a => a . x", {"x"}),
    ("export default async function named(args) { return await args.body }", {"body"}),
    ("module.exports = function (p) { return p.q }", {"q"}),
    ("module.exports = (p) => `${p.path}?${p.query}`", {"path", "query"}),
    ("export default function (args) { return x.args + args.body }", {"body"}),  # x.args is not the argument
    ("export default (args) => [...args.tags]", {"tags"}),
    ("export default function (args) { return 1 }", set()),
]

OPAQUE = [
    "export default function (args) { return args }",
    "export default function (args) { return args['body'] }",
    "export default function (args) { return {...args} }",
    "export default function (args) { return Object.keys(args) }",
    "export default function (args) { return JSON.stringify(args) }",
    "export default function (args) { return 'header' in args }",
    "export default function (args) { args = {}; return args.x }",
    "export default function (args) { return `${args}` }",
    "export default function (args) { return eval('args.body') }",
    "export default function (args) { return arguments[0].body }",
    "export default function (args, more) { return args.body }",
    "export default function ({ body }) { return body }",
    "export default function (args = {}) { return args.body }",
    "export default function (\\u0061rgs) { return args.x }",
    "function f(a) { return a.b }\nexport default f",
    "export default function (args) { const f = (args) => args.q; return f(args.body) }",
]


@pytest.mark.parametrize(("code", "keys"), PLANS)
def test_the_keys_a_snippet_can_read(code, keys):
    assert reads(code) == frozenset(keys)


@pytest.mark.parametrize("code", OPAQUE)
def test_a_snippet_that_may_read_anything_gets_everything(code):
    assert reads(code) is None


PAYLOAD = {"method": "POST", "path": "/greet", "query": {"a": ["1"]}, "header": {"X-A": ["1", "2"]},
           "body": {"name": "ada", "n": 2**53 - 1, "tags": ["x", None, 1.5], "when": dt.datetime(2026, 1, 2),
                    "raw": b"\x00\xff"}, "status": 0, "x": 1, "y": "two"}


@pytest.mark.parametrize("language", ["javascript", "typescript"])
@pytest.mark.parametrize(("code", "keys"), [c for c in PLANS if "module.exports" not in c[0]])
def test_the_answer_is_the_same_as_with_the_whole_payload(language, code, keys):
    program = builtin_languages().compile(language, code, timeout=5)
    assert program.keys == frozenset(keys)  # the narrow path is the one taken
    narrow = _outcome(program)
    program.keys = None
    assert narrow == _outcome(program)


def _outcome(program):
    try:
        return "answered", program.call_sync(PAYLOAD)
    except FlowError as exc:  # a snippet that throws throws the same either way
        return "raised", str(exc)


def test_non_map_payloads_and_errors_go_whole():
    program = builtin_languages().compile(
        "javascript", "export default (a) => a.length === undefined ? a.message : a.length", timeout=5)
    assert program.keys == frozenset({"length", "message"})
    assert program.call_sync([1, 2, 3]) == 3
    assert program.call_sync("four") == 4
    assert program.call_sync(ValueError("boom")) == "boom"  # an error payload arrives as an Error
