"""The CEL fast path (portflow.lang.cel_fast) against cel-cpp: the same answer, or it hands the call over.

Each case runs both ways explicitly: cel-cpp (``CelProgram._eval``) and the compiled function. The compiled
one must either give exactly cel-cpp's value (types included: 1, 1.0 and true differ) or raise Deopt; it
may never answer where cel-cpp fails. The corpus also says which way each case must go, so a fast path
that quietly deopts everything fails here.
"""

import datetime as dt
import importlib.metadata
import math
import random
from decimal import Decimal

import pytest

from portflow.errors import FlowError
from portflow.lang import cel, cel_fast
from portflow.lang.cel_fast import Deopt

LANGUAGE = cel.Cel()
FAST, DEOPT, NOT_COMPILED = "fast", "deopt", "not compiled"


def same(a, b):
    """Equal values of equal types all the way down (NaN equals NaN; a map's order is not compared)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    return a == b


def both(code, payload):
    """(how the fast path went, cel-cpp's outcome): checks that a fast answer is cel-cpp's."""
    program = LANGUAGE.compile(code)
    assert isinstance(program, cel.CelProgram), f"{code} does not run in-process"
    try:
        expected = ("value", program._eval(payload))
    except FlowError as e:
        expected = ("error", str(e))
    if program.fast is None:
        return NOT_COMPILED, expected
    try:
        got = program.fast(payload)
    except Deopt:
        return DEOPT, expected
    assert expected[0] == "value", f"{code} on {payload!r}: the fast path answered {got!r}, cel-cpp: {expected[1]}"
    assert same(got, expected[1]), f"{code} on {payload!r}: fast {got!r} != cel-cpp {expected[1]!r}"
    return FAST, expected


P = {"s": "héllo", "a": "abc", "n": 21, "f": 2.5, "t": True, "z": None, "l": [1, 2, 3], "w": ["x", "Yé", "z"],
     "m": {"k": 1, "j": "v", "on": {"deep": [1, {"x": 2}]}}, "big": 2**63 - 1, "u": 2**63, "neg": -(2**63)}

CORPUS = [
    # literals and variables
    ("1", {}, FAST, 1), ("-7", {}, FAST, -7), ("2.5", {}, FAST, 2.5), ("'x'", {}, FAST, "x"), ("true", {}, FAST, True),
    ("null", {}, FAST, None), ("[1, 'a', null]", {}, FAST, [1, "a", None]), ("{'a': 1, 'b': [2]}", {}, FAST, {"a": 1, "b": [2]}),
    ("n", P, FAST, 21), ("s", P, FAST, "héllo"), ("m.k", P, FAST, 1), ("m.on.deep[1].x", P, FAST, 2), ("self.n", P, FAST, 21),
    ("self", 5, FAST, 5), ("self * 2", 21, FAST, 42), ("u", P, FAST, 2**63), ("m", P, FAST, P["m"]),
    ("[l, m]", P, FAST, [P["l"], P["m"]]), ("{'x': w}", P, FAST, {"x": P["w"]}),
    # arithmetic
    ("n + n", P, FAST, 42), ("n - 30", P, FAST, -9), ("n * 2", P, FAST, 42), ("n / 4", P, FAST, 5), ("-n / 4", P, FAST, -5),
    ("n % 4", P, FAST, 1), ("-n % 4", P, FAST, -1), ("n % -4", P, FAST, 1), ("f + 1.0", P, FAST, 3.5), ("f / 0.5", P, FAST, 5.0),
    ("-f", P, FAST, -2.5), ("-n", P, FAST, -21), ("a + s", P, FAST, "abchéllo"), ("l + [4]", P, FAST, [1, 2, 3, 4]),
    ("big + 1", P, DEOPT, "integer overflow"), ("neg - 1", P, DEOPT, "integer overflow"), ("-neg", P, DEOPT, "integer overflow"),
    ("big * 2", P, DEOPT, "integer overflow"), ("n / 0", P, DEOPT, "divide by zero"), ("n % 0", P, DEOPT, None),
    ("f / 0.0", P, DEOPT, math.inf), ("n + f", P, DEOPT, None), ("n + 'a'", P, DEOPT, None), ("u + 1", P, DEOPT, None),
    ("t + t", P, DEOPT, None), ("neg / -1", P, DEOPT, None),
    # comparisons and logic
    ("n == 21", P, FAST, True), ("n == 21.0", P, FAST, True), ("n != 'a'", P, FAST, True), ("z == null", P, FAST, True),
    ("n == null", P, FAST, False), ("t == 1", P, FAST, False), ("a < s", P, FAST, True), ("f >= n", P, FAST, False),
    ("n <= 21", P, FAST, True), ("t > false", P, FAST, True), ("u > 1", P, DEOPT, True), ("l == [1, 2, 3]", P, DEOPT, True),
    ("n > 'a'", P, DEOPT, None), ("t && n > 1", P, FAST, True), ("!t || n == 1", P, FAST, False),
    ("false && n > 'a'", P, FAST, False), ("n > 'a' && false", P, DEOPT, False), ("true || x", P, DEOPT, True),
    ("t ? 'yes' : 'no'", P, FAST, "yes"), ("n ? 1 : 2", P, DEOPT, None), ("!n", P, DEOPT, None),
    ("2 in l", P, FAST, True), ("'k' in m", P, FAST, True), ("'q' in m", P, FAST, False), ("2.0 in l", P, FAST, True),
    ("[1] in [[1]]", P, DEOPT, True),
    # selection, indexing, has
    ("l[0]", P, FAST, 1), ("l[3]", P, DEOPT, None), ("l[-1]", P, DEOPT, None), ("m['j']", P, FAST, "v"),
    ("m.missing", P, DEOPT, 'Key not found in map: "missing"'), ("has(m.k)", P, FAST, True), ("has(m.q)", P, FAST, False),
    ("has(n.q)", P, DEOPT, None), ("n.q", P, DEOPT, None), ("nothing", P, DEOPT, 'no variable named "nothing"'),
    ("x + 1", 5, DEOPT, None),
    # functions
    ("size(s)", P, FAST, 5), ("s.size()", P, FAST, 5), ("size(l)", P, FAST, 3), ("size(m)", P, FAST, 3),
    ("s.upperAscii()", P, FAST, "HéLLO"), ("w[1].lowerAscii()", P, FAST, "yé"), ("s.startsWith('hé')", P, FAST, True),
    ("s.endsWith('lo')", P, FAST, True), ("s.contains('ll')", P, FAST, True), ("w.join('-')", P, FAST, "x-Yé-z"),
    ("w.join()", P, FAST, "xYéz"), ("l.join()", P, DEOPT, None), ("int(f)", P, FAST, 2), ("int(-f)", P, FAST, -2),
    ("double(n)", P, FAST, 21.0), ("string(n)", P, FAST, "21"), ("string(t)", P, FAST, "true"), ("dyn(n) + 1", P, FAST, 22),
    ("int('12')", P, DEOPT, 12), ("string(f)", P, DEOPT, "2.5"), ("size(n)", P, DEOPT, None),
    # macros
    ("l.map(x, x * 2)", P, FAST, [2, 4, 6]), ("w.map(x, x.upperAscii())", P, FAST, ["X", "Yé", "Z"]),
    ("l.filter(x, x > 1)", P, FAST, [2, 3]), ("l.all(x, x > 0)", P, FAST, True), ("l.exists(x, x == 3)", P, FAST, True),
    ("l.exists_one(x, x > 1)", P, FAST, False), ("m.all(k, k != 'q')", P, FAST, True),
    ("m.exists_one(k, k == 'j')", P, FAST, True), ("m.map(k, k)", P, DEOPT, None),
    ("m.m.filter(k, true)", {"m": {"m": {"a": 1}}}, FAST, ["a"]),
    ("m.on.deep.map(x, x)", P, FAST, P["m"]["on"]["deep"]), ("w.all(x, x > 1)", P, DEOPT, None),
    ("l.map(x, x + 'a')", P, DEOPT, None),
    # values cel-cpp takes differently or refuses: always cel-cpp's answer
    ("x", {"x": b"\xff\x00"}, DEOPT, b"\xff"), ("x", {"x": (1, 2)}, DEOPT, [1, 2]), ("x", {"x": "\ud800"}, DEOPT, None),
    ("x", {"x": dt.datetime(2020, 1, 1)}, DEOPT, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    ("size(x)", {"x": [1, Decimal(1)]}, DEOPT, None), ("size(x.a)", {"x": {"a": [1], "b": {1}}}, DEOPT, None),
    ("x", {"x": 2**64}, DEOPT, None), ("self.x", {"x": 1, 2: 3}, DEOPT, "cel: the payload's keys must all be strings to be variables"),
    # what the fast path does not compile
    ("1u + 2u", {}, NOT_COMPILED, 3), ("b'ab'", {}, NOT_COMPILED, b"ab"), ("{'a': 1, 'a': 2}", {}, NOT_COMPILED, None),
    ("s.matches('h.*')", P, NOT_COMPILED, True), ("lists.range(3)", {}, NOT_COMPILED, [0, 1, 2]),
    ("s.trim()", P, NOT_COMPILED, "héllo"), ("[1].sort()", {}, NOT_COMPILED, [1]),
]


@pytest.mark.parametrize(("code", "payload", "how", "answer"), CORPUS, ids=[c[0] for c in CORPUS])
def test_the_fast_path_is_cel_cpp_or_hands_over(code, payload, how, answer):
    went, (kind, value) = both(code, payload)
    assert went == how, f"{code}: {went}, expected {how} (cel-cpp: {kind} {value!r})"
    if answer is not None:
        if kind == "value":
            assert same(value, answer), f"{code}: cel-cpp gave {value!r}"
        else:
            assert value == answer, f"{code}: cel-cpp said {value!r}"


async def test_the_answer_a_user_sees_is_the_same_either_way():
    """Through ``call``, as the snippet node calls it: fast, handed over, or cel-cpp's error."""
    program = LANGUAGE.compile("{'greeting': 'hello ' + body.name, 'n': body.n * 2}")
    assert program.fast is not None
    assert program.call({"body": {"name": "ada", "n": 21}}) == {"greeting": "hello ada", "n": 42}
    with pytest.raises(FlowError, match=r"^No matching overloads found: _\*_\(double, int64\)$"):
        program.call({"body": {"name": "ada", "n": 2.5}})
    with pytest.raises(FlowError, match='^Key not found in map: "n"$'):
        program.call({"body": {"name": "ada"}})


def test_an_expression_that_mostly_hands_over_stops_trying():
    """The same rule as JavaScript's compiled code (_runtime.FastPathTally): past DEOPTS_TO_DROP calls handed
    to cel-cpp, and more of them than it answered, the fast path is dropped; answers stay cel-cpp's."""
    from portflow.lang._runtime import DEOPTS_TO_DROP

    program = LANGUAGE.compile("'n: ' + n")
    for _ in range(DEOPTS_TO_DROP * 2):
        assert program.call({"n": "ok"}) == "n: ok"
    for _ in range(DEOPTS_TO_DROP * 2 - 1):
        with pytest.raises(FlowError, match=r"^No matching overloads found: _\+_\(string, double\)$"):
            program.call({"n": 1.5})
    assert program.fast is not None  # still answering as often as it hands over
    for _ in range(2):
        with pytest.raises(FlowError):
            program.call({"n": 1.5})
    assert program.fast is None
    assert program.call({"n": "ok"}) == "n: ok"


def test_a_map_keeps_its_written_order():
    """cel-cpp returns maps in its hash order, which changes from process to process; the fast path keeps
    the order a user wrote (and a payload's map its own)."""
    program = LANGUAGE.compile("{'z': 1, 'greeting': m, 'a': 3, 'double': 4}")
    result = program.call({"m": {"y": 1, "b": 2, "x": 3}})
    assert list(result) == ["z", "greeting", "a", "double"]
    assert list(result["greeting"]) == ["y", "b", "x"]


def test_the_result_holds_no_container_of_the_payload():
    """cel-cpp's results are new values; so are the fast path's, so changing one changes no payload."""
    payload = {"l": [[1], {"k": [2]}], "m": {"k": [3]}}
    program = LANGUAGE.compile("{'l': l, 'first': l[0], 'k': m.k, 'both': l + [m], 'kept': l.filter(x, true)}")
    assert program.fast is not None
    result = program.call(payload)
    assert result == {"l": payload["l"], "first": [1], "k": [3], "both": [*payload["l"], payload["m"]],
                      "kept": payload["l"]}

    def containers(value):
        if type(value) in (list, dict):
            yield value
            for v in value.values() if type(value) is dict else value:
                yield from containers(v)

    ours = {id(c) for c in containers(payload)}
    assert not [c for c in containers(result) if id(c) in ours]


@pytest.mark.parametrize("depth", [1, 10, 30])
def test_nesting_as_deep_as_cel_cpp_parses_compiles(depth):
    """cel-cpp parses 32 levels at most (deeper is a CompileError), which the generated code takes."""
    program = LANGUAGE.compile("[" * depth + "x" + "]" * depth)
    assert program.fast is not None
    result = program.call({"x": 1})
    for _ in range(depth):
        assert type(result) is list and len(result) == 1
        result = result[0]
    assert result == 1


def test_the_parse_tree_is_cel_cpps():
    """The fast path reads ``Expression.serialize()`` (a cel.expr.ParsedExpr): this names the version of
    cel-expr-python it was written against, and fails when the format it reads changes."""
    assert importlib.metadata.version("cel-expr-python").startswith("0.1."), "re-check cel_fast.parse_tree"
    tree = cel_fast.parse_tree(LANGUAGE.parse("a.b + [1, 'x'][0] > 2.5 ? {'k': has(a.c)} : null").serialize())
    assert tree == (
        "call", None, "_?_:_", [
            ("call", None, "_>_", [
                ("call", None, "_+_", [
                    ("select", ("ident", "a"), "b", False),
                    ("call", None, "_[_]", [("list", [("const", 1), ("const", "x")]), ("const", 0)]),
                ]),
                ("const", 2.5),
            ]),
            ("map", [(("const", "k"), ("select", ("ident", "a"), "c", True))]),
            ("const", None),
        ],
    )  # fmt: skip
    comp = cel_fast.parse_tree(LANGUAGE.parse("l.map(x, x)").serialize())
    assert comp[0] == "comp" and comp[1] == "x" and comp[2] == ("ident", "l")


# --- random expressions ------------------------------------------------------------------------------------


def _random_value(r, depth=0):
    pick = r.random()
    if depth < 2 and pick < 0.15:
        return [_random_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    if depth < 2 and pick < 0.25:
        return {r.choice(["k", "j", "é", "on", "x"]): _random_value(r, depth + 1) for _ in range(r.randint(0, 3))}
    return r.choice([
        0, 1, -1, 7, -7, 2**62, 2**63 - 1, -(2**63), 2**63, 2**53 + 1, 0.0, -0.0, 1.5, -2.5, 1e300, math.inf, math.nan,
        "", "a", "abc", "é", "ß", "😀", "Ab", True, False, None, b"x", "\ud800",
    ])  # fmt: skip


_VARS = ["a", "b", "c", "self"]


def _random_expression(r, depth=0, scope=()):
    if depth > 3 or r.random() < 0.25:
        return r.choice([
            "1", "0", "-3", "2.5", "0.0", "'a'", "'é'", "''", "true", "false", "null", "[1, 2]", "['x', 'Y']",
            "{'k': 1}", "9223372036854775807", *_VARS[:3], *scope, *scope,
        ])  # fmt: skip
    sub = lambda: _random_expression(r, depth + 1, scope)  # noqa: E731
    form = r.randrange(22)
    if form < 6:
        op = r.choice(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in"])
        return f"({sub()} {op} {sub()})"
    if form == 6:
        return f"({r.choice(['-', '!'])}{sub()})"
    if form == 7:
        return f"({sub()} ? {sub()} : {sub()})"
    if form == 8:
        return f"{sub()}.{r.choice(['k', 'j', 'x'])}"
    if form == 9:
        return f"has({r.choice(_VARS)}.{r.choice(['k', 'j', 'x'])})"
    if form == 10:
        key = r.choice(["0", "1", "-1", "'k'", "'x'", "true"])
        return f"{sub()}[{key}]"
    if form == 11:
        return f"size({sub()})"
    if form == 12:
        method = r.choice(["upperAscii()", "lowerAscii()", "size()", "startsWith('a')", "endsWith('')",
                           "contains('b')", "join()", "join(',')"])
        return f"{sub()}.{method}"
    if form == 13:
        return f"{r.choice(['int', 'double', 'string', 'dyn'])}({sub()})"
    if form == 14:
        return f"[{sub()}, {sub()}]"
    if form == 15:
        return f"{{'p': {sub()}, 'q': {sub()}}}"
    if form in (16, 17) and not scope and depth < 2:
        macro = r.choice(["map", "filter", "all", "exists", "exists_one"])
        var = "v"
        body = _random_expression(r, depth + 1, (var,))
        return f"{r.choice(_VARS)}.{macro}({var}, {body})"
    return sub()


def test_random_expressions_agree_with_cel_cpp():
    r = random.Random(20261203)
    counts = {FAST: 0, DEOPT: 0, NOT_COMPILED: 0}
    tried = 0
    while tried < 3000:
        code = _random_expression(r)
        payload = {name: _random_value(r) for name in ("a", "b", "c")} if r.random() < 0.9 else _random_value(r)
        if not isinstance(program := LANGUAGE.compile(code), cel.CelProgram):
            continue  # runs in the child: no fast path there
        del program
        tried += 1
        went, _ = both(code, payload)
        counts[went] += 1
    # the comparison is only worth something if many calls really ran fast
    assert counts[FAST] > 600, counts
    assert counts[NOT_COMPILED] < 300, counts
