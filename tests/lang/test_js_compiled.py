"""The compiled fast path for JavaScript (portflow.lang.js_compiled) answers exactly as QuickJS does.

Each case runs both paths of one program explicitly — ``run_compiled`` (the Python the snippet was compiled
to; DEOPT when it hands the call over) and ``run_quickjs`` — and says which the case must take, so a fast
path that deopted on everything would fail here.
"""

import asyncio

import pytest

from portflow.errors import FlowError, FlowTimeout
from portflow.lang.js_compiled import DEOPT
from support.loop import round_trips_while

FAST, SLOW = "fast", "deopt"


def outcome(program, payload):
    try:
        return ("ok", program.run_quickjs(payload))
    except FlowError as e:
        return ("error", str(e))


def same(a, b):
    """Equal and of the same types all the way down (1 is not 1.0 here), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def check(program, payload, expect):
    fast = program.run_compiled(payload)
    slow = outcome(program, payload)
    if expect == FAST:
        assert fast is not DEOPT, "the compiled path deopted"
        assert same(("ok", fast), slow), (fast, slow)
    else:
        assert fast is DEOPT, f"the compiled path answered {fast!r}; QuickJS: {slow!r}"
    try:  # what the engine runs: the compiled path, else QuickJS
        engine = ("ok", program.run_inline(payload))
    except FlowError as e:
        engine = ("error", str(e))
    assert same(engine, slow)


def fn(expr):
    return f"export default function (a) {{ return {expr} }}"


GREET = ('export default function (args) {\n  const b = args.body;\n  return { greeting: "hello " + b.name, '
         'double: b.n + b.n, tags: b.tags.map((t) => t.toUpperCase()) };\n}\n')
P = {"s": "abc", "u": "Zoë😀", "n": 21, "f": 2.5, "z": 0, "nz": -0.0, "big": 2**60, "l": [3, 1, 2],
     "ls": ["x", "y"], "o": {"k": 1, "m": None}, "t": True, "no": None, "e": "", "ws": " \t pad\xa0\n",
     "nan": float("nan"), "inf": float("inf"), "mixed": [1, "a", None, True], "d": {"1": "one", "b": 2}}

CASES = [
    # the module's forms
    (GREET, {"body": {"name": "ada", "n": 21, "tags": ["x", "y"]}, "path": "/greet"}, FAST),
    (GREET, {"body": {"name": "ada", "n": 21.0, "tags": []}}, FAST),
    (GREET, {"body": {"name": "ada", "n": 0.1, "tags": ["é"]}}, SLOW),  # non-ASCII upper-cased
    (GREET, {"body": {"name": "ada", "n": 2**60, "tags": []}}, SLOW),  # an int JavaScript rounds
    (GREET, {"body": {"n": 1, "tags": []}}, FAST),  # "hello undefined"
    (GREET, {"body": None}, SLOW),  # TypeError: QuickJS words it
    (GREET, {}, SLOW),
    ("module.exports = (a) => a.n + 1", P, FAST),
    ("module.exports = a => a.n * 2;", P, FAST),
    ("exports.default = function (a) { return a.s }", P, FAST),
    ("export default (a) => ({ x: a.n })", P, FAST),
    ("export default (a) => { const x = a.n; return x }", P, FAST),
    ("export default function named(a) { return a.s; };", P, FAST),
    ("export default () => 42", P, FAST),
    ("export default () => 42", "just a string", FAST),
    ("export default ({ n, s: str }) => str + n", P, FAST),
    ("export default ({ n }) => n", None, SLOW),  # destructuring null: TypeError
    ("// a comment\nexport default function (a) { /* inline */ return a.n // trailing\n}", P, FAST),
    ("export default function (a) {\n  const x = a.n\n  const y = x + 1\n  return y\n}", P, FAST),
    ("export default function (a) { }", P, FAST),
    ("export default (a) => a.n // a comment ends at any line terminator\u2028 + 1", P, FAST),
    ("export default (a) => a.n // or\r + 1", P, FAST),
    ("export default (a) =>\n  a.l.map(x =>\n    x + 1)", P, FAST),
    ("export default function (a) { return; }", P, FAST),
    # literals
    (fn("1.5"), P, FAST), (fn("1e21"), P, FAST), (fn("1e-7"), P, FAST), (fn("-0"), P, FAST),
    (fn("9007199254740993"), P, SLOW), (fn(".5"), P, FAST), (fn("'it\\'s \\u00e9\\n'"), P, FAST),
    (fn("null"), P, FAST), (fn("undefined"), P, FAST), (fn("NaN"), P, FAST), (fn("Infinity"), P, FAST),
    (fn("true"), P, FAST), (fn("[1, 'a', null, undefined, [true]]"), P, FAST),
    (fn("{ a: 1, 'b c': 2, u: undefined, n: null }"), P, FAST),
    (fn("`n=${a.n} f=${a.f} s=${a.s} ${a.no} ${a.t} ${a.missing}`"), P, FAST),
    (fn("`${a.o}`"), P, SLOW),  # an object's toString
    (fn("`line\nbreak ${'x'}`"), P, FAST),
    # property reads
    (fn("a.o.k"), P, FAST), (fn("a.o.missing"), P, FAST), (fn("a.o.m"), P, FAST),
    (fn("a.o.toString"), P, SLOW), (fn("a.o.constructor"), P, SLOW), (fn("a['o']['k']"), P, FAST),
    (fn("a.no.x"), P, SLOW), (fn("a.no?.x"), P, FAST), (fn("a.missing?.x.y.z"), P, FAST),
    (fn("a.o?.k"), P, FAST), (fn("(a.missing?.x).y"), P, SLOW), (fn("a.l[0]"), P, FAST),
    (fn("a.l[7]"), P, FAST), (fn("a.s[1]"), P, FAST), (fn("a.u[0]"), P, SLOW), (fn("a.d[1]"), P, FAST),
    (fn("a.l.length"), P, FAST), (fn("a.s.length"), P, FAST), (fn("a.u.length"), P, FAST),
    (fn("a.o.length"), P, FAST), (fn("a.n.length"), P, FAST), (fn("a.l.foo"), P, FAST), (fn("a.l.at"), P, SLOW), (fn("a.l['1']"), P, SLOW),
    (fn("a.l?.[1]"), P, FAST), (fn("a.missing?.[1]"), P, FAST),
    # arithmetic
    (fn("a.n + a.f"), P, FAST), (fn("a.n - 100"), P, FAST), (fn("a.n * a.f"), P, FAST),
    (fn("a.n / 4"), P, FAST), (fn("a.n / a.z"), P, FAST), (fn("-a.n / a.z"), P, FAST),
    (fn("a.z / a.z"), P, FAST), (fn("1 / a.nz"), P, FAST), (fn("a.n % 4"), P, FAST),
    (fn("-a.n % 4"), P, FAST), (fn("a.n % a.z"), P, FAST), (fn("Infinity % 2"), P, FAST), (fn("a.inf % 2"), P, SLOW),
    (fn("a.nan + 1"), P, SLOW),  # NaN crossed as null: null + 1 is left to QuickJS
    (fn("a.big + 1"), P, SLOW), (fn("1e308 * 10"), P, FAST), (fn("0.1 + 0.2"), P, FAST),
    (fn("-a.f"), P, FAST), (fn("-a.z"), P, FAST),
    (fn("a.n + a.t"), P, SLOW), (fn("a.s - 1"), P, SLOW), (fn("4503599627370496 * 4"), P, SLOW),
    (fn("1e21 + 1"), P, FAST),
    # strings
    (fn("a.s + a.n"), P, FAST), (fn("a.n + a.s"), P, FAST), (fn("a.s + a.f"), P, FAST),
    (fn("a.s + 0.1 + (0.1 + 0.2)"), P, FAST), (fn("'' + 1e21 + ' ' + 1e-7 + ' ' + 123.456e-9"), P, FAST),
    (fn("'' + -1.5e300 + ' ' + 5e-324 + ' ' + 1/3 + ' ' + 100/3"), P, FAST),
    (fn("'' + a.nz + a.no + a.t + a.missing"), P, FAST),
    (fn("a.s + a.l"), P, SLOW), (fn("a.s + a.o"), P, SLOW), (fn("a.u + a.s"), P, FAST),
    (fn("a.s.toUpperCase()"), P, FAST), (fn("a.s.toLowerCase()"), P, FAST), (fn("a.u.toUpperCase()"), P, SLOW),
    (fn("a.ws.trim()"), P, FAST), (fn("a.ws.trimStart() + '|' + a.ws.trimEnd()"), P, FAST),
    (fn("a.s.includes('b')"), P, FAST), (fn("a.s.includes(1)"), P, SLOW), (fn("a.u.includes('😀')"), P, FAST),
    (fn("a.s.startsWith('ab')"), P, FAST), (fn("a.s.endsWith('bc')"), P, FAST), (fn("a.s.startsWith('')"), P, FAST),
    (fn("a.n.toUpperCase()"), P, SLOW), (fn("a.o.includes('k')"), P, SLOW),
    (fn("String(a.n) + String(a.no) + String(a.f)"), P, FAST), (fn("String(a.l)"), P, SLOW),
    (fn("Number(a.n) + Number(a.t) + Number(a.no)"), P, FAST), (fn("Number(a.missing)"), P, FAST),
    (fn("Number(a.s)"), P, SLOW),
    # comparisons and logic
    (fn("a.n === 21"), P, FAST), (fn("a.n === '21'"), P, FAST), (fn("a.s !== 'abc'"), P, FAST),
    (fn("a.nan === a.nan"), P, FAST), (fn("a.z === a.nz"), P, FAST), (fn("a.o === a.o"), P, FAST),
    (fn("a.no === null"), P, FAST), (fn("a.missing === undefined"), P, FAST), (fn("a.no === undefined"), P, FAST),
    (fn("a.n < 30"), P, FAST), (fn("a.s < 'abd'"), P, FAST), (fn("'\\uffff' < a.u"), P, FAST),
    (fn("'\\uffff' < '😀'"), P, FAST), (fn("a.n >= a.f"), P, FAST), (fn("a.n <= NaN"), P, FAST), (fn("a.n <= a.nan"), P, SLOW),
    (fn("a.s < 1"), P, SLOW), (fn("a.no < 1"), P, SLOW),
    (fn("a.no == null"), P, FAST), (fn("a.missing == null"), P, FAST), (fn("a.z != null"), P, FAST),
    (fn("!a.e"), P, FAST), (fn("!a.l"), P, FAST), (fn("!a.nz"), P, FAST), (fn("!a.nan"), P, FAST),
    (fn("!![]"), P, FAST), (fn("!!{}"), P, FAST), (fn("!'0'"), P, FAST),
    (fn("a.e || 'default'"), P, FAST), (fn("a.s && a.n"), P, FAST), (fn("a.z ?? 5"), P, FAST),
    (fn("a.missing ?? a.no ?? 'x'"), P, FAST), (fn("a.n > 3 ? 'big' : 'small'"), P, FAST),
    (fn("a.l ? 1 : 2"), P, FAST), (fn("a.z || a.e || a.no"), P, FAST), (fn("a.t && a.missing"), P, FAST),
    (fn("typeof a.n + typeof a.s + typeof a.no + typeof a.missing + typeof a.l + typeof a.t"), P, FAST),
    # arrays
    (fn("a.l.map(x => x * 2)"), P, FAST), (fn("a.l.map((x, i) => x + i)"), P, FAST),
    (fn("a.l.filter(x => x > 1)"), P, FAST), (fn("a.mixed.filter(x => x)"), P, FAST),
    (fn("a.l.some(x => x === 2)"), P, FAST), (fn("a.l.every(x => x > 0)"), P, FAST),
    (fn("a.l.find(x => x > 1)"), P, FAST), (fn("a.l.find(x => x > 9)"), P, FAST),
    (fn("a.l.findIndex(x => x === 2)"), P, FAST), (fn("a.l.findIndex(x => x === 9)"), P, FAST),
    (fn("a.l.includes(2)"), P, FAST), (fn("a.l.includes('2')"), P, FAST), (fn("[a.nan].includes(NaN)"), P, FAST),
    (fn("[NaN].includes(NaN)"), P, FAST), (fn("a.ls.join('-')"), P, FAST), (fn("a.ls.join()"), P, FAST),
    (fn("a.mixed.join('')"), P, FAST), (fn("[[1]].join()"), P, SLOW), (fn("a.l.join(1)"), P, SLOW),
    (fn("a.s.map(x => x)"), P, SLOW), (fn("a.o.map(x => x)"), P, SLOW),
    (fn("a.l.map(x => ({ v: x, sq: x * x }))"), P, FAST), (fn("a.l.map(x => undefined)"), P, FAST),
    (fn("a.l.map(x => a.ls.map(y => y + x))"), P, FAST),
    # results
    ("export default (a) => a", P, SLOW),  # an index-like key: JavaScript lists it first
    ("export default (a) => a.o", P, FAST), ("export default (a) => a.d", P, SLOW),
    ("export default (a) => [a.nan, a.inf, a.nz, a.big]", P, SLOW),
    ("export default (a) => [a.nan, a.inf, a.nz, a.f, a.n]", P, FAST),
    ("export default (a) => a.x", {"x": [1.0, -0.0, 1e21, 2.5e-8, {"y": 3.0}]}, FAST),
    ("export default (a) => a.x", {"x": 2.0**60}, SLOW),
    ("export default (a) => a.x", {"x": b"bytes"}, FAST),  # crossed as base64
    ("export default (a) => a", (1, 2), FAST),
    ("export default (a) => a", {1: "int key"}, SLOW),
    ("export default (a) => a.x", {"x": {1.5: "float key"}}, FAST),
    ("export default (a) => a.x", ValueError("boom"), SLOW),  # an error payload: always QuickJS
    # statements
    ("export default function (a) { if (a.n > 3) return 'big'; return 'small' }", P, FAST),
    ("export default function (a) { if (a.z) { return 1 } else if (a.e) return 2; else { return 3 } }", P, FAST),
    ("export default function (a) { if (a.missing) return 1 }", P, FAST),
    ("export default function (a) { const { k, m } = a.o; if (k) { const j = k + 1; return j } return m }", P, FAST),
    ("export default function (a) { let t = a.ls.map(x => x.toUpperCase()); return { t, n: t.length } }", P, FAST),
]


@pytest.mark.parametrize(("code", "payload", "expect"), CASES)
def test_compiled_answers_as_quickjs(languages, code, payload, expect):
    program = languages.compile("javascript", code, timeout=5)
    assert program.compiled is not None, "not compiled"
    check(program, payload, expect)


def test_the_corpus_is_big_and_mostly_fast():
    assert len(CASES) >= 100
    assert sum(expect == FAST for _, _, expect in CASES) >= 100


def test_typescript_compiles_too(languages):
    code = ("interface Body { name: string; n: number; tags: string[] }\n"
            "export default function (args: { body: Body }) {\n  const b: Body = args.body;\n"
            "  return { greeting: `hello ${b.name}`, double: b.n + b.n, tags: b.tags.map((t: string) => t.toUpperCase()) };\n}\n")
    program = languages.compile("typescript", code, timeout=5)
    assert program.compiled is not None
    check(program, {"body": {"name": "ada", "n": 21, "tags": ["x"]}}, FAST)


@pytest.mark.parametrize("code", [
    "export default (args: { body: { name: string } }) => ({ greeting: `hi ${args.body.name}` })",
    "interface B { n: number }\nexport default function (args: { body: B }): number {\n  const b = args.body as B;\n"
    "  return b.n! * 2;\n}",
    "type T = { x?: number };\nexport default ({ body }: { body: T }) => body.x ?? 0",
    "export default function (args: any) {\n  // typed\n  const tags: string[] = args.body.tags;\n"
    "  return tags.filter((t: string): boolean => t.startsWith('a'));\n}",
])
def test_typescript_types_compile_away(languages, code):
    program = languages.compile("typescript", code, timeout=5)
    assert program.compiled is not None
    check(program, {"body": {"name": "ada", "n": 21, "x": 2.5, "tags": ["ab", "b", "a"]}}, FAST)


def test_trim_removes_what_javascript_does(languages):
    spaces = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() or chr(c) in "\u180e\u200b\ufeff")
    program = languages.compile("javascript", fn("a.s.trim()"), timeout=5)
    for c in spaces + "\ufeff\u180e\u200b":
        check(program, {"s": c + "x" + c}, FAST)


def test_numbers_print_as_javascript_prints_them(languages):
    program = languages.compile("javascript", fn("a.l.map(x => '' + x)"), timeout=5)
    values = [0.1, 1 / 3, 123.456, 1e-6, 1.5e-7, 1e20 + 0.5, 1.2345678901234567e20, 1e21, 1.7976931348623157e308,
              5e-324, -2.5, 4.35, 0.000001234, 1e-7, 123456789.125, 2.0**53, 2.0**53 - 1, -(2.0**52) - 0.5]
    check(program, {"l": values}, FAST)


NOT_IN_SUBSET = [
    "export default (a) => /ab+c/.test(a.s)",
    "export default (a) => a.s.replace(/x/g, 'y')",
    "export default function (a) { const x = a.n; x = 2; return x }",
    "export default function (a) { a.n = 2; return a }",
    "export default function (a) { let n = 0; for (const x of a.l) n += x; return n }",
    "export default function (a) { while (true) {} }",
    "export default (a) => Math.max(a.n, 1)",
    "export default (a) => JSON.stringify(a)",
    "export default (a) => console.log(a)",
    "export default (a) => helper(a)",
    "export default function (a) { return this }",
    "export default (a) => a[a.k]",
    "export default async function (a) { return a.n }",
    "export default async (a) => a.n",
    "export default (a) => new Date()",
    "export default (a) => ({ ...a })",
    "export default (a) => [...a.l]",
    "export default (a) => a.n++",
    "export default (a) => (a.n, 1)",
    "export default (a) => a.n == 1",
    "export default (a) => a.n ** 2",
    "export default (a) => a.n | 0",
    "export default (a) => a.l.reduce((x, y) => x + y, 0)",
    "export default (a) => a.l.map(function (x) { return x })",
    "export default (a) => a.l.map(x => { return x })",
    "export default (a) => a.l.map(parseInt)",
    "export default (a) => ({ 1: a.n })",
    "export default (a) => ({ '2': a.n })",
    "export default (a) => ({ __proto__: a.o })",
    "export default (a) => ({ x: 1, x: 2 })",
    "export default (a) => ({ [a.k]: 1 })",
    "export default (a) => a.s.slice(1)",
    "export default (a) => a?.f()",
    "export default (a) => `tag`.length + String.raw`x`",
    "export default (a) => a.n in a.o",
    "export default (a) => a.o instanceof Object",
    "export default (a) => void 0",
    "export default (a) => globalThis",
    "export default (a) => 0x10",
    "export default (a) => 010",
    "export default (a) => 1_000",
    "export default (a) => 10n",
    "export default (a) => '\\x41'",
    "export default function (a) { var x = 1; return x }",
    "export default function (a) { const a = 1; return a }",
    "export default function (a) { const x = 1; const x = 2; return x }",
    "export default function (a) { const x = y; const y = 1; return x }",
    "export default function (a) { const f = (x) => x; return f(1) }",
    "export default function (a) { return a.n; const x = 1 }",
    "export default function (a) { if (a.n) const x = 1; return 2 }",
    "export default function (a) { throw new Error('x') }",
    "export default function (a) { try { return 1 } catch (e) { return 2 } }",
    "export default function (a) { return a.n\n}\nconst x = 1",
    "const k = 1; export default (a) => k",
    "import x from 'y'; export default (a) => x",
    "module.exports = (a) => a.n; module.exports.x = 1",
    "export default function (a, b) { return b }",
    "export default function (a = 1) { return a }",
    "export default function ({ a = 1 }) { return a }",
    "export default function (a) { return (\n a.n\n) ?? a.x || 1 }",
    "export default 42",
    "export default function* (a) { yield 1 }",
    "export default (a) => eval('1')",
    "export default (a) => arguments",
    "export default (a) => a.n\n++a.n",
    "export default function (a) { return\n a.n }",
    "export default (a) => String",
    "export default (a) => a.l.includes(2, 1)",
    "export default (a) => a.l.join(',', 1)",
    "export default (a) => a.l.map(x => x, 1)",
    "export default (a) => a.l.map((x, i, arr) => arr)",
    "export default (a) => caf\\u00e9",
    "export default (a) => a.é",
    "/*\nexport default 1\n*/\nexport default (a) => a.n",  # the runner rewrote the comment's: None too
]


@pytest.mark.parametrize("code", NOT_IN_SUBSET)
def test_outside_the_subset_never_compiles(languages, code):
    try:
        program = languages.compile("javascript", code, timeout=5)
    except Exception:  # noqa: BLE001 - some are syntax errors to QuickJS too: then there is no program at all
        return
    assert program.compiled is None


async def test_a_compiled_call_honours_its_timeout(languages):
    """The compiled code is Python: the watchdog interrupts it as it does Python snippets (a slice inline,
    then the timeout on a worker). A map over a big list is how a compiled call can be slow."""
    code = "export default (a) => a.l.map(x => a.l.filter(y => y === x).length)"
    program = languages.compile("javascript", code, timeout=0.5)
    assert program.compiled is not None
    payload = {"l": list(range(20_000))}
    task = asyncio.ensure_future(program(payload))
    assert await round_trips_while(task) == 3  # the loop served a socket while the compiled call ran
    with pytest.raises(FlowTimeout, match=r"^timeout after 0.5s$"):
        await task
    small = {"l": [1, 2, 2]}
    assert program.run_compiled(small) == [1, 2, 2]  # the same code on a small list answers at once


def test_what_could_grow_past_quickjs_limits_deopts(languages):
    """QuickJS has a memory limit the compiled code does not model: a big payload, a long string built, or a
    result that repeats one value many times go to QuickJS (which answers, or runs out of memory)."""
    def doubling(times):
        return "export default function (a) {\n  const s0 = a.s\n" + "".join(
            f"  const s{i + 1} = s{i} + s{i}\n" for i in range(times)) + f"  return s{times}.length\n}}"

    check(languages.compile("javascript", doubling(20), timeout=10), {"s": "ab"}, SLOW)  # past STRING_LIMIT
    check(languages.compile("javascript", doubling(8), timeout=10), {"s": "ab"}, FAST)
    nested = "export default function (a) {\n  const x0 = [a.s, a.s]\n" + "".join(
        f"  const x{i + 1} = [x{i}, x{i}]\n" for i in range(21)) + "  return x21\n}"
    program = languages.compile("javascript", nested, timeout=10)
    assert program.run_compiled({"s": "ab"}) is DEOPT  # 2**22 lists, though only 22 were made
    big = {"l": list(range(100_000))}  # ~600 KB of JSON
    check(languages.compile("javascript", fn("a.l.length"), timeout=10), big, SLOW)
    check(languages.compile("javascript", fn("a.l.length"), timeout=10), {"l": list(range(1000))}, FAST)


def test_deep_payloads_deopt(languages):
    deep = []
    for _ in range(5000):
        deep = [deep]
    program = languages.compile("javascript", fn("a.x"), timeout=10)
    assert program.run_compiled({"x": deep}) is DEOPT


def test_a_snippet_that_mostly_deopts_stops_trying(languages):
    from portflow.lang._runtime import DEOPTS_TO_DROP

    program = languages.compile("javascript", fn("a.s.toUpperCase()"), timeout=5)
    for _ in range(DEOPTS_TO_DROP * 2):
        assert program.run_inline({"s": "ascii"}) == "ASCII"
    for _ in range(DEOPTS_TO_DROP * 2 - 1):
        assert program.run_inline({"s": "é"}) == "É"  # non-ASCII: QuickJS's answer
    assert program.compiled is not None  # still answering as often as it deopts
    for _ in range(2):
        program.run_inline({"s": "é"})
    assert program.compiled is None
    assert program.run_inline({"s": "ascii"}) == "ASCII"
