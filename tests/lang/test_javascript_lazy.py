"""A big map payload reaches a JavaScript snippet lazily (each key parsed when read): what the snippet sees is
exactly what it sees of the same payload handed over as one JSON."""

import datetime as dt

import pytest

from portflow.errors import FlowError
from portflow.lang import javascript

WHOLE, LAZY = 1 << 62, 0  # javascript.LAZY_BYTES: never lazy, always lazy

PAYLOAD = {
    "method": "POST", "big": 2**40, "max": 2**53 - 1, "f": 1.5, "neg": -3, "yes": True, "none": None,
    "nested": {"x": [1, {"y": "z", "deep": [[2**41]]}], "empty": {}}, "s": "Zoë é✓ \x01 \n", "": "empty key",
    "b": b"hi", "t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "e": FlowError("inner"), "10": "ten", "2": "two",
    "__proto__": {"p": 1}, "toString": "shadowed", "then": 1,
}


async def both(languages, monkeypatch, code, payload):
    """The snippet's result with the payload lazily and as one JSON (a fresh program each), checked equal."""
    results = []
    for limit in (LAZY, WHOLE):
        monkeypatch.setattr(javascript, "LAZY_BYTES", limit)
        program = languages.compile("javascript", code)
        program.keys = None  # the lazy path, not the narrower one of a snippet whose reads are known
        try:
            results.append(await program(payload))
        except FlowError as e:
            results.append(("error", str(e)))
        assert program.local.big is (limit == LAZY)  # the path under test was taken
    lazy, whole = results
    assert lazy == whole
    return lazy


async def test_every_key_reads_as_in_a_plain_object(languages, monkeypatch):
    code = "export default function (args) { return Object.getOwnPropertyNames(args).map((k) => [k, args[k]]) }"
    pairs = await both(languages, monkeypatch, code, PAYLOAD)
    assert [k for k, _ in pairs] == ["2", "10", "method", "big", "max", "f", "neg", "yes", "none", "nested", "s",
                                     "", "b", "t", "e", "__proto__", "toString", "then"]  # integer keys first
    values = dict(pairs)
    assert values["big"] == 2**40 and values["max"] == 2**53 - 1 and values["nested"]["x"][1]["deep"] == [[2**41]]
    assert values["b"] == "aGk=" and values["t"] == "2024-01-01T00:00:00Z" and values["e"] == "inner"
    assert values["s"] == "Zoë é✓ \x01 \n" and values["__proto__"] == {"p": 1}
    code = ("export default function (args) { return [args.big, args.nested.x[1].deep[0][0], args[''], args.e,"
            " args.toString, typeof args.then, args.missing === undefined, Object.getPrototypeOf(args) === Object.prototype] }")
    assert await both(languages, monkeypatch, code, PAYLOAD) == [2**40, 2**41, "empty key", "inner", "shadowed",
                                                                  "number", True, True]


@pytest.mark.parametrize("body", [
    "return args",
    "return JSON.stringify(args)",
    "args.nested; return [Object.keys(args), JSON.stringify(args)]",
    "return { ...args, method: 'GET' }",
    "return Object.entries(args)",
    "return Object.assign({}, args)",
    "const out = []; for (const k in args) out.push(k); return out",
    "return ['method' in args, '' in args, 'nope' in args, 'hasOwnProperty' in args, args.hasOwnProperty('s')]",
    "return [Object.getOwnPropertyDescriptor(args, 'big'), Object.getOwnPropertyDescriptor(args, 'nope') === undefined]",
    "args.nested; args.method = 'GET'; args.added = [1]; args.big += 1; return [Object.keys(args), args]",
    "args.method = 'GET'; return args",
    "delete args.nested; delete args.nope; return [Object.keys(args), args.nested === undefined, 'nested' in args]",
    "const n = args.nested; n.x.push(9); return [args.nested === n, args]",
    "Object.defineProperty(args, 'big', { value: 7, enumerable: false }); return [Object.keys(args), args.big, args]",
    "Object.defineProperty(args, 'big', { value: 7 }); return args.big",
    "Object.defineProperty(args, 'then', { value: 7, enumerable: true }); return [Reflect.ownKeys(args), args.then]",
    "Object.freeze(args); let m = ''; try { args.method = 'GET' } catch (e) { m = String(e) } "
    "return [m, args.method, Object.isFrozen(args), args.nested]",
    "Object.seal(args); args.method = 'GET'; return [Object.isSealed(args), args]",
    "Object.preventExtensions(args); let m = ''; try { args.added = 1 } catch (e) { m = e.name } return [m, args]",
    "Object.setPrototypeOf(args, { extra: 1 }); return [args.extra, args.method, 'extra' in args, args]",
    "const child = Object.create(args); child.method = 'GET'; return [child.method, args.method, args.nested]",
    "return [Reflect.ownKeys(args), Object.values(args).length, Array.isArray(args), String(Object.prototype.toString.call(args))]",
])
async def test_whole_object_operations_match_a_plain_object(languages, monkeypatch, body):
    await both(languages, monkeypatch, f"export default function (args) {{ {body} }}", PAYLOAD)


async def test_an_async_snippet_and_a_payload_kept_across_calls(languages, monkeypatch):
    code = "export default async function (args) { await null; const n = args.nested; await null; return [n, args.s] }"
    assert (await both(languages, monkeypatch, code, PAYLOAD))[1] == "Zoë é✓ \x01 \n"
    monkeypatch.setattr(javascript, "LAZY_BYTES", LAZY)
    keeps = languages.compile("javascript", "let kept;\nexport default function (args) {\n"
                                            "  const before = kept ? [kept.n, kept.deep] : null; kept = args; return before }")
    assert await keeps({"n": 1, "deep": {"v": 1}}) is None
    assert await keeps({"n": 2, "deep": {"v": 2}}) == [1, {"v": 1}]  # the first payload, not the second's
    assert await keeps({"n": 3, "deep": {"v": 3}}) == [2, {"v": 2}]


@pytest.mark.parametrize("payload", [[1, {"a": 2**40}], "text", 42, 1.5, None, b"hi",
                                     dt.datetime(2024, 1, 1, tzinfo=dt.UTC), {}, {1: "int key", "x": 2},
                                     {"a\x01b": 1, "c": 2}])
async def test_other_payloads_pass_as_one_json(languages, monkeypatch, payload):
    code = "export default function (args) { return [typeof args, args, JSON.stringify(args)] }"
    results = []
    for limit in (LAZY, WHOLE):
        monkeypatch.setattr(javascript, "LAZY_BYTES", limit)
        program = languages.compile("javascript", code)
        results.append(await program(payload))
        assert not program.local.big
    assert results[0] == results[1]


async def test_a_one_key_map(languages, monkeypatch):
    code = "export default function (args) { return [Object.keys(args), args.only, JSON.stringify(args)] }"
    assert await both(languages, monkeypatch, code, {"only": {"one": [1]}}) == [["only"], {"one": [1]}, '{"only":{"one":[1]}}']


async def test_an_error_payload_is_still_an_error(languages, monkeypatch):
    monkeypatch.setattr(javascript, "LAZY_BYTES", LAZY)
    program = languages.compile("javascript", "export default function (a) { return [a instanceof Error, a.error()] }")
    assert await program(FlowError("boom")) == [True, "boom"]
    failure = FlowError("kept")
    assert await languages.compile("javascript", "export default (a) => a")(failure) is failure


async def test_big_and_small_payloads_in_turn(languages):
    """As shipped: a payload of LAZY_BYTES of JSON or more goes lazily, a smaller one as one JSON, in any order."""
    program = languages.compile("javascript", "export default function (a) { return [a.path, Object.keys(a).length, a.body.items.length] }")
    big = {"path": "/big", "n": 1, "body": {"items": ["x" * 100] * (javascript.LAZY_BYTES // 50)}}
    small = {"path": "/small", "n": 1, "body": {"items": ["x"]}}
    for payload, big_one in [(big, True), (small, False), (small, False), (big, True), (big, True), (small, False)]:
        assert await program(payload) == [payload["path"], 3, len(payload["body"]["items"])]
        assert program.local.big is big_one
