"""A CEL expression compiled to one Python function, for the common case; cel-cpp for everything else.

cel-cpp costs ~3 µs per call even for the constant ``1`` and ~15 µs for a small map with one ``map``
macro, most of it converting values into and out of it. For an expression made only of the parts below,
:func:`compile_fast` builds one Python function from cel-cpp's own parse tree (``Expression.serialize``, a
``cel.expr.ParsedExpr``), so precedence and macros are cel-cpp's. The generated source is built from our own
templates only: names, field names and literals of the expression reach it as constants in its namespace,
never as source text.

**The rule that keeps it exact: when unsure, ask cel-cpp.** Every operation checks the types it is given;
anything outside the cases written here (a type it does not handle, an integer overflow, a missing key, a
division by zero, a ``uint``, a comprehension over :data:`MAX_FAST_ITERATIONS` elements …) raises
:class:`Deopt`, and the caller evaluates that call with cel-cpp, which gives the exact answer or error. CEL
has no side effects, so a call that deopts part way has changed nothing. Before it runs, the function checks
that every variable the expression reads holds only values cel-cpp takes as they are (maps with string, int
or bool keys, lists, valid strings, int64/uint64 ints, floats, bools, nulls), since cel-cpp converts — and
rejects — a variable whole; bytes, datetimes, durations, tuples and anything else deopt.

The parts: literals (no ``uint``, no bytes), variables and ``self``, ``a.b``, ``has(a.b)``, ``a[i]``, list
and map literals (string keys), ``+ - * / %``, unary ``-``, ``!``, ``== != < <= > >=``, ``&& ||``, ``? :``,
``in``, ``size``, ``dyn``, ``int``, ``double``, ``string`` (of the exact cases), the strings ``upperAscii``,
``lowerAscii``, ``startsWith``, ``endsWith``, ``contains``, a list of strings' ``join``, and the macros
``all``, ``exists``, ``exists_one``, ``map``, ``filter`` (one variable).

**One difference, on purpose:** a map keeps its order — a map literal its written order, a payload's map its
own — where cel-cpp hands maps back in its hash order, which changes from one process to the next. (A
``map`` or ``filter`` over a map's keys, whose list would show that order, is left to cel-cpp.)
"""

from __future__ import annotations

import math
import operator
import struct
import warnings
from collections.abc import Callable, Iterable
from typing import Any

MAX_FAST_ITERATIONS = 9_999
"""Comprehension elements one call may go through here: cel-cpp's own budget (``cel.MAX_ITERATIONS``), counted as the
sum of the ranges' sizes (so never fewer than cel-cpp would); more, and cel-cpp decides."""

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_U64_END = 2**64
_EXACT_FLOAT = 2**53  # ints up to this size are exact as doubles (mixed int/double compare alike everywhere)


class Deopt(Exception):
    """This call is not one the fast path is sure of: evaluate it with cel-cpp."""


class Unsupported(Exception):
    """The expression has a part the fast path does not compile."""


# --- cel.expr.ParsedExpr, read from protobuf's wire format ----------------------------------------------


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field of one message (varints as ints, others raw)."""
    out: list[tuple[int, int, Any]] = []
    i, n = 0, len(data)
    value: Any
    while i < n:
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise Unsupported(f"protobuf wire type {wire}")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _one(data: bytes) -> dict[int, Any]:
    """A message's fields as number -> value (the last one wins); repeated fields via :func:`_many`."""
    return {number: value for number, _, value in _fields(data)}


def _many(data: bytes, number: int) -> list[Any]:
    return [value for num, _, value in _fields(data) if num == number]


def parse_tree(serialized: bytes) -> tuple[Any, ...]:
    """The expression tree of ``Expression.serialize()`` (an ``Any`` holding a ``cel.expr.ParsedExpr``)."""
    wrapper = _one(serialized)
    if not bytes(wrapper.get(1, b"")).endswith(b"cel.expr.ParsedExpr"):
        raise Unsupported("not a cel.expr.ParsedExpr")
    parsed = _one(wrapper.get(2, b""))
    if 2 not in parsed:
        raise Unsupported("no expression")
    return _expr(parsed[2])


def _expr(data: bytes) -> tuple[Any, ...]:
    """One ``cel.expr.Expr`` as a tuple: ("const", v) ("ident", name) ("select", operand, field, test_only)
    ("call", target | None, function, args) ("list", elements) ("map", entries) ("comp", …)."""
    f = _one(data)
    if 3 in f:
        return ("const", _constant(f[3]))
    if 4 in f:
        return ("ident", _one(f[4]).get(1, b"").decode())
    if 5 in f:
        s = _one(f[5])
        return ("select", _expr(s.get(1, b"")), s.get(2, b"").decode(), bool(s.get(3, 0)))
    if 6 in f:
        c = _one(f[6])
        target = _expr(c[1]) if 1 in c else None
        return ("call", target, c.get(2, b"").decode(), [_expr(a) for a in _many(f[6], 3)])
    if 7 in f:
        if _many(f[7], 2):
            raise Unsupported("optional list elements")
        return ("list", [_expr(e) for e in _many(f[7], 1)])
    if 8 in f:
        s = _one(f[8])
        if s.get(1):
            raise Unsupported("message construction")
        entries = []
        for raw in _many(f[8], 2):
            e = _one(raw)
            if e.get(5) or 2 in e or 3 not in e:
                raise Unsupported("optional or field-keyed entry")
            entries.append((_expr(e[3]), _expr(e.get(4, b""))))
        return ("map", entries)
    if 9 in f:
        c = _one(f[9])
        if c.get(8):
            raise Unsupported("two-variable comprehension")
        return ("comp", c.get(1, b"").decode(), _expr(c.get(2, b"")), c.get(3, b"").decode(), _expr(c.get(4, b"")),
                _expr(c.get(5, b"")), _expr(c.get(6, b"")), _expr(c.get(7, b"")))
    raise Unsupported("an empty expression")


def _constant(data: bytes) -> Any:
    f = _one(data)
    if 1 in f:
        return None
    if 2 in f:
        return bool(f[2])
    if 3 in f:
        v = f[3]
        return v - _U64_END if v > _I64_MAX else v
    if 5 in f:
        return struct.unpack("<d", f[5])[0]
    if 6 in f:
        return bytes(f[6]).decode()
    raise Unsupported("a uint, bytes, duration or timestamp literal")


# --- what cel-cpp takes as it is ------------------------------------------------------------------------


def _valid_text(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode()
    except UnicodeEncodeError:  # a lone surrogate: cel-cpp fails on it
        return False
    return True


def accepts(value: Any) -> bool:
    """Whether cel-cpp takes ``value`` as it is and the fast path reads it the same (see the docstring)."""
    t = type(value)
    if t is str:
        return value.isascii() or _valid_text(value)
    if t is int:
        return _I64_MIN <= value < _U64_END
    if t is float or t is bool or value is None:
        return True
    if t is list:
        return _all_accepted(value)
    if t is dict:
        for k in value:
            tk = type(k)
            if tk is str:
                if not k.isascii() and not _valid_text(k):
                    return False
            elif not (tk is bool or (tk is int and _I64_MIN <= k < _U64_END)):
                return False
        return _all_accepted(value.values())
    return False


def _all_accepted(items: Iterable[Any]) -> bool:
    """:func:`accepts` of each item, the common scalars checked here without a call."""
    for v in items:
        tv = type(v)
        if tv is str:
            if not v.isascii() and not _valid_text(v):
                return False
        elif tv is not float and tv is not bool and not accepts(v):
            return False
    return True


# --- the operations ---------------------------------------------------------------------------------------


def _checked(r: int) -> int:
    if _I64_MIN <= r <= _I64_MAX:
        return r
    raise Deopt


def op_add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is not tb:
        raise Deopt
    if ta is str or ta is float:
        return a + b
    if ta is int and a <= _I64_MAX and b <= _I64_MAX:
        return _checked(a + b)
    if ta is list:  # a new list, and new containers in it: the result holds nothing of the payload's
        return [own(x) for x in a] + [own(x) for x in b]
    raise Deopt


def _arithmetic(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``-`` or ``*``: of two doubles, or of two int64s with the result in range."""

    def apply(a: Any, b: Any) -> Any:
        ta = type(a)
        if ta is type(b):
            if ta is float:
                return fn(a, b)
            if ta is int and a <= _I64_MAX and b <= _I64_MAX:
                return _checked(fn(a, b))
        raise Deopt

    return apply


op_sub = _arithmetic(operator.sub)
op_mul = _arithmetic(operator.mul)


def op_div(a: Any, b: Any) -> Any:
    ta = type(a)
    if ta is not type(b) or not b:
        raise Deopt  # x / 0 is an error for ints and IEEE for doubles: cel-cpp says which
    if ta is float:
        return a / b
    if ta is int and a <= _I64_MAX and b <= _I64_MAX and not (a == _I64_MIN and b == -1):
        q = abs(a) // abs(b)
        return q if (a < 0) == (b < 0) else -q
    raise Deopt


def op_mod(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and b and a <= _I64_MAX and b <= _I64_MAX and a != _I64_MIN:
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    raise Deopt


def op_neg(a: Any) -> Any:
    t = type(a)
    if t is float:
        return -a
    if t is int and _I64_MIN < a <= _I64_MAX:
        return -a
    raise Deopt


def op_not(a: Any) -> bool:
    if type(a) is bool:
        return not a
    raise Deopt


def truth(a: Any) -> bool:
    """A condition's value (``&&``, ``||``, ``? :``): a bool, or cel-cpp decides."""
    if type(a) is bool:
        return a
    raise Deopt


_SCALARS = (str, bool, type(None), float)


def op_eq(a: Any, b: Any) -> bool:
    """CEL's equality for the cases it is plain: same-type scalars, ints with doubles when exact, and
    different scalar types (never equal); lists and maps deopt."""
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int or ta is float or ta is bool or a is None):
        return a == b  # ints: an int and a uint with the same value cannot both exist; NaN != NaN alike
    if (ta is int and tb is float) or (ta is float and tb is int):
        i = a if ta is int else b
        if -_EXACT_FLOAT <= i <= _EXACT_FLOAT:
            return a == b
        raise Deopt
    if (ta in _SCALARS or ta is int) and (tb in _SCALARS or tb is int):
        return False  # heterogeneous equality: 'a' == 1, x == null, true == 1 are false
    raise Deopt


def op_ne(a: Any, b: Any) -> bool:
    return not op_eq(a, b)


def _ordered(a: Any, b: Any) -> None:
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is str or ta is float or ta is bool:
            return
        if ta is int and a <= _I64_MAX and b <= _I64_MAX:
            return
    elif (ta is int and tb is float and -_EXACT_FLOAT <= a <= _EXACT_FLOAT) or (
            ta is float and tb is int and -_EXACT_FLOAT <= b <= _EXACT_FLOAT):
        return
    raise Deopt


def op_lt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return a < b


def op_le(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return a <= b


def op_gt(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return a > b


def op_ge(a: Any, b: Any) -> bool:
    _ordered(a, b)
    return a >= b


def op_in(a: Any, b: Any) -> bool:
    tb = type(b)
    if tb is list:
        return any(op_eq(a, x) for x in b)
    if tb is dict and type(a) is str:
        return a in b
    raise Deopt


def has(x: Any, key: str) -> bool:
    if type(x) is dict:
        return key in x
    raise Deopt


def index(x: Any, i: Any) -> Any:
    t = type(x)
    if t is list and type(i) is int and 0 <= i < len(x):
        return x[i]
    if t is dict and type(i) is str:
        try:
            return x[i]
        except KeyError:
            pass
    raise Deopt


def size(x: Any) -> int:
    t = type(x)
    if t is str or t is list or t is dict:
        return len(x)
    raise Deopt


_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def upper_ascii(s: Any) -> str:
    if type(s) is str:
        return s.upper() if s.isascii() else s.translate(_UPPER)
    raise Deopt


def lower_ascii(s: Any) -> str:
    if type(s) is str:
        return s.lower() if s.isascii() else s.translate(_LOWER)
    raise Deopt


def starts_with(s: Any, p: Any) -> bool:
    if type(s) is str and type(p) is str:
        return s.startswith(p)
    raise Deopt


def ends_with(s: Any, p: Any) -> bool:
    if type(s) is str and type(p) is str:
        return s.endswith(p)
    raise Deopt


def contains(s: Any, p: Any) -> bool:
    if type(s) is str and type(p) is str:
        return p in s
    raise Deopt


def join(items: Any, sep: Any = "") -> str:
    if type(items) is list and type(sep) is str and all(type(x) is str for x in items):
        return sep.join(items)
    raise Deopt


def to_int(x: Any) -> int:
    t = type(x)
    if t is int and x <= _I64_MAX:
        return x
    if t is float and math.isfinite(x) and abs(x) < 2**62:
        return int(x)
    raise Deopt  # strings (cel-cpp's own parser), uints and the edges of the range


def to_double(x: Any) -> float:
    t = type(x)
    if t is float:
        return x
    if t is int and -_EXACT_FLOAT <= x <= _EXACT_FLOAT:
        return float(x)
    raise Deopt


def to_string(x: Any) -> str:
    t = type(x)
    if t is str:
        return x
    if t is bool:
        return "true" if x else "false"
    if t is int and x <= _I64_MAX:
        return str(x)
    raise Deopt  # doubles (cel-cpp's own formatting), bytes, …


def not_strictly_false(x: Any) -> bool:
    if type(x) is bool:
        return x
    raise Deopt


def map_of(entries: list[tuple[Any, Any]]) -> dict[str, Any]:
    """A map literal with computed keys: string keys, none twice (cel-cpp: ``duplicate key in map``)."""
    out: dict[str, Any] = {}
    for k, v in entries:
        if type(k) is not str or k in out:
            raise Deopt
        out[k] = v
    return out


def own(x: Any) -> Any:
    """A value from the payload, as the result holds it: containers copied (cel-cpp's are new)."""
    t = type(x)
    if t is list:
        return [own(v) for v in x]
    if t is dict:
        return {k: own(v) for k, v in x.items()}
    return x


def elements(x: Any, budget: list[int]) -> Any:
    """A comprehension's range: a list, or a map's keys, counted against :data:`MAX_FAST_ITERATIONS`."""
    t = type(x)
    if t is list or t is dict:
        budget[0] += len(x)
        if budget[0] > MAX_FAST_ITERATIONS:
            raise Deopt
        return x if t is list else list(x)
    raise Deopt


def elements_in_order(x: Any, budget: list[int]) -> Any:
    """The range of a comprehension whose answer shows the order (``map``, ``filter``): cel-cpp goes through
    a map's keys in its hash order, so a map of more than one key is cel-cpp's to answer."""
    if type(x) is dict and len(x) > 1:
        raise Deopt
    return elements(x, budget)


def deopt() -> Any:
    raise Deopt


# --- the compiler ---------------------------------------------------------------------------------------

_BINARY = {
    "_+_": "op_add", "_-_": "op_sub", "_*_": "op_mul", "_/_": "op_div", "_%_": "op_mod",
    "_==_": "op_eq", "_!=_": "op_ne", "_<_": "op_lt", "_<=_": "op_le", "_>_": "op_gt", "_>=_": "op_ge",
    "@in": "op_in", "_[_]": "index",
}  # fmt: skip
_UNARY = {"-_": "op_neg", "!_": "op_not", "@not_strictly_false": "not_strictly_false", "size": "size",
          "int": "to_int", "double": "to_double", "string": "to_string"}
_METHODS = {  # member calls: name -> (helper, number of arguments)
    "size": ("size", 0), "upperAscii": ("upper_ascii", 0), "lowerAscii": ("lower_ascii", 0),
    "startsWith": ("starts_with", 1), "endsWith": ("ends_with", 1), "contains": ("contains", 1),
    "join": ("join", (0, 1)),
}
_HELPERS = {name: globals()[name] for name in (
    "op_add", "op_sub", "op_mul", "op_div", "op_mod", "op_neg", "op_not", "op_eq", "op_ne", "op_lt", "op_le",
    "op_gt", "op_ge", "op_in", "has", "index", "size", "upper_ascii", "lower_ascii", "starts_with",
    "ends_with", "contains", "join", "to_int", "to_double", "to_string", "not_strictly_false", "map_of",
    "own", "elements", "elements_in_order", "deopt", "truth", "accepts", "Deopt")}


class _Compiler:
    """Turns a tree into Python source; ``emit`` returns (code, fresh): ``fresh`` when every container in
    the value was built by this call (so it may go into the result without a copy)."""

    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.variables: dict[str, str] = {}  # payload variable -> local name
        self.defs: list[str] = []  # the comprehensions' inner functions, in order of appearance
        self.count = 0

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"k{len(self.constants) - 1}"

    def fresh_name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def emit(self, node: tuple[Any, ...], scope: dict[str, str]) -> tuple[str, bool]:
        kind = node[0]
        if kind == "const":
            return self.constant(node[1]), True
        if kind == "ident":
            name = node[1]
            if name in scope:
                return scope[name], name.startswith("@")  # an accumulator is ours; an element is the payload's
            local = self.variables.get(name)
            if local is None:
                local = self.variables[name] = f"v{len(self.variables)}"
            return local, False
        if kind == "select":
            operand, _ = self.emit(node[1], scope)
            if node[3]:
                return f"has({operand}, {self.constant(node[2])})", True
            # indexing with a string: a map's key, else KeyError or TypeError (caught: Deopt), as ``select``
            return f"{operand}[{self.constant(node[2])}]", False
        if kind == "list":
            items = [self.value(e, scope) for e in node[1]]
            return "[" + ", ".join(items) + "]", True
        if kind == "map":
            keys = [k for k, _ in node[1]]
            if all(k[0] == "const" and type(k[1]) is str for k in keys):
                names = [k[1] for k in keys]
                if len(set(names)) != len(names):
                    raise Unsupported("a map literal with a key twice")
                parts = [f"{self.constant(k)}: {self.value(v, scope)}" for k, (_, v) in zip(names, node[1], strict=True)]
                return "{" + ", ".join(parts) + "}", True
            pairs = [f"({self.emit(k, scope)[0]}, {self.value(v, scope)})" for k, v in node[1]]
            return "map_of([" + ", ".join(pairs) + "])", True
        if kind == "call":
            return self.call(node, scope)
        if kind == "comp":
            return self.comprehension(node, scope)
        raise Unsupported(kind)

    def value(self, node: tuple[Any, ...], scope: dict[str, str]) -> str:
        """``node`` as it goes into the result: a payload's container is copied."""
        code, fresh = self.emit(node, scope)
        return code if fresh else f"own({code})"

    def call(self, node: tuple[Any, ...], scope: dict[str, str]) -> tuple[str, bool]:
        _, target, function, args = node
        if target is not None:
            helper, arity = _METHODS.get(function, (None, -1))
            if helper is None or len(args) not in (arity if isinstance(arity, tuple) else (arity,)):
                raise Unsupported(f"method {function}")
            code = [self.emit(target, scope)[0]] + [self.emit(a, scope)[0] for a in args]
            return f"{helper}({', '.join(code)})", True
        n = len(args)
        if function in ("_&&_", "_||_") and n >= 2:
            codes = [f"truth({self.emit(a, scope)[0]})" for a in args]
            joined = codes[-1]
            for c in reversed(codes[:-1]):
                joined = f"({joined} if {c} else False)" if function == "_&&_" else f"(True if {c} else {joined})"
            return joined, True
        if function == "_?_:_" and n == 3:
            cond = self.emit(args[0], scope)[0]
            (yes, fy), (no, fn) = self.emit(args[1], scope), self.emit(args[2], scope)
            return f"({yes} if truth({cond}) else {no})", fy and fn
        if function in _BINARY and n == 2:
            a, b = (self.emit(x, scope)[0] for x in args)
            return f"{_BINARY[function]}({a}, {b})", function != "_[_]"  # ``a[i]`` is the payload's
        if function in _UNARY and n == 1:
            return f"{_UNARY[function]}({self.emit(args[0], scope)[0]})", True
        if function == "dyn" and n == 1:
            return self.emit(args[0], scope)
        raise Unsupported(f"function {function}")

    def comprehension(self, node: tuple[Any, ...], scope: dict[str, str]) -> tuple[str, bool]:
        _, var, rng, accu, init, cond, step, result = node
        range_code, _ = self.emit(rng, scope)  # the range and the start are evaluated where the call is
        init_code, init_fresh = self.emit(init, scope)
        outer_defs, self.defs = self.defs, []  # comprehensions inside this one are defined inside its function
        inner = dict(scope)
        v, a = self.fresh_name("e"), self.fresh_name("a")
        inner[var] = v
        inner[accu] = a
        # ``map``/``filter`` start from [] and append; other steps are expressions of the accumulator
        step_code, step_fresh = self._step(step, inner, accu) if init == ("list", []) else self.emit(step, inner)
        cond_code = None if cond == ("const", True) else f"truth({self.emit(cond, inner)[0]})"
        result_code, result_fresh = self.emit(result, {**scope, accu: a})  # the element is out of scope
        inner_defs, self.defs = self.defs, outer_defs
        name = self.fresh_name("c")
        lines = [f"def {name}():"]
        for d in inner_defs:
            lines.extend("    " + line for line in d.splitlines())
        walk = "elements_in_order" if init[0] == "list" else "elements"  # a list built in the range's order
        lines += [f"    {a} = {init_code}", f"    for {v} in {walk}({range_code}, budget):"]
        if cond_code is not None:
            lines.append(f"        if not {cond_code}: break")
        lines += [f"        {a} = {step_code}", f"    return {result_code}"]
        self.defs.append("\n".join(lines))
        return f"{name}()", init_fresh and step_fresh and result_fresh

    def _step(self, step: tuple[Any, ...], scope: dict[str, str], accu: str) -> tuple[str, bool]:
        """A ``map``/``filter`` step, ``@result + [x]`` (maybe under ``? :``), with ``accu`` the accumulator's
        name: appended in place, since the accumulator is a list this call made and nothing else holds."""
        local = scope[accu]
        if step[0] == "call" and step[1] is None and step[2] == "_+_" and len(step[3]) == 2 \
                and step[3][0] == ("ident", accu) and step[3][1][0] == "list":
            items = [self.value(e, scope) for e in step[3][1][1]]
            if len(items) == 1:
                return f"({local}.append({items[0]}) or {local})", True
            return f"({local}.extend([{', '.join(items)}]) or {local})", True
        if step[0] == "call" and step[1] is None and step[2] == "_?_:_" and len(step[3]) == 3:
            cond = self.emit(step[3][0], scope)[0]
            yes, fy = self._step(step[3][1], scope, accu)
            no, fn = self._step(step[3][2], scope, accu)
            return f"({yes} if truth({cond}) else {no})", fy and fn
        if step == ("ident", accu):
            return local, True
        return self.emit(step, scope)


FastFunction = Callable[[Any], Any]


def compile_fast(serialized: bytes, names: frozenset[str] | None) -> FastFunction | None:
    """A Python function computing the expression, raising :class:`Deopt` where cel-cpp must; None when the
    expression has a part it does not compile. ``names``: the payload keys cel-cpp is given (None: all)."""
    try:
        tree = parse_tree(serialized)
        compiler = _Compiler()
        body, fresh = compiler.emit(tree, {})
    except (Unsupported, IndexError, UnicodeDecodeError, struct.error, RecursionError):
        return None
    if not fresh:
        body = f"own({body})"
    lines = ["def fast(payload):"]
    variables = compiler.variables
    # cel-cpp converts, and may reject, every variable it is given (CelProgram._eval): check the same ones
    lines.append("    if type(payload) is dict:")
    lines.append("        pass  # (when no names are checked)")
    if names is None:  # all of the payload's keys, and ``self``
        lines.append("        if not accepts(payload) or not all(type(k) is str for k in payload): raise Deopt")
    else:
        for name in sorted(names):
            key = compiler.constant(name)
            lines.append(f"        if {key} in payload and not accepts(payload[{key}]): raise Deopt")
    if set(variables) - {"self"}:
        lines.append("    else: raise Deopt  # only ``self`` names a payload that is not a map")
    else:
        lines.append("    elif not accepts(payload): raise Deopt")
    for name, local in variables.items():
        if name == "self":
            lines.append(f"    {local} = payload")
        else:
            key = compiler.constant(name)
            lines.append(f"    {local} = payload[{key}] if {key} in payload else deopt()")
    lines.append("    try:")
    if compiler.defs:
        lines.append("        budget = [0]")
        for d in compiler.defs:
            lines.extend("        " + line for line in d.splitlines())
    lines.append(f"        return {body}")
    lines.append("    except (KeyError, TypeError): raise Deopt from None  # a field that is not there")
    namespace: dict[str, Any] = dict(_HELPERS)
    namespace.update((f"k{i}", value) for i, value in enumerate(compiler.constants))
    source = "\n".join(lines)
    with warnings.catch_warnings():  # CPython's hints on odd-looking code are for people, not for this
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            code = compile(source, "<cel fast path>", "exec")
        except (SyntaxError, RecursionError, MemoryError):  # nested deeper than CPython's parser goes
            return None
        exec(code, namespace)  # noqa: S102 - our own templates only
    fn: FastFunction = namespace["fast"]
    fn.__doc__ = source  # what it runs, for whoever debugs it
    return fn
