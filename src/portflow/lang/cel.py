"""``cel``: Common Expression Language, uniflow's mode, on cel-expr-python (cel-cpp).

* **Parse only.** Expressions are compiled once with ``disable_check=True`` and no declared variables;
  identifiers are resolved at evaluation.
* **Variables.** If the payload is a map, each of its keys is a top-level variable and ``self`` is the
  whole payload (``x + 1`` and ``self.x + 1`` both work on ``{"x": 1}``); otherwise only ``self`` is set.
  A key named ``self`` is shadowed by the payload itself.
* **Extensions.** ``strings``, ``math`` and ``encoders`` (bundled with cel-cpp), plus ``lists`` and ``sets``
  written here as custom functions: ``lists.range(n)``, ``l.flatten()``, ``l.flatten(depth)``, ``l.sort()``,
  ``l.distinct()``, ``l.slice(start, end)``, ``sets.contains(a, b)``,
  ``sets.equivalent(a, b)``, ``sets.intersects(a, b)``. ``math`` and ``encoders`` are each a native library of
  some 2.6 MB resident, so they are loaded (into a second environment) only for an expression that names
  ``math`` or ``base64`` (:func:`needs_all`); every other expression compiles in the environment without them.
* **Values.** In: ``datetime`` becomes a ``timestamp`` (a naive datetime is taken as UTC) and ``timedelta`` a
  ``duration``; tuples become lists. Out: maps become dicts, lists lists, ``bytes`` bytes, ``null`` None,
  timestamps aware datetimes, durations timedeltas, ``uint`` int. The conversion of the payload only happens
  when cel-cpp rejects it (a payload without datetimes costs nothing extra).
* **Errors.** An evaluation error (``NOT_FOUND: Key not found in map : "b"``) becomes a FlowError with the
  status code dropped (``Key not found in map: "b"``); a syntax error is a CompileError with line:column.
* **Bounds.** An expression is checked once, when it is compiled (:func:`plan`). One whose cost is
  bounded by the sizes of the expression and the payload — only functions whose time and output are linear
  in their input (:data:`LINEAR_FUNCTIONS`), at most :data:`MAX_INLINE_PLUS` ``+`` operators, and
  comprehensions only of the form ``PATH.m(v, BODY)`` with a body that reads nothing but ``v`` — runs in
  this process, inline on the loop thread, its Python helpers watched like Python snippets
  (:mod:`portflow.lang._runtime`). cel-cpp's comprehensions take time quadratic in their range, so each
  call first checks the size of every range at its path in the payload; over :data:`MAX_INLINE_RANGE`, that
  call goes to the subprocess. Every other expression runs in a killable subprocess (the pool of
  ``python-isolated``, :mod:`portflow.lang._isolated`: address-space limit, CPU limit, killed at its
  ``timeout``), because cel-cpp cannot be interrupted: its comprehension budget (:data:`MAX_ITERATIONS`
  iterations per evaluation, fixed in cel-expr-python) bounds the loop count but not the work or memory of
  each iteration, and ``replace`` can multiply a string's size per call. Values cross to that subprocess as
  msgpack: a duration or a naive datetime arrives there as its ISO 8601 string, and a duration result comes
  back as one.
* **Only what is read is converted.** cel-cpp converts every variable it is given, so an in-process call
  passes only the payload's keys the expression names (all of them when it reads ``self``).
* **The fast path.** An in-process expression made only of the common parts (literals, variables, fields,
  arithmetic, comparisons, logic, ``size``, a few string functions, the one-variable macros) is also compiled
  to one Python function (:mod:`portflow.lang.cel_fast`), which checks every type it meets and hands the
  call to cel-cpp whenever it is not sure — so the answer, or the error, is cel-cpp's either way. Its
  comprehensions are linear, so a range over :data:`MAX_INLINE_RANGE` stays in-process on that path. It
  runs under the same inline slice; one that overruns it :data:`~portflow.lang._runtime.DEMOTE_AFTER`
  times, or mostly hands its calls to cel-cpp (:class:`~portflow.lang._runtime.FastPathTally`), is dropped,
  and cel-cpp alone answers after that.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings
from google.protobuf import duration_pb2, timestamp_pb2

from ..errors import CompileError, FlowError, FlowTimeout
from . import _isolated
from ._runtime import DEMOTE_AFTER, FastPathTally, GuardedProgram, Interrupted, run_watched, timeout_message
from .cel_fast import compile_fast

MAX_RANGE = 1_000_000
"""The largest ``n`` that ``lists.range(n)`` accepts."""

MAX_ITERATIONS = 9_999
"""Comprehension iterations cel-cpp allows per evaluation (cel-expr-python's built-in budget; not a setting)."""

MAX_INLINE_PLUS = 32
"""``+`` operators an expression may have and still run in-process (each may copy its operands)."""

LINEAR_FUNCTIONS = frozenset(
    {
        "size", "has", "int", "uint", "double", "string", "bytes", "bool", "type", "dyn", "duration",
        "timestamp", "matches", "contains", "startsWith", "endsWith", "getFullYear", "getMonth",
        "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek", "getHours", "getMinutes", "getSeconds",
        "getMilliseconds", "charAt", "indexOf", "lastIndexOf", "lowerAscii", "upperAscii", "trim",
        "substring", "split", "join", "reverse", "quote", "base64.encode", "base64.decode", "math.greatest",
        "math.least", "math.abs", "math.sign", "math.ceil", "math.floor", "math.round", "math.trunc",
        "math.isInf", "math.isNaN", "math.isFinite", "math.sqrt", "math.bitAnd", "math.bitOr",
        "math.bitXor", "math.bitNot", "lists.range", "flatten", "sort", "distinct", "slice",
        "sets.contains", "sets.equivalent", "sets.intersects",
    }
)  # fmt: skip
"""Functions an in-process expression may call: time and output linear in their input (the Python helpers
are interrupted by the watchdog)."""

_T = cel.Type
_ERROR = _T.ERROR
_UTC = _dt.UTC


# --- lists and sets ------------------------------------------------------------------------------------


def _range(n: int) -> list[int]:
    if n > MAX_RANGE:
        raise ValueError(f"lists.range: {n} is more than {MAX_RANGE}")
    return list(range(max(0, n)))


def _flatten(items: list[Any], depth: int = 1) -> list[Any]:
    if depth < 0:
        raise ValueError("flatten: the depth must be positive")
    out: list[Any] = []
    for item in items:
        if isinstance(item, list) and depth > 0:
            out.extend(_flatten(item, depth - 1) if depth > 1 else item)
        else:
            out.append(item)
    return out


def _sort(items: list[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        raise ValueError("sort: the list holds values that cannot be compared") from None


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _slice(items: list[Any], start: int, end: int) -> list[Any]:
    if start < 0 or end < start or end > len(items):
        raise ValueError(f"slice: invalid range {start}..{end} of a list of {len(items)}")
    return items[start:end]


def _contains(a: list[Any], b: list[Any]) -> bool:
    return all(x in a for x in b)


def _equivalent(a: list[Any], b: list[Any]) -> bool:
    return all(x in a for x in b) and all(x in b for x in a)


def _intersects(a: list[Any], b: list[Any]) -> bool:
    return any(x in a for x in b)


def _functions() -> list[cel.FunctionDecl]:
    L, I, B = _T.LIST, _T.INT, _T.BOOL  # noqa: N806, E741 - short type names keep the tables readable

    def decl(name: str, *overloads: tuple[str, Any, list[Any], bool, Callable[..., Any]]) -> cel.FunctionDecl:
        return cel.FunctionDecl(
            name, [cel.Overload(oid, ret, params, is_member=member, impl=fn) for oid, ret, params, member, fn in overloads]
        )

    return [
        decl("lists.range", ("lists_range_int", L, [I], False, _range)),
        decl(
            "flatten",
            ("list_flatten", L, [L], True, _flatten),
            ("list_flatten_int", L, [L, I], True, _flatten),
        ),
        decl("sort", ("list_sort", L, [L], True, _sort)),
        decl("distinct", ("list_distinct", L, [L], True, _distinct)),
        decl("slice", ("list_slice_int_int", L, [L, I, I], True, _slice)),
        decl("sets.contains", ("sets_contains_list_list", B, [L, L], False, _contains)),
        decl("sets.equivalent", ("sets_equivalent_list_list", B, [L, L], False, _equivalent)),
        decl("sets.intersects", ("sets_intersects_list_list", B, [L, L], False, _intersects)),
    ]


# --- values --------------------------------------------------------------------------------------------


def _to_cel(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {k: _to_cel(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_to_cel(v) for v in value]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(value)
        return ts
    if isinstance(value, _dt.timedelta):
        d = duration_pb2.Duration()
        d.FromTimedelta(value)
        return d
    if isinstance(value, _dt.date):
        return _to_cel(_dt.datetime(value.year, value.month, value.day, tzinfo=_UTC))
    if isinstance(value, dict):
        return {k: _to_cel(v) for k, v in value.items()}
    if isinstance(value, BaseException):  # an error payload reads as its message
        return str(value)
    return value


def _from_cel(value: Any) -> Any:
    t = type(value)
    if t is dict:
        return {_from_cel(k): _from_cel(v) for k, v in value.items()}
    if t is list:
        return [_from_cel(v) for v in value]
    if t is bytearray:
        return bytes(value)
    return value


_CODE = re.compile(r"^[A-Z_]+: ")
_NO_VALUE = re.compile(r'^No value with name (".*") found in Activation$')


def _readable(message: str) -> str:
    message = message.strip()
    message = _CODE.sub("", message, count=1)
    message = re.sub(r"\s*\[[A-Z_]+\]$", "", message)
    message = message.replace(" : ", ": ")
    m = _NO_VALUE.match(message)
    if m:
        return f"no variable named {m.group(1)}"
    return message


def _compile_message(message: str) -> str:
    """``INVALID_ARGUMENT: ERROR: <input>:1:4: Syntax error: ... | 1 + | ...^`` -> one line with 1:4."""
    message = _readable(message)
    first = message.splitlines()[0] if message else "invalid expression"
    m = re.search(r"<input>:(\d+):(\d+): (.*)", first)
    if m:
        return f"{m.group(3)} at {m.group(1)}:{m.group(2)}"
    return first.removeprefix("ERROR: ")


# --- bounds --------------------------------------------------------------------------------------------

_QUOTED = ("'''[\\s\\S]*?'''", '"""[\\s\\S]*?"""', r"'(?:\\.|[^'\\\n])*'", r'"(?:\\.|[^"\\\n])*"')
_RAW = ("'''[\\s\\S]*?'''", '"""[\\s\\S]*?"""', r"'[^'\n]*'", r'"[^"\n]*"')  # no escapes in raw strings
_TOKEN = re.compile(
    r"(?P<skip>\s+|//[^\n]*)"
    r"|(?P<raw>(?:[bB]?[rR]|[rR][bB])(?:" + "|".join(_RAW) + r"))"
    r"|(?P<string>[bB]?(?:" + "|".join(_QUOTED) + r"))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<number>\d[\w.]*)"
    r"|(?P<op>[\s\S])"
)


COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
"""Macros that may run in-process under the rules of :func:`plan` (their range checked on every call)."""

MAX_INLINE_RANGE = 64
"""Elements a comprehension's range may have for the call to run in-process (cel-cpp's comprehensions take
time quadratic in the range: ~0.1 s for 1,000 elements); a larger range sends the call to the child."""

MAX_INLINE_COMPREHENSIONS = 4
"""Comprehensions an in-process expression may have (none inside another)."""

_LITERALS = frozenset({"true", "false", "null"})
_AFTER_VALUE = frozenset({")", "]", "}"})


class Plan:
    """How an expression may run in-process: the top-level variables it reads (``None``: it reads ``self``
    or something unclear, so every key is passed) and the paths of its comprehensions' ranges, whose size
    is checked on every call."""

    __slots__ = ("names", "ranges")

    def __init__(self, names: frozenset[str] | None, ranges: tuple[tuple[str, ...], ...]) -> None:
        self.names = names
        self.ranges = ranges


def _tokens(code: str) -> list[tuple[str, str]]:
    return [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(code) if m.lastgroup != "skip"]


def _closing(tokens: list[tuple[str, str]], start: int) -> int:
    """The index of the ``)`` closing the ``(`` at ``start`` (``len(tokens)`` when unbalanced)."""
    depth = 0
    for i in range(start, len(tokens)):
        kind, text = tokens[i]
        if kind == "op" and text in "([{":
            depth += 1
        elif kind == "op" and text in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens)


def plan(code: str) -> Plan | None:
    """Whether ``code`` may run in-process (``None``: never; see the module docstring), and how.

    In-process: only functions of :data:`LINEAR_FUNCTIONS`, at most :data:`MAX_INLINE_PLUS` ``+``, and at
    most :data:`MAX_INLINE_COMPREHENSIONS` comprehensions (:data:`COMPREHENSIONS`) of the form
    ``PATH.m(v, BODY)``: the range a plain path of the payload (``body.tags``, ``self.items``), whose size is
    checked against :data:`MAX_INLINE_RANGE` on every call, and a body that reads only its own variable,
    literals and linear functions (no other variable, no comprehension, no ``lists.range``), so that its
    work per element is bounded by the element. Anything unclear is not in-process.
    """
    tokens = _tokens(code)
    plus = sum(1 for kind, text in tokens if kind == "op" and text == "+")
    if plus > MAX_INLINE_PLUS:
        return None
    names: set[str] | None = set()
    ranges: list[tuple[str, ...]] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind != "name":
            i += 1
            continue
        parts = tuple(re.split(r"\s*\.\s*", text))
        member = i > 0 and tokens[i - 1] == ("op", ".") and i > 1 and (
            tokens[i - 2][0] in ("name", "string", "raw", "number") or tokens[i - 2][1] in _AFTER_VALUE)
        call = i + 1 < len(tokens) and tokens[i + 1] == ("op", "(")
        if call and parts[-1] in COMPREHENSIONS and len(parts) > 1 and not member:
            end = _closing(tokens, i + 1)
            body = tokens[i + 2:end]
            if (len(ranges) >= MAX_INLINE_COMPREHENSIONS or len(body) < 3 or body[0][0] != "name"
                    or "." in body[0][1] or body[1] != ("op", ",") or not _body_is_bounded(body[0][1], body[2:])):
                return None
            ranges.append(parts[:-1])
            if names is not None:
                if parts[0] == "self":
                    names = None
                else:
                    names.add(parts[0])
            i = end + 1
            continue
        if call and ".".join(parts) not in LINEAR_FUNCTIONS and ".".join(parts[-2:]) not in LINEAR_FUNCTIONS \
                    and parts[-1] not in LINEAR_FUNCTIONS:
            return None
        if not member and names is not None and parts[0] not in _LITERALS:
            if parts[0] == "self":
                names = None
            elif not (call and len(parts) == 1) and not (call and ".".join(parts) in LINEAR_FUNCTIONS):
                names.add(parts[0])
        i += 1
    return Plan(frozenset(names) if names is not None else None, tuple(ranges))


def _body_is_bounded(var: str, body: list[tuple[str, str]]) -> bool:
    """A comprehension body (after ``v,``) that reads only ``v``, literals and linear functions."""
    for j, (kind, text) in enumerate(body):
        if kind != "name":
            continue
        parts = re.split(r"\s*\.\s*", text)
        member = j > 0 and body[j - 1] == ("op", ".")
        call = j + 1 < len(body) and body[j + 1] == ("op", "(")
        if call:
            name = ".".join(parts)
            if parts[-1] in COMPREHENSIONS or "lists.range" in (name, ".".join(parts[-2:])):
                return False
            if name not in LINEAR_FUNCTIONS and ".".join(parts[-2:]) not in LINEAR_FUNCTIONS \
                    and parts[-1] not in LINEAR_FUNCTIONS:
                return False
            if len(parts) == 1 or member or name in LINEAR_FUNCTIONS:
                continue  # a global function (size(v), base64.encode(v)) or a method of a value already checked
        if member or parts[0] in _LITERALS:
            continue
        if parts[0] != var:
            return False
    return True


def is_linear(code: str) -> bool:
    """Whether ``code`` may run in-process (see :func:`plan`)."""
    return plan(code) is not None


def _range_size(payload: Any, path: tuple[str, ...]) -> int:
    """The size of the value at ``path`` in the payload (``-1``: not a plain path of maps to a list/map)."""
    value = payload
    for k, key in enumerate(path):
        if k == 0 and key == "self":
            continue
        if type(value) is not dict or key not in value:
            return -1
        value = value[key]
    return len(value) if type(value) in (list, dict) else -1


# --- the program ---------------------------------------------------------------------------------------


class CelProgram(GuardedProgram):
    __slots__ = ("expression", "code", "names", "ranges", "fallback", "fast", "fast_strikes", "tally")

    def __init__(self, expression: Any, code: str, timeout: float | None, plan: Plan | None = None) -> None:
        super().__init__(timeout)
        self.expression = expression
        self.code = code
        #: The top-level variables the expression reads (None: all of them), so that only those are converted.
        self.names = plan.names if plan is not None else None
        #: Paths of the comprehensions' ranges; a call with one larger than MAX_INLINE_RANGE runs in a child.
        self.ranges = plan.ranges if plan is not None else ()
        self.fallback: IsolatedCelProgram | None = IsolatedCelProgram(code, timeout) if self.ranges else None
        #: The expression compiled to Python (:mod:`portflow.lang.cel_fast`), for an in-process plan.
        self.fast = compile_fast(expression.serialize(), self.names) if plan is not None else None
        self.fast_strikes = 0
        self.tally = FastPathTally()  # calls the fast path answered / handed to cel-cpp

    def call(self, payload: Any) -> Any:
        fast = self.fast
        if fast is not None and not self.demoted:
            try:
                result = run_watched(fast, payload, self.slice, cpu=True)
            except Interrupted:  # slow in Python too: after a few, cel-cpp alone
                self.fast_strikes += 1
                if self.fast_strikes >= DEMOTE_AFTER:
                    self.fast = None
            except Exception:  # noqa: BLE001 - Deopt, or anything unforeseen: cel-cpp gives the exact answer
                if self.tally.deopted():  # mostly handed back: it only costs
                    self.fast = None
            else:
                self.tally.answered += 1
                return result
        if self.fallback is not None:
            for path in self.ranges:
                if not 0 <= _range_size(payload, path) <= MAX_INLINE_RANGE:
                    return self.fallback(payload)
        return super().call(payload)

    def _eval(self, payload: Any, converted: bool = False) -> Any:
        if type(payload) is dict:
            names = self.names
            if names is None:
                data = {**payload, "self": payload}
            else:  # only what the expression reads: cel-cpp converts every value it is given
                data = {k: payload[k] for k in names if k in payload}
        else:
            data = {"self": payload}
        try:
            value = self.expression.eval(data=data)
        except RuntimeError as e:
            raise FlowError(_readable(str(e))) from None
        except TypeError:  # cel-expr-python refuses the variables themselves: a top-level key not a string
            raise FlowError("cel: the payload's keys must all be strings to be variables") from None
        result = value.plain_value()
        t = type(result)
        if t is str:
            if value.type() == _ERROR:
                if not converted and "Non-CEL value type" in result:
                    return self._eval(_to_cel(payload), True)
                raise FlowError(_readable(result))
            return result
        if t is dict or t is list or t is bytearray:
            return _from_cel(result)
        return result

    def run_inline(self, payload: Any) -> Any:
        return run_watched(self._eval, payload, self.slice, cpu=True)

    def run_worker(self, payload: Any) -> Any:
        try:
            return run_watched(self._eval, payload, self.timeout)
        except Interrupted:
            raise FlowTimeout(timeout_message(self.timeout)) from None

    def __repr__(self) -> str:
        return f"CelProgram({self.code!r})"


class IsolatedCelProgram(_isolated.Program):
    """A non-linear expression, evaluated in a killable child (see the module docstring)."""

    __slots__ = ()

    def __init__(self, code: str, timeout: float | None) -> None:
        super().__init__(code, timeout, _POOL, "cel")


#: The CEL children (started on first use, one at a time up to WORKERS).
_POOL = _isolated.Pool(_isolated.WORKERS, _isolated.child_argv("portflow.lang.cel"))


def serve_isolated(memory: int) -> None:  # the child: python -I -c "...; serve_isolated(MEMORY)"
    """Run in a CEL child: evaluate non-linear expressions (the parent kills it at the timeout)."""

    language = Cel()
    cache: dict[str, CelProgram] = {}

    def run(key: str, code: str, payload: Any) -> Any:
        program = cache.get(key)
        if program is None:
            program = cache[key] = CelProgram(language.parse(code), code, None)
        return program._eval(payload)  # noqa: SLF001 - the child evaluates inline, never recursing into a child

    _isolated.serve(run, memory)


def needs_all(code: str) -> bool:
    """Whether ``code`` names ``math`` or ``base64`` (the namespaces of the ``math`` and ``encoders``
    extensions) anywhere outside strings and comments; a variable of that name counts too (harmless)."""
    return any(kind == "name" and re.split(r"\s*\.\s*", text, maxsplit=1)[0] in ("math", "base64")
               for kind, text in _tokens(code))


class Cel:
    name = "cel"

    def __init__(self) -> None:
        self.env = cel.NewEnv(extensions=[ext_strings.ExtStrings()], functions=_functions())
        self._full: Any = None

    def parse(self, code: str) -> Any:
        """``code`` compiled (parse only) in the environment it needs; ``RuntimeError`` when it does not parse."""
        env = self.env
        if needs_all(code):
            if self._full is None:
                from cel_expr_python.ext import ext_encoders, ext_math

                self._full = cel.NewEnv(
                    extensions=[ext_strings.ExtStrings(), ext_math.ExtMath(), ext_encoders.ExtEncoders()],
                    functions=_functions(),
                )
            env = self._full
        return env.compile(code, disable_check=True)

    def compile(self, code: str, *, timeout: float | None = None) -> CelProgram | IsolatedCelProgram:
        try:
            expression = self.parse(code)
        except RuntimeError as e:
            raise CompileError(f"cel: {_compile_message(str(e))}") from None
        how = plan(code)
        if how is None:
            return IsolatedCelProgram(code, timeout)
        return CelProgram(expression, code, timeout, how)
