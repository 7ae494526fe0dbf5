"""Random snippets of the compiled subset on random payloads: whenever the compiled path answers, QuickJS
answers the same (value and type); whenever it does not, the call deopts (and QuickJS answers). Fixed seed."""

import random

from portflow.errors import CompileError, FlowError
from portflow.lang.js_compiled import DEOPT

SEED = 14
PROGRAMS = 2500
PAYLOADS = 3

KEYS = ["x", "y", "s", "l", "o"]
SCALARS = [0, 1, -1, 7, 3, 2**53, 2**53 + 1, -(2**53), 2**60, -0.0, 0.5, -2.5, 1e21, 1e-7, 0.1, 1 / 3, 123.456,
           1e300, float("nan"), float("inf"), float("-inf"), "", "a", "abc", "b", " x ", "é", "😀", "ß", "Ab",
           "10", "\u2028x\xa0", "İ", "ǅ", None, True, False]
LITERALS = ["0", "1", "2.5", "(-0)", "1e21", "0.1", "9007199254740993", "'s'", "'a'", "''", "'é'", "'😀'",
            "'\\uffff'", "true", "false", "null", "undefined", "NaN", "Infinity", "(-1)"]
BINARY = ["+", "-", "*", "/", "%", "===", "!==", "<", "<=", ">", ">=", "&&", "||", "??"]
PROPERTIES = ["x", "y", "s", "l", "o", "length", "k"] * 3 + ["constructor", "at", "toFixed"]


def value(rng, depth):
    r = rng.random()
    if depth <= 0 or r < 0.55:
        return rng.uniform(-1e3, 1e3) if r < 0.05 else rng.choice(SCALARS)
    if r < 0.8:
        return [value(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {rng.choice([*KEYS, "k", "length", "constructor", "1"]): value(rng, depth - 1) for _ in range(rng.randrange(4))}


def typed(rng, key, depth):
    """A value of the type its key suggests (x, y numbers; s a string; l a list; o a map), mostly."""
    if rng.random() < 0.1:
        return value(rng, depth)
    if key in ("x", "y"):
        return rng.choice([0, 1, -1, 3, 7, 0.5, -2.5, 0.1, 1e21, -0.0, 2**53, 123.456, rng.uniform(-100, 100)])
    if key == "s":
        return rng.choice(["", "a", "abc", " x ", "é", "😀", "ß", "Ab", "10", "\u2028x\xa0", "x, y"])
    if key == "l":
        kind = rng.choice(["x", "s", "o"])
        return [typed(rng, kind, depth - 1) for _ in range(rng.randrange(4))]
    if depth <= 0:
        return {}
    return {k: typed(rng, k, depth - 1) for k in KEYS if rng.random() < 0.7}


def payload(rng):
    if rng.random() < 0.5:
        return {k: value(rng, 3) for k in KEYS if rng.random() < 0.8}
    return {k: typed(rng, k, 3) for k in KEYS if rng.random() < 0.9}


class Gen:
    def __init__(self, rng):
        self.rng = rng
        self.count = 0

    def fresh(self):
        self.count += 1
        return f"v{self.count}"

    def leaf(self, names):
        rng = self.rng
        r = rng.random()
        if names and r < 0.3:
            return rng.choice(names)
        if r < 0.7:
            path = "a" + "".join(rng.choice([".", "?.", "?."]) + rng.choice(PROPERTIES) for _ in range(rng.randrange(1, 3)))
            return path
        return rng.choice(LITERALS)

    def expr(self, depth, names):
        rng = self.rng
        if depth <= 0 or rng.random() < 0.2:
            return self.leaf(names)
        e = lambda: self.expr(depth - 1, names)  # noqa: E731
        k = rng.randrange(16)
        if k <= 3:
            return f"({e()} {rng.choice(BINARY)} {e()})"
        if k == 4:
            return f"({rng.choice(['!', '-', 'typeof '])}{e()})"
        if k == 5:
            return f"({e()} ? {e()} : {e()})"
        if k == 6:
            return f"({e()}){rng.choice(['.', '?.'])}{rng.choice(PROPERTIES)}"
        if k == 7:
            key = rng.choice(["0", "1", "2", "'x'", "'length'"])
            return f"({e()}){rng.choice(['', '?.'])}[{key}]"
        if k == 8:
            return f"`<${{{e()}}}|${{{e()}}}>`"
        if k == 9:
            return f"[{e()}, {e()}]"
        if k == 10:
            return f"({{ p: {e()}, q: {e()} }})"
        if k == 11:
            return f"{rng.choice(['String', 'Number'])}({e()})"
        if k == 12:
            return f"({e()} {rng.choice(['==', '!='])} null)"
        if k == 13:
            method = rng.choice(["map", "filter", "some", "every", "find", "findIndex"])
            param = self.fresh()
            body = self.expr(depth - 1, [*names, param])
            if rng.random() < 0.3:
                index = self.fresh()
                body = self.expr(depth - 1, [*names, param, index])
                return f"({e()}).{method}(({param}, {index}) => {body})"
            return f"({e()}).{method}({param} => {body})"
        if k == 14:
            method = rng.choice(["includes", "startsWith", "endsWith", "join"])
            return f"({e()}).{method}({e()})"
        method = rng.choice(["toUpperCase", "toLowerCase", "trim", "trimStart", "trimEnd", "join"])
        return f"({e()}).{method}()"

    def program(self):
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            x, s = self.fresh(), self.fresh()
            source = rng.choice(["a.o", "a", "a.o ?? {}", "a.l"])
            c = self.fresh()
            return (f"export default function (a) {{\n  const {{ x: {x}, s: {s}, length: {c} }} = {source};\n"
                    f"  if ({self.expr(2, [x, s, c])}) {{\n    const d = {self.expr(2, [x, s])}\n"
                    f"    return {self.expr(2, [x, s, c, 'd'])}\n  }} else if ({self.expr(1, [x])}) return {self.expr(2, [s])}\n"
                    f"  return {self.expr(2, [x, s, c])}\n}}")
        if r < 0.4:
            c = self.fresh()
            first = self.expr(3, [])
            test, then, last = self.expr(2, [c]), self.expr(2, [c]), self.expr(3, [c])
            return f"export default function (a) {{\n  const {c} = {first}\n  if ({test}) return {then};\n  return {last}\n}}"
        return f"export default (a) => {self.expr(rng.choice([2, 3, 4]), [])}"


def outcome(program, p):
    try:
        return ("ok", program.run_quickjs(p))
    except FlowError as e:
        return ("error", str(e))
    except Exception as e:  # noqa: BLE001 - the QuickJS path's own faults (a lone surrogate returned): deopted
        return ("raised", type(e).__name__)


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def test_random_snippets_answer_as_quickjs(languages):
    rng = random.Random(SEED)
    gen = Gen(rng)
    fast = deopt = syntax = 0
    for _ in range(PROGRAMS):
        code = gen.program()
        try:
            program = languages.compile("javascript", code, timeout=5)
        except CompileError:
            syntax += 1
            continue
        assert program.compiled is not None, code
        for _ in range(PAYLOADS):
            p = payload(rng)
            compiled = program.run_compiled(p)
            expected = outcome(program, p)
            if compiled is DEOPT:
                deopt += 1
            else:
                fast += 1
                assert same(("ok", compiled), expected), (code, p, compiled, expected)
    assert syntax < PROGRAMS // 50
    print(f"compiled answered {fast}, deopted {deopt}")
    assert fast >= 1000 and fast > (fast + deopt) // 5, (fast, deopt)  # the fast path really runs
