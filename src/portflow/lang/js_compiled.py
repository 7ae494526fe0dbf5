"""A compiled fast path for small pure JavaScript snippets: the function made Python once, QuickJS on doubt.

:func:`compile` reads a snippet's whole module; when it is one default-exported function written in the
subset below, it builds a Python function (generated from our own syntax tree: every name in the generated
text is ours, every literal of the snippet is a constant handed in beside it, never text that is run) that
computes what QuickJS would, followed by the JSON crossing back. Anything else in the module and there is
no fast path (``None``): the subset is checked at compile time and fails closed.

**The subset.** The module is exactly ``export default function [name](p) {BODY}``, ``export default (p) =>
{BODY}`` / ``(p) => EXPR`` / ``p => EXPR``, or the same after ``module.exports =`` / ``exports.default =``;
``p`` is one name, an object pattern of names (``({ body, query: q })``) or nothing. Comments are skipped.

- BODY: ``const``/``let`` declarations of a name or an object pattern of names with an initializer (never
  reassigned: there is no assignment), ``if (COND) … else …`` whose branches are ``return EXPR;`` or a block
  of the same, and ``return EXPR;`` (falling off the end returns undefined). A name must be declared
  before its use and never shadows another (so JavaScript's temporal dead zone never differs); semicolons
  may be left out only before ``}`` or a line break.
- EXPR: number (decimal), string and template literals (simple escapes; ``${}`` substitutions), ``true``,
  ``false``, ``null``, ``undefined``, ``NaN``, ``Infinity``; declared names; ``a.b``, ``a?.b``, ``a["k"]``,
  ``a[0]`` (literal keys and indices only); array literals; object literals with name or string keys and
  shorthand (no key that looks like an array index, no ``__proto__``, no duplicate); ``+ - * / %``,
  unary ``- ! typeof``; ``=== !== < <= > >=``; ``== null`` / ``!= null`` (against a literal
  ``null``/``undefined`` only); ``&& || ??``; ``c ? a : b``; ``String(x)``, ``Number(x)``; methods of
  arrays ``map filter some every find findIndex`` (with an arrow ``x => EXPR`` or ``(x, i) => EXPR``),
  ``includes join``, and of strings ``toUpperCase toLowerCase trim trimStart trimEnd includes startsWith
  endsWith``. No regex literal, assignment, loop, ``this``, ``new``, global (other than the few above),
  call of anything else, spread, or computed key.

**Values** are what the snippet would see after our JSON crossing: the runner hands :class:`Compiled` the
payload encoded and decoded by msgspec (so bytes, datetimes and errors are already strings, non-string
keys strings), and JavaScript values are modelled as: ``undefined`` -> :data:`UNDEFINED`, null -> None,
booleans, numbers -> int or float (all arithmetic is on floats, IEEE doubles as in JavaScript; an int
beyond 2**53 would have lost precision in JavaScript: any use of it deopts), strings -> str (JavaScript
counts and compares UTF-16 units: done so), arrays -> list, objects -> dict. The result crosses back as
JSON would: an integral number as an int, NaN/Infinity as None, undefined in an object dropped and in an
array None.

A missing key reads undefined, and so does a property of a string, number, boolean or array that its
prototype chain does not name (the names are read from QuickJS once); ``.length`` of an array or string
is its length.

**Deopt.** Whatever the compiled code is not sure to compute exactly — a property of null (a TypeError,
whose message QuickJS words), a missing key its prototype names (``toString``, ``map``), an index-like key
of a string or an array or in a result (JavaScript orders those first), a sum of a string and an object,
``+`` or ``<`` across types, an integral number printed beyond 2**53 (the float ones print as JavaScript
prints them), a non-ASCII string upper-cased or indexed, a method called on something of another type, a
string longer than :data:`STRING_LIMIT`, a result bigger than :data:`RESULT_LIMIT`, any Python exception
at all — raises inside, and the call answers :data:`DEOPT`: the caller then runs the same call on QuickJS,
which gives the exact answer or error. The subset has no side effects, no globals and no mutation, so
running it again there is always safe.

**Time.** The generated code is plain Python: the caller runs it under :mod:`._runtime`'s watchdog like a
Python snippet (a ``map`` over a big list is how it can be slow). Its speed is not QuickJS's, so a call
that QuickJS finishes just inside its timeout may time out here, or the other way round.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

__all__ = ["compile", "Compiled", "DEOPT", "UNDEFINED", "Deopt", "STRING_LIMIT", "RESULT_LIMIT"]

STRING_LIMIT = 1 << 20
"""Characters a string the compiled code builds may have; a longer one deopts (QuickJS has a memory limit)."""

RESULT_LIMIT = 1 << 21
"""Characters and items a result may hold (counting each string's length and each list's and map's size, plus
one for each list and map)."""

_SAFE = 2**53  # beyond it, an integer is not exact in a double
_NSAFE = -_SAFE
_SAFE_F, _NSAFE_F = float(_SAFE), float(_NSAFE)  # the same bounds for floats (a float against a big int is slow)


class _Undefined:
    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        raise TypeError("JavaScript truthiness is _truthy's")  # a slip in this module deopts, never lies


class _Deopted:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DEOPT"


UNDEFINED: Any = _Undefined()
"""JavaScript's ``undefined`` inside compiled code."""

DEOPT: Any = _Deopted()
"""What a compiled call answers when QuickJS must answer instead."""


class Deopt(Exception):
    """Raised inside compiled code: this call is not one it computes exactly."""


class Unsupported(Exception):
    """The module is not in the subset (never leaves :func:`compile`)."""


# --- tokens ---------------------------------------------------------------------------------------------

_PUNCTUATORS = sorted([
    "{", "}", "(", ")", "[", "]", ".", "...", ";", ",", "<", ">", "<=", ">=", "==", "!=", "===", "!==", "+",
    "-", "*", "%", "**", "++", "--", "<<", ">>", ">>>", "&", "|", "^", "!", "~", "&&", "||", "??", "?", "?.",
    ":", "=", "+=", "-=", "*=", "%=", "**=", "<<=", ">>=", ">>>=", "&=", "|=", "^=", "&&=", "||=", "??=", "=>",
    "/", "/="
], key=len, reverse=True)
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_IDENT_PART = _IDENT_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"',
            "`": "`", "$": "$"}
#: Words after which a ``/`` would begin a regular expression.
_BEFORE_EXPRESSION = frozenset([
    "return", "typeof", "case", "do", "else", "in", "instanceof", "new", "delete", "void", "throw", "yield",
    "await", "of"
])
#: Names a snippet may not declare (reserved, strict-mode reserved, or globals the subset reads).
_RESERVED = frozenset([
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
    "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof",
    "new", "null", "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void",
    "while", "with", "yield", "let", "static", "implements", "interface", "package", "private", "protected",
    "public", "await", "async", "of", "arguments", "eval", "undefined", "NaN", "Infinity", "String", "Number"
])


class _Tok:
    __slots__ = ("kind", "value", "nl", "parts", "subs", "at")

    def __init__(self, kind: str, value: Any, nl: bool, at: int = -1) -> None:
        self.kind = kind  # name, num, str, tmpl, punct, eof
        self.value = value
        self.nl = nl  # a line break came before it
        self.at = at  # where a name begins in the source
        self.parts: list[str] = []
        self.subs: list[list[_Tok]] = []

    def __repr__(self) -> str:
        return f"{self.kind}:{self.value!r}"


class _Lexer:
    def __init__(self, src: str) -> None:
        if any(0xD800 <= ord(c) <= 0xDFFF for c in src):
            raise Unsupported("a lone surrogate in the source")
        self.src = src
        self.i = 0

    def tokens(self, in_template: bool = False) -> list[_Tok]:
        src, out = self.src, []
        nl = False
        depth = 0
        while True:
            # blanks and comments
            while self.i < len(src):
                c = src[self.i]
                if c in "\n\r\u2028\u2029":
                    nl = True
                    self.i += 1
                elif c in " \t\v\f\xa0\ufeff":
                    self.i += 1
                elif src.startswith("//", self.i):  # to the next line terminator, whichever
                    self.i += 2
                    while self.i < len(src) and src[self.i] not in "\n\r\u2028\u2029":
                        self.i += 1
                elif src.startswith("/*", self.i):
                    end = src.find("*/", self.i + 2)
                    if end < 0:
                        raise Unsupported("an unterminated comment")
                    if any(ch in src[self.i:end] for ch in "\n\r\u2028\u2029"):
                        nl = True
                    self.i = end + 2
                elif c.isspace():
                    raise Unsupported("unusual white space")
                else:
                    break
            if self.i >= len(src):
                if in_template:
                    raise Unsupported("an unterminated template")
                out.append(_Tok("eof", None, True))
                return out
            c = src[self.i]
            if c in _IDENT_START:
                j = self.i + 1
                while j < len(src) and src[j] in _IDENT_PART:
                    j += 1
                if j < len(src) and (src[j] == "\\" or ord(src[j]) > 127):
                    raise Unsupported("a non-ASCII or escaped name")
                out.append(_Tok("name", src[self.i:j], nl, self.i))
                self.i = j
            elif c in _DIGITS or (c == "." and src[self.i + 1 : self.i + 2] in _DIGITS and self.i + 1 < len(src)):
                out.append(_Tok("num", self._number(), nl))
            elif c in "'\"":
                out.append(_Tok("str", self._string(c), nl))
            elif c == "`":
                out.append(self._template(nl))
            else:
                if in_template and c == "}" and depth == 0:
                    self.i += 1
                    out.append(_Tok("eof", None, True))
                    return out
                p = next((p for p in _PUNCTUATORS if src.startswith(p, self.i)), None)
                if p is None:
                    raise Unsupported(f"the character {c!r}")
                if p == "?." and src[self.i + 2 : self.i + 3] in _DIGITS and self.i + 2 < len(src):
                    p = "?"  # ``a ?.5 : b`` is a conditional
                if p in ("/", "/="):
                    prev = out[-1] if out else None
                    if prev is None or (prev.kind == "punct" and prev.value not in (")", "]", "}")) or (
                            prev.kind == "name" and prev.value in _BEFORE_EXPRESSION):
                        raise Unsupported("a regular expression")
                if p == "{":
                    depth += 1
                elif p == "}":
                    depth -= 1
                out.append(_Tok("punct", p, nl))
                self.i += len(p)
            nl = False

    def _number(self) -> float:
        src, start = self.src, self.i
        j = start
        while j < len(src) and src[j] in _DIGITS:
            j += 1
        if src[start] == "0" and j - start > 1:
            raise Unsupported("a legacy octal literal")
        if j < len(src) and src[j] == ".":
            j += 1
            while j < len(src) and src[j] in _DIGITS:
                j += 1
        if j < len(src) and src[j] in "eE":
            j += 1
            if j < len(src) and src[j] in "+-":
                j += 1
            if j >= len(src) or src[j] not in _DIGITS:
                raise Unsupported("a bad exponent")
            while j < len(src) and src[j] in _DIGITS:
                j += 1
        if j < len(src) and (src[j] in _IDENT_PART or src[j] in ".\\" or ord(src[j]) > 127):
            raise Unsupported("a number literal of another form")
        self.i = j
        return float(src[start:j])

    def _escape(self) -> str:
        src = self.src
        c = src[self.i + 1 : self.i + 2]
        if c in _ESCAPES:
            self.i += 2
            return _ESCAPES[c]
        if c == "0" and src[self.i + 2 : self.i + 3] not in _DIGITS:
            self.i += 2
            return "\0"
        if c == "u":
            hexa = src[self.i + 2 : self.i + 6]
            if len(hexa) == 4 and all(h in "0123456789abcdefABCDEF" for h in hexa):
                code = int(hexa, 16)
                if not 0xD800 <= code <= 0xDFFF:
                    self.i += 6
                    return chr(code)
        raise Unsupported("an escape of another form")

    def _string(self, quote: str) -> str:
        src = self.src
        self.i += 1
        chars: list[str] = []
        while True:
            if self.i >= len(src):
                raise Unsupported("an unterminated string")
            c = src[self.i]
            if c == quote:
                self.i += 1
                return "".join(chars)
            if c == "\\":
                chars.append(self._escape())
            elif c in "\n\r":
                raise Unsupported("a line break in a string")
            else:
                chars.append(c)
                self.i += 1

    def _template(self, nl: bool) -> _Tok:
        src = self.src
        tok = _Tok("tmpl", None, nl)
        self.i += 1
        chars: list[str] = []
        while True:
            if self.i >= len(src):
                raise Unsupported("an unterminated template")
            c = src[self.i]
            if c == "`":
                self.i += 1
                tok.parts.append("".join(chars))
                return tok
            if c == "\\":
                chars.append(self._escape())
            elif c == "\r":
                raise Unsupported("a carriage return in a template")
            elif src.startswith("${", self.i):
                self.i += 2
                tok.parts.append("".join(chars))
                chars = []
                tok.subs.append(self.tokens(in_template=True))
            else:
                chars.append(c)
                self.i += 1


# --- syntax -------------------------------------------------------------------------------------------
# Expressions are tuples: ("k", value) a constant, ("v", pyname), ("tmpl", parts, exprs), ("arr", items),
# ("obj", [(key, expr)]), ("chain", base, links) with links ("get", key, optional) / ("idx", int, optional) /
# ("call", method, args, optional), ("un", op, e), ("bin", op, l, r), ("and"|"or"|"nullish", l, r),
# ("cond", c, a, b), ("nullcheck", e, negated), ("fn", name, arg), ("arrow", [pynames], body).
# Statements: ("decl", target, e) with target a pyname or [(key, pyname)], ("ret", e), ("if", c, then, else).

_ARRAY_CALLBACKS = frozenset(("map", "filter", "some", "every", "find", "findIndex"))
_METHODS = {
    "includes": (1, 1), "join": (0, 1), "startsWith": (1, 1), "endsWith": (1, 1), "toUpperCase": (0, 0),
    "toLowerCase": (0, 0), "trim": (0, 0), "trimStart": (0, 0), "trimEnd": (0, 0),
}
_LITERAL_NAMES = {"true": True, "false": False, "null": None}
_GLOBAL_VALUES = {"undefined": UNDEFINED, "NaN": math.nan, "Infinity": math.inf}


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0
        self.scopes: list[dict[str, str]] = []
        self.count = 0

    # tokens
    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, value: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind in ("punct", "name") and tok.value == value

    def expect(self, value: str) -> None:
        if not self.at(value):
            raise Unsupported(f"expected {value!r}, found {self.peek()!r}")
        self.i += 1

    def name(self) -> str:
        tok = self.next()
        if tok.kind != "name":
            raise Unsupported(f"expected a name, found {tok!r}")
        return str(tok.value)

    def end_statement(self) -> None:
        if self.at(";"):
            self.i += 1
        elif not (self.at("}") or self.peek().nl):
            raise Unsupported(f"unexpected {self.peek()!r}")

    # names
    def declare(self, name: str) -> str:
        if name in _RESERVED or any(name in scope for scope in self.scopes):
            raise Unsupported(f"the name {name!r} is reserved or declared already")
        pyname = f"v{self.count}"
        self.count += 1
        self.scopes[-1][name] = pyname
        return pyname

    def lookup(self, name: str) -> str | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    # the module
    def module(self, export_at: int | None) -> tuple[Any, list[Any]]:
        if export_at is not None:
            if not (self.at("export") and self.at("default", 1) and self.peek().at == export_at):
                raise Unsupported("not the export default that the runner rewrites")
            self.i += 2
        elif self.at(".", 1) and self.at("=", 3) and (
                (self.at("module") and self.at("exports", 2)) or (self.at("exports") and self.at("default", 2))):
            self.i += 4
        else:
            raise Unsupported("not one default-exported function")
        self.scopes.append({})
        if self.at("function"):
            self.i += 1
            if self.peek().kind == "name":
                self.i += 1  # its own name: a use of it is an unknown name, so not in the subset
            self.expect("(")
            param = self.param()
            self.expect(")")
            body = self.block()
        else:
            if self.at("("):
                self.i += 1
                param = self.param()
                self.expect(")")
            else:
                param = self.declare(self.name())
            if self.peek().nl:
                raise Unsupported("a line break before =>")  # a syntax error anyway
            self.expect("=>")
            body = self.block() if self.at("{") else [("ret", self.assignment())]
        while self.at(";"):
            self.i += 1
        if self.peek().kind != "eof":
            raise Unsupported("more than the default export")
        return param, body

    def param(self) -> Any:
        if self.at(")"):
            return None
        if self.at("{"):
            return self.declare_pattern(self.pattern())
        return self.declare(self.name())

    def pattern(self) -> list[tuple[str, str]]:
        """``{a, b: c}`` as its (key, name) pairs, not declared yet."""
        self.expect("{")
        out: list[tuple[str, str]] = []
        while not self.at("}"):
            key = target = self.name()
            if self.at(":"):
                self.i += 1
                target = self.name()
            if key == "__proto__":
                raise Unsupported("__proto__ in a pattern")
            out.append((key, target))
            if not self.at("}"):
                self.expect(",")
        self.i += 1
        if not out:
            raise Unsupported("an empty pattern")
        return out

    def declare_pattern(self, pattern: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(key, self.declare(target)) for key, target in pattern]

    def block(self) -> list[Any]:
        self.expect("{")
        self.scopes.append({})
        body: list[Any] = []
        while not self.at("}"):
            if body and body[-1][0] == "ret":
                raise Unsupported("code after return")
            stmt = self.statement()
            if stmt is not None:
                body.append(stmt)
        self.i += 1
        self.scopes.pop()
        return body

    def statement(self) -> Any:
        tok = self.peek()
        if self.at(";"):
            self.i += 1
            return None
        if tok.kind == "name" and tok.value in ("const", "let"):
            self.i += 1
            names: Any = self.pattern() if self.at("{") else self.name()
            self.expect("=")
            value = self.assignment()  # before the names are declared: their initializer cannot see them
            target = self.declare(names) if isinstance(names, str) else self.declare_pattern(names)
            self.end_statement()
            return ("decl", target, value)
        if tok.kind == "name" and tok.value == "return":
            self.i += 1
            if self.at(";") or self.at("}"):
                self.end_statement()
                return ("ret", ("k", UNDEFINED))
            if self.peek().nl:
                raise Unsupported("a line break after return")
            value = self.assignment()
            self.end_statement()
            return ("ret", value)
        if tok.kind == "name" and tok.value == "if":
            self.i += 1
            self.expect("(")
            cond = self.expression()
            self.expect(")")
            then = self.branch()
            other = None
            if self.at("else"):
                self.i += 1
                other = self.branch()
            return ("if", cond, then, other)
        raise Unsupported(f"the statement {tok!r}")

    def branch(self) -> list[Any]:
        if self.at("{"):
            return self.block()
        tok = self.peek()
        if tok.kind == "name" and tok.value in ("return", "if"):
            return [self.statement()]
        raise Unsupported("an if branch of another form")

    # expressions
    def expression(self) -> Any:
        return self.assignment()

    def assignment(self) -> Any:
        cond = self.short_circuit()
        if self.at("?"):
            self.i += 1
            then = self.assignment()
            self.expect(":")
            other = self.assignment()
            return ("cond", cond, then, other)
        return cond

    def short_circuit(self) -> Any:
        left = self.equality()
        if self.at("??"):
            while self.at("??"):
                self.i += 1
                left = ("nullish", left, self.equality())
            if self.at("||") or self.at("&&"):
                raise Unsupported("?? beside || or &&")  # a syntax error
            return left
        while self.at("&&"):
            self.i += 1
            left = ("and", left, self.equality())
        while self.at("||"):
            self.i += 1
            right = self.equality()
            while self.at("&&"):
                self.i += 1
                right = ("and", right, self.equality())
            left = ("or", left, right)
        if self.at("??"):
            raise Unsupported("?? beside || or &&")
        return left

    def equality(self) -> Any:
        left = self.relational()
        while self.peek().kind == "punct" and self.peek().value in ("===", "!==", "==", "!="):
            op = self.next().value
            right = self.relational()
            if op in ("==", "!="):
                if right in (("k", None), ("k", UNDEFINED)):
                    left = ("nullcheck", left, op == "!=")
                elif left in (("k", None), ("k", UNDEFINED)):
                    left = ("nullcheck", right, op == "!=")
                else:
                    raise Unsupported("== other than against null")
            else:
                left = ("bin", op, left, right)
        return left

    def relational(self) -> Any:
        left = self.additive()
        while self.peek().kind == "punct" and self.peek().value in ("<", "<=", ">", ">="):
            op = self.next().value
            left = ("bin", op, left, self.additive())
        return left

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.peek().kind == "punct" and self.peek().value in ("+", "-"):
            op = self.next().value
            left = ("bin", op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek().kind == "punct" and self.peek().value in ("*", "/", "%"):
            op = self.next().value
            left = ("bin", op, left, self.unary())
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if tok.kind == "punct" and tok.value in ("!", "-"):
            self.i += 1
            return ("un", tok.value, self.unary())
        if tok.kind == "name" and tok.value == "typeof":
            self.i += 1
            return ("un", "typeof", self.unary())
        e = self.postfix()
        if self.at("**"):
            raise Unsupported("**")
        return e

    def postfix(self) -> Any:
        base = self.primary()
        links: list[Any] = []
        while True:
            optional = False
            if self.at("?."):
                self.i += 1
                optional = True
                if self.at("(") or self.peek().kind == "tmpl":
                    raise Unsupported("an optional call")
                if not self.at("["):
                    links.append(self.member(self.name(), optional))
                    continue
            if self.at("."):
                self.i += 1
                links.append(self.member(self.name(), optional))
            elif self.at("["):
                self.i += 1
                key = self.next()
                self.expect("]")
                if key.kind == "str":
                    links.append(self.member(str(key.value), optional))
                elif key.kind == "num" and float(key.value).is_integer() and 0 <= key.value < 2**31:
                    links.append(("idx", int(key.value), optional))
                else:
                    raise Unsupported("a computed key")
            elif self.at("("):
                if base[0] == "v" and base[1] in ("String", "Number") and not links:
                    self.i += 1
                    arg = self.assignment()
                    self.expect(")")
                    base = ("fn", base[1], arg)
                    continue
                raise Unsupported("a call of something else")
            else:
                break
        if base[0] == "v" and base[1] in ("String", "Number"):
            raise Unsupported(f"{base[1]} as a value")
        return ("chain", base, links) if links else base

    def member(self, name: str, optional: bool) -> Any:
        if not self.at("("):
            return ("get", name, optional)
        self.i += 1
        args: list[Any] = []
        while not self.at(")"):
            args.append(self.argument(name in _ARRAY_CALLBACKS))
            if not self.at(")"):
                self.expect(",")
        self.i += 1
        if name in _ARRAY_CALLBACKS:
            if len(args) != 1 or args[0][0] != "arrow":
                raise Unsupported(f".{name} with another argument than one arrow")
        elif name in _METHODS:
            low, high = _METHODS[name]
            if not low <= len(args) <= high or any(a[0] == "arrow" for a in args):
                raise Unsupported(f".{name} with other arguments")
        else:
            raise Unsupported(f"the method {name!r}")
        return ("call", name, args, optional)

    def argument(self, callback: bool) -> Any:
        if not callback:
            return self.assignment()
        names: list[str] = []
        if self.peek().kind == "name" and self.at("=>", 1):
            names = [self.name()]
        elif self.at("("):
            self.i += 1
            while not self.at(")"):
                names.append(self.name())
                if not self.at(")"):
                    self.expect(",")
            self.i += 1
            if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
                raise Unsupported("an arrow of another arity")
        else:
            raise Unsupported("a callback other than an arrow")
        if self.peek().nl:
            raise Unsupported("a line break before =>")
        self.expect("=>")
        if self.at("{"):
            raise Unsupported("an arrow with a block body")
        self.scopes.append({})
        try:
            pynames = [self.declare(n) for n in names]
            body = self.assignment()
        finally:
            self.scopes.pop()
        return ("arrow", pynames, body)

    def primary(self) -> Any:
        tok = self.next()
        if tok.kind == "num":
            return ("k", tok.value)
        if tok.kind == "str":
            return ("k", tok.value)
        if tok.kind == "tmpl":
            exprs = []
            for sub in tok.subs:
                inner = _Parser(sub)
                inner.scopes, inner.count = self.scopes, self.count
                exprs.append(inner.assignment())
                if inner.peek().kind != "eof":
                    raise Unsupported("more than an expression in ${}")
                self.count = inner.count
            return ("tmpl", tok.parts, exprs)
        if tok.kind == "name":
            name = str(tok.value)
            if name in _LITERAL_NAMES:
                return ("k", _LITERAL_NAMES[name])
            pyname = self.lookup(name)
            if pyname is not None:
                return ("v", pyname)
            if name in _GLOBAL_VALUES:
                return ("k", _GLOBAL_VALUES[name])
            if name in ("String", "Number") and self.at("("):
                return ("v", name)
            raise Unsupported(f"the unknown name {name!r}")
        if tok.kind == "punct":
            if tok.value == "(":
                e = self.assignment()
                self.expect(")")
                return e
            if tok.value == "[":
                items = []
                while not self.at("]"):
                    if self.at(",") or self.at("..."):
                        raise Unsupported("a hole or spread in an array")
                    items.append(self.assignment())
                    if not self.at("]"):
                        self.expect(",")
                self.i += 1
                return ("arr", items)
            if tok.value == "{":
                return self.object()
        raise Unsupported(f"unexpected {tok!r}")

    def object(self) -> Any:
        entries: list[tuple[str, Any]] = []
        while not self.at("}"):
            tok = self.next()
            if tok.kind not in ("name", "str"):
                raise Unsupported("an object key of another form")
            key = str(tok.value)
            if key == "__proto__" or key in (k for k, _ in entries) or (key[:1].isdigit() or key.isdigit()):
                raise Unsupported(f"the object key {key!r}")
            if self.at(":"):
                self.i += 1
                value = self.assignment()
            elif tok.kind == "name" and (self.at(",") or self.at("}")):
                pyname = self.lookup(key)
                if pyname is None:
                    raise Unsupported(f"the unknown name {key!r}")
                value = ("v", pyname)
            else:
                raise Unsupported("an object entry of another form")
            entries.append((key, value))
            if not self.at("}"):
                self.expect(",")
        self.i += 1
        return ("obj", entries)


# --- code ---------------------------------------------------------------------------------------------


class _Gen:
    """Python source for the syntax tree: names ours, the snippet's literals as constants ``c0``, ``c1``…"""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.temps = 0
        self.consts: dict[tuple[type, str], str] = {}
        self.values: dict[str, Any] = {}
        #: What is known of a temp's or name's value: "str", "num" (a float), "int", "bool", "list:str" (a list
        #: this code made, of strings), "list"; a name not here may hold anything.
        self.tags: dict[str, str] = {}

    def tag(self, name: str) -> str | None:
        if name in self.tags:
            return self.tags[name]
        if name in ("True", "False"):
            return "bool"
        if name in ("None", "_U"):
            return name
        if name in self.values:
            return "str" if type(self.values[name]) is str else "num"
        return None

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def const(self, value: Any) -> str:
        if value is None or value is True or value is False:
            return repr(value)
        if value is UNDEFINED:
            return "_U"
        key = (type(value), repr(value))
        if key not in self.consts:
            name = f"c{len(self.consts)}"
            self.consts[key] = name
            self.values[name] = value
        return self.consts[key]

    def body(self, stmts: list[Any]) -> None:
        for stmt in stmts:
            self.statement(stmt)

    def statement(self, stmt: Any) -> None:
        kind = stmt[0]
        if kind == "decl":
            value = self.expr(stmt[2])
            self.assign(stmt[1], value)
        elif kind == "ret":
            self.ret(stmt[1])
        else:  # if
            cond = self.expr(stmt[1])
            self.emit(f"if _truthy({cond}):")
            self.nested(stmt[2])
            if stmt[3] is not None:
                self.emit("else:")
                self.nested(stmt[3])

    def nested(self, stmts: list[Any]) -> None:
        self.depth += 1
        self.emit("pass")
        self.body(stmts)
        self.depth -= 1

    def ret(self, e: Any) -> None:
        """Return ``e`` as it crosses back (JSON's rules), converted here where its type is known."""
        if e[0] == "obj":
            result = self.temp()
            self.emit(f"{result} = {{}}")
            for key, value in e[1]:
                name = self.expr(value)
                converted = self.result(name)
                if self.tag(name) in ("str", "num", "int", "bool", "None", "list:str"):
                    self.emit(f"{result}[{self.const(key)}] = {converted}")
                elif self.tag(name) != "_U":
                    self.emit(f"{name} = {converted}")
                    self.emit(f"if {name} is not _U: {result}[{self.const(key)}] = {name}")
            self.emit(f"return {result}")
            return
        name = self.expr(e)
        converted = self.result(name)
        if self.tag(name) == "_U":
            self.emit("return None")
        elif self.tag(name) in ("str", "num", "int", "bool", "None", "list:str"):
            self.emit(f"return {converted}")
        else:
            self.emit(f"{name} = {converted}")
            self.emit(f"return None if {name} is _U else {name}")

    def result(self, name: str) -> str:
        tag = self.tag(name)
        if tag in ("str", "int", "bool", "None", "_U"):
            return name
        if tag == "num":
            return f"_number({name})"
        if tag == "list:str":
            return f"_strings({name})"
        return f"_value({name})"

    def assign(self, target: Any, value: str) -> None:
        if isinstance(target, str):
            self.emit(f"{target} = {value}")
            if self.tag(value) is not None:
                self.tags[target] = self.tag(value)  # type: ignore[assignment]
            return
        self.emit(f"if {value} is None or {value} is _U: raise _Deopt")  # a TypeError in JavaScript
        for key, pyname in target:
            self.emit(f"{pyname} = _get({value}, {self.const(key)})")

    def expr(self, e: Any) -> str:
        kind = e[0]
        if kind == "k":
            return self.const(e[1])
        if kind == "v":
            return str(e[1])
        if kind == "tmpl":
            parts = e[1]
            pieces = [self.const(parts[0])]
            for sub, text in zip(e[2], parts[1:], strict=True):
                pieces.append(f"_tostr({self.expr(sub)})")
                pieces.append(self.const(text))
            return self.set(f"_limit({' + '.join(pieces)})", "str")
        if kind == "arr":
            return self.set(f"[{', '.join(self.expr(item) for item in e[1])}]")
        if kind == "obj":
            entries = [f"{self.const(k)}: {self.expr(v)}" for k, v in e[1]]
            return self.set("{" + ", ".join(entries) + "}")
        if kind == "chain":
            cur = self.expr(e[1])
            if not any(link[-1] for link in e[2]):
                for link in e[2]:
                    cur = self.link(cur, link)
                return cur
            result = self.temp()
            self.links(cur, e[2], result)
            return result
        if kind == "un":
            value = self.expr(e[2])
            op = e[1]
            if op == "!":
                return self.set(f"not _truthy({value})", "bool")
            if op == "-":
                return self.set(f"-_num({value})", "num")
            return self.set(f"_typeof({value})", "str")
        if kind == "bin":
            left, right = self.expr(e[2]), self.expr(e[3])
            op = e[1]
            tags = (self.tag(left), self.tag(right))
            tag: str | None
            if op != "+":
                tag = "num" if op in ("-", "*", "/", "%") else "bool"
            elif "str" in tags:
                tag = "str"
            else:
                tag = "num" if all(t in ("num", "int") for t in tags) else None
            literal = [n for n in (left, right) if type(self.values.get(n)) is str]
            if op == "+" and literal:
                # a literal string joined to another: the common case inline (its growth is the literal's length)
                other = right if literal[0] == left else left
                return self.set(f"{left} + {right} if type({other}) is str else _add({left}, {right})", tag)
            return self.set(f"{_BINARY[op]}({left}, {right})", tag)
        if kind in ("and", "or", "nullish"):
            result = self.temp()
            first = self.expr(e[1])
            self.emit(f"{result} = {first}")
            test = {"and": "_truthy({0})", "or": "not _truthy({0})", "nullish": "{0} is None or {0} is _U"}[kind]
            self.emit(f"if {test.format(result)}:")
            self.depth += 1
            second = self.expr(e[2])
            self.emit(f"{result} = {second}")
            self.depth -= 1
            self.same(result, first, second)
            return result
        if kind == "cond":
            result = self.temp()
            self.emit(f"if _truthy({self.expr(e[1])}):")
            self.depth += 1
            first = self.expr(e[2])
            self.emit(f"{result} = {first}")
            self.depth -= 1
            self.emit("else:")
            self.depth += 1
            second = self.expr(e[3])
            self.emit(f"{result} = {second}")
            self.depth -= 1
            self.same(result, first, second)
            return result
        if kind == "nullcheck":
            value = self.expr(e[1])
            test = f"({value} is None or {value} is _U)"
            return self.set(f"not {test}" if e[2] else test, "bool")
        if kind == "fn":
            return self.set(f"_{e[1]}({self.expr(e[2])})", "str" if e[1] == "String" else "num")
        raise Unsupported(f"an expression {kind}")  # an arrow outside a method call cannot parse

    def set(self, code: str, tag: str | None = None) -> str:
        name = self.temp()
        self.emit(f"{name} = {code}")
        if tag is not None:
            self.tags[name] = tag
        return name

    def same(self, result: str, first: str, second: str) -> None:
        """``result`` is one of ``first`` and ``second``: it has their tag when they share it."""
        tag = self.tag(first)
        if tag is not None and tag == self.tag(second):
            self.tags[result] = tag

    def links(self, cur: str, links: list[Any], result: str) -> None:
        for n, link in enumerate(links):
            if link[-1]:  # ``?.``: the rest of the chain is skipped on null or undefined
                self.emit(f"if {cur} is None or {cur} is _U:")
                self.depth += 1
                self.emit(f"{result} = _U")
                self.depth -= 1
                self.emit("else:")
                self.depth += 1
                self.links(cur, [(*link[:-1], False), *links[n + 1 :]], result)
                self.depth -= 1
                return
            cur = self.link(cur, link)
        self.emit(f"{result} = {cur}")

    def link(self, cur: str, link: Any) -> str:
        kind = link[0]
        if kind == "get":
            key = self.const(link[1])
            if link[1] == "length" or not cur.startswith(("t", "v")):  # a literal never holds a key
                return self.set(f"_get({cur}, {key})")
            name = self.temp()  # a map's key: only a dict holding it indexes without an error
            self.emit("try:")
            self.emit(f"    {name} = {cur}[{key}]")
            self.emit("except Exception:")
            self.emit(f"    {name} = _get({cur}, {key})")
            return name
        if kind == "idx":
            return self.set(f"_index({cur}, {link[1]})")
        name, args = link[1], link[2]
        if name in ("toUpperCase", "toLowerCase") and cur.startswith(("t", "v")):  # the ASCII case inline
            method = "upper" if name == "toUpperCase" else "lower"
            return self.set(f"{cur}.{method}() if type({cur}) is str and {cur}.isascii() else _{name}({cur})", "str")
        if name not in _ARRAY_CALLBACKS:
            values = [self.expr(a) for a in args]
            tag = "bool" if name in ("includes", "startsWith", "endsWith") else "str"
            return self.set(f"_{name}({', '.join([cur, *values])})", tag)
        pynames, body = args[0][1], args[0][2]
        result = self.temp()
        items = f"_list({cur})"
        loop = f"for {pynames[0]} in {items}:" if len(pynames) == 1 else \
            f"for {pynames[1]}, {pynames[0]} in enumerate({items}):"
        start = {"map": "[]", "filter": "[]", "some": "False", "every": "True", "find": "_U", "findIndex": "-1"}
        self.emit(f"{result} = {start[name]}")
        if name == "findIndex" and len(pynames) == 1:
            pynames = [*pynames, self.temp()]
            loop = f"for {pynames[1]}, {pynames[0]} in enumerate({items}):"
        self.emit(loop)
        self.depth += 1
        value = self.expr(body)
        if name != "find":
            self.tags[result] = {"map": "list:str" if self.tag(value) == "str" else "list", "filter": "list",
                                 "some": "bool", "every": "bool", "findIndex": "int"}[name]
        if name == "map":
            self.emit(f"{result}.append({value})")
        else:
            test = f"not _truthy({value})" if name == "every" else f"_truthy({value})"
            self.emit(f"if {test}:")
            self.depth += 1
            if name == "filter":
                self.emit(f"{result}.append({pynames[0]})")
            elif name == "find":
                self.emit(f"{result} = {pynames[0]}")
            elif name == "findIndex":
                self.emit(f"{result} = {pynames[1]}")
            else:
                self.emit(f"{result} = {name == 'some'}")
            if name != "filter":
                self.emit("break")
            self.depth -= 1
        self.depth -= 1
        return result


_BINARY = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod", "===": "_seq", "!==": "_sne",
           "<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}


# --- the values: JavaScript's rules on our model of its values --------------------------------------------

_NUMBERS = (int, float)
#: The property names along the prototype chains of objects, arrays, strings, numbers and booleans (read from
#: QuickJS the first time a snippet compiles): a key missing from a map but named there reads the prototype's
#: function, left to QuickJS; any other missing key reads undefined.
_protos: dict[type, frozenset[str]] = {}
_WHITE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029" \
    "\u202f\u205f\u3000\ufeff"  # JavaScript's WhiteSpace and LineTerminator, what trim() removes
_CHAINS = """JSON.stringify([{}, [], '', 0, true].map(function (v) {
  const names = [];
  for (let o = Object.getPrototypeOf(v); o; o = Object.getPrototypeOf(o)) names.push(...Object.getOwnPropertyNames(o));
  return names }))"""


def _prototype_keys() -> None:
    if not _protos:
        import json

        import quickjs

        chains = json.loads(quickjs.Context().eval(_CHAINS))
        found = {t: frozenset(names) for t, names in zip((dict, list, str, float, bool), chains, strict=True)}
        found[int] = found[float]
        _protos.update(found)


def _num(v: Any) -> float:
    t = type(v)
    if t is float:
        return v
    if t is int and _NSAFE <= v <= _SAFE:
        return float(v)
    raise Deopt


def _truthy(v: Any) -> bool:
    if v is True:
        return True
    if v is False or v is None or v is UNDEFINED:
        return False
    t = type(v)
    if t is str:
        return v != ""
    if t is float:
        return v == v and v != 0.0
    if t is int:
        return v != 0
    return True  # arrays and objects, even empty


def _numstr(v: Any) -> str:
    """JavaScript's Number::toString."""
    x = _num(v)
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "-Infinity" if x < 0 else "Infinity"
    if x.is_integer() and _NSAFE_F < x < _SAFE_F:
        return str(int(x))
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")  # the shortest digits that read back as x, as JavaScript's
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    zeros = len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    # x = int(digits) * 10**(n - k) with k digits: JavaScript's n and k
    k = len(digits)
    n = k + (int(exp) if exp else 0) - len(frac) + zeros
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        out = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def _tostr(v: Any) -> str:
    t = type(v)
    if t is str:
        return v
    if t is float or t is int:
        return _numstr(v)
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is UNDEFINED:
        return "undefined"
    raise Deopt  # an object's toString: left to QuickJS


def _limit(s: str) -> str:
    if len(s) > STRING_LIMIT:
        raise Deopt
    return s


def _add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        return _limit(a + b)
    if ta in _NUMBERS and tb in _NUMBERS:
        return _num(a) + _num(b)
    if ta is str:
        return _limit(a + _tostr(b))
    if tb is str:
        return _limit(_tostr(a) + b)
    raise Deopt


def _sub(a: Any, b: Any) -> float:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return _num(a) - _num(b)
    raise Deopt


def _mul(a: Any, b: Any) -> float:
    if type(a) in _NUMBERS and type(b) in _NUMBERS:
        return _num(a) * _num(b)
    raise Deopt


def _div(a: Any, b: Any) -> float:
    if type(a) not in _NUMBERS or type(b) not in _NUMBERS:
        raise Deopt
    x, y = _num(a), _num(b)
    if y == 0.0:
        if x == 0.0 or x != x:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def _mod(a: Any, b: Any) -> float:
    if type(a) not in _NUMBERS or type(b) not in _NUMBERS:
        raise Deopt
    x, y = _num(a), _num(b)
    if y == 0.0 or x != x or y != y or x in (math.inf, -math.inf):
        return math.nan
    if y in (math.inf, -math.inf):
        return x
    return math.fmod(x, y)


def _units(s: str) -> bytes:
    return s.encode("utf-16-be")  # compared bytewise, as JavaScript compares UTF-16 code units


def _compare(a: Any, b: Any) -> tuple[Any, Any]:
    ta, tb = type(a), type(b)
    if ta is str and tb is str:
        if a.isascii() and b.isascii():
            return a, b
        return _units(a), _units(b)
    if ta in _NUMBERS and tb in _NUMBERS:
        return _num(a), _num(b)
    raise Deopt


def _lt(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return x < y


def _le(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return x <= y


def _gt(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return x > y


def _ge(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return x >= y


def _seq(a: Any, b: Any) -> bool:
    """``===``."""
    ta, tb = type(a), type(b)
    if ta is str or tb is str:
        return ta is tb and a == b
    na, nb = ta in _NUMBERS, tb in _NUMBERS
    if na or nb:
        return na and nb and _num(a) == _num(b)
    return a is b  # true/false/null/undefined are one object each; arrays and objects compare by identity


def _sne(a: Any, b: Any) -> bool:
    return not _seq(a, b)


def _typeof(v: Any) -> str:
    t = type(v)
    if t is str:
        return "string"
    if t in _NUMBERS:
        return "number"
    if t is bool:
        return "boolean"
    if v is UNDEFINED:
        return "undefined"
    return "object"


def _length(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-16-le")) // 2


def _get(o: Any, key: str) -> Any:
    t = type(o)
    if t is dict:
        v = o.get(key, _get)
        if v is not _get:
            return v
    elif key == "length" and (t is list or t is str):
        return len(o) if t is list else _length(o)
    elif o is None or o is UNDEFINED or key.isdigit():
        raise Deopt  # a TypeError, whose message QuickJS words; an index (and the order of keys) is QuickJS's
    if key in _protos[t]:
        raise Deopt  # a method or accessor of the prototype
    return UNDEFINED


def _index(o: Any, i: int) -> Any:
    t = type(o)
    if t is list:
        return o[i] if i < len(o) else UNDEFINED
    if t is str and o.isascii():
        return o[i] if i < len(o) else UNDEFINED
    if t is dict:
        return _get(o, str(i))
    raise Deopt


def _list(v: Any) -> list[Any]:
    if type(v) is list:
        return v
    raise Deopt


def _str(v: Any) -> str:
    if type(v) is str:
        return v
    raise Deopt


def _includes(o: Any, x: Any) -> bool:
    t = type(o)
    if t is str:
        return _str(x) in o
    if t is list:
        if type(x) in _NUMBERS and _num(x) != _num(x):  # SameValueZero: NaN is found
            return any(type(e) in _NUMBERS and _num(e) != _num(e) for e in o)
        return any(_seq(e, x) for e in o)
    raise Deopt


def _join(o: Any, sep: Any = ",") -> str:
    parts = []
    for e in _list(o):
        if e is None or e is UNDEFINED:
            parts.append("")
        elif type(e) in (list, dict):
            raise Deopt
        else:
            parts.append(_tostr(e))
    return _limit(_str(sep).join(parts))


def _startsWith(o: Any, x: Any) -> bool:  # noqa: N802 - named as the JavaScript method
    return _str(o).startswith(_str(x))


def _endsWith(o: Any, x: Any) -> bool:  # noqa: N802
    return _str(o).endswith(_str(x))


def _toUpperCase(o: Any) -> str:  # noqa: N802
    if type(o) is str and o.isascii():
        return o.upper()
    raise Deopt  # Unicode case mappings: JavaScript's and Python's tables may differ


def _toLowerCase(o: Any) -> str:  # noqa: N802
    if type(o) is str and o.isascii():
        return o.lower()
    raise Deopt


def _trim(o: Any) -> str:
    return _str(o).strip(_WHITE)


def _trimStart(o: Any) -> str:  # noqa: N802
    return _str(o).lstrip(_WHITE)


def _trimEnd(o: Any) -> str:  # noqa: N802
    return _str(o).rstrip(_WHITE)


def _String(v: Any) -> str:  # noqa: N802
    return _tostr(v)


def _Number(v: Any) -> float:  # noqa: N802
    if type(v) in _NUMBERS:
        return _num(v)
    if v is None or v is False:
        return 0.0
    if v is True:
        return 1.0
    if v is UNDEFINED:
        return math.nan
    raise Deopt  # a string's number: JavaScript's grammar for it is its own




# --- the result ---------------------------------------------------------------------------------------


def _number(v: float) -> Any:
    """A number as JSON.stringify writes it and our decoder reads it back."""
    if v - v != 0.0:
        return None  # NaN, Infinity
    if _NSAFE_F < v < _SAFE_F:
        i = int(v)
        return i if i == v else v
    if -1e21 < v < 1e21 and v.is_integer():
        raise Deopt  # JavaScript prints the shortest digits padded with zeros, not int(v)
    return v


def _out(v: Any, budget: list[int]) -> Any:
    """A list or dict as JSON.stringify writes it and our decoder reads it back; Deopt where that is not sure.
    ``budget`` counts down the characters of strings and the items of lists and maps (charged on entry)."""
    n = budget[0] = budget[0] - len(v) - 1
    if n < 0:
        raise Deopt
    n = 0
    if type(v) is list:
        out: Any = []
        add = out.append
        for x in v:
            t = type(x)
            if t is str:
                n += len(x)
                add(x)
            elif t is float:
                add(_number(x))
            elif x is None or t is bool or (t is int and _NSAFE <= x <= _SAFE):
                add(x)
            elif x is UNDEFINED:
                add(None)
            elif t is list or t is dict:
                add(_out(x, budget))
            else:
                raise Deopt
    else:
        out = {}
        for k, x in v.items():
            if k.isdigit():
                raise Deopt  # JavaScript lists an index-like key first
            t = type(x)
            if t is str:
                n += len(x)
                out[k] = x
            elif t is float:
                out[k] = _number(x)
            elif x is None or t is bool or (t is int and _NSAFE <= x <= _SAFE):
                out[k] = x
            elif x is UNDEFINED:
                pass  # JSON.stringify leaves it out
            elif t is list or t is dict:
                out[k] = _out(x, budget)
            else:
                raise Deopt
    budget[0] -= n
    if budget[0] < 0:
        raise Deopt
    return out


def _value(v: Any) -> Any:
    """Any value as it crosses back (undefined stays :data:`UNDEFINED`: its place decides)."""
    t = type(v)
    if t is str or t is bool or v is None or v is UNDEFINED:
        return v
    if t is float:
        return _number(v)
    if t is int:
        if _NSAFE <= v <= _SAFE:
            return v
        raise Deopt
    if t is list or t is dict:
        return _out(v, [RESULT_LIMIT])
    raise Deopt


def _strings(v: list[str]) -> list[str]:
    """A list this code made of strings, as it crosses back."""
    if sum(map(len, v)) + len(v) > RESULT_LIMIT:
        raise Deopt
    return list(v)


_HELPERS = {name: value for name, value in globals().items() if name.startswith("_") and callable(value)}
_HELPERS.update(_U=UNDEFINED, _Deopt=Deopt)


class Compiled:
    """A snippet compiled to Python: call it with the payload as JSON decodes it; it answers the result
    as the QuickJS path would, or :data:`DEOPT`."""

    __slots__ = ("fn", "source")

    def __init__(self, fn: Callable[[Any], Any], source: str) -> None:
        self.fn = fn
        self.source = source  # the generated Python, for reading when debugging

    def __call__(self, value: Any) -> Any:
        try:
            return self.fn(value)
        except Exception:  # noqa: BLE001 - Deopt, or anything unforeseen: QuickJS answers instead
            return DEOPT


def compile(code: str, export_at: int | None) -> Compiled | None:
    """``code`` compiled to Python, or None when it is not in the subset (or on any surprise while compiling).

    ``export_at`` says how the runner reads the code: as an ES module whose ``export default`` begins at that
    offset (the one the runner binds), or (None) as CommonJS, whose ``module.exports =`` is the function.
    """
    try:
        return _compile(code, export_at)
    except Exception:  # noqa: BLE001 - fail closed: no fast path, QuickJS runs it
        return None


def _compile(code: str, export_at: int | None) -> Compiled | None:
    try:
        param, body = _Parser(_Lexer(code).tokens()).module(export_at)
    except (Unsupported, RecursionError):
        return None
    gen = _Gen()
    arg = param if isinstance(param, str) else "arg"
    if isinstance(param, list):
        gen.assign(param, arg)
    try:
        gen.body(body)
    except Unsupported:
        return None
    gen.emit("return None")
    source = f"def snippet({arg}):\n" + "\n".join(gen.lines) + "\n"
    namespace: dict[str, Any] = {**_HELPERS, **gen.values}
    _prototype_keys()
    try:
        exec(builtins.compile(source, "<portflow js_compiled>", "exec"), namespace)  # noqa: S102 - our own text
    except (SyntaxError, RecursionError, MemoryError):  # nested deeper than Python compiles
        return None
    return Compiled(namespace["snippet"], source)
