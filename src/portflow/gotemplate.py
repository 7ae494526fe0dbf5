"""Go's ``text/template`` language, as uniflow's env templates use it (``internal/template`` there runs Go's
``text/template`` on every string of a spec).

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``; pipelines
(``.x | printf "%q"``); operands ``.``, ``.a.b``, ``$``, ``$v.a``, ``(pipeline).a``, strings ``"..."`` and
``\u0060raw\u0060``, characters ``'a'``, numbers, ``true``, ``false``, ``nil``; variables (``$v := p``,
``$v = p``, ``range $i, $e := p``) scoped to their block; ``if``/``else if``/``else``, ``range`` (lists,
maps in key order, integers; ``else``, ``break``, ``continue``), ``with``/``else with``/``else``, all
closed by ``end``; the functions ``and or not len index printf print println eq ne lt le gt ge``.
``define``, ``template`` and ``block`` are not supported (an error says so).

As in Go: a missing map key is "no value" and prints ``<no value>``; false, 0, nil, "" and empty lists
and maps are false to ``if``/``with``/``and``/``or``/``not``; ``and``/``or`` stop at the first
deciding argument; ``len`` of a string counts bytes; ``eq`` of a missing value and anything is false;
numbers print as Go prints them (``1e+06``). Error messages name types, never the values (which may
be secrets). One leniency: an integer and a float compare by value
(Go refuses to compare them). Parsed templates are cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .errors import TemplateError
from .gotypes import go_float

__all__ = ["NO_VALUE", "MISSING", "execute", "parse", "text_of"]

NO_VALUE = "<no value>"


class _Missing:
    """A value that is not there (a missing map key): prints ``<no value>``, is false."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# -- the lexer (inside actions) ---------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_][\w-]*)+|\.)
  | (?P<var>\$[A-Za-z_]\w*|\$)
  | (?P<word>[A-Za-z_]\w*)
  | (?P<op>:=|[=|(),])
""", re.X)
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|[abfnrtv\\\"'])")
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in _SIMPLE:
            return _SIMPLE[e]
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        return chr(int(e, 8))

    return _ESCAPE.sub(one, body)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    attached: bool = False  # no space before it (a field chained onto ``)`` or ``$v``)


def _lex(src: str, where: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos, spaced = 0, True
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise TemplateError(f"{where}: unexpected {src[pos:pos + 10]!r} in action")
        kind = m.lastgroup or ""
        if kind == "space":
            spaced = True
        else:
            out.append(_Tok(kind, m.group(), not spaced))
            spaced = False
        pos = m.end()
    return out


# -- the tree -------------------------------------------------------------------------------------------

@dataclass
class _Pipe:
    decl: list[str] = field(default_factory=list)
    assign: bool = False  # ``=`` rather than ``:=``
    cmds: list[list[Any]] = field(default_factory=list)


@dataclass
class _Field:
    base: Any  # None: dot; a str: a variable; a _Pipe: a parenthesized pipeline
    path: tuple[str, ...]


@dataclass
class _Func:
    name: str


@dataclass
class _Lit:
    value: Any


@dataclass
class _Block:
    kind: str  # "if", "range", "with"
    pipe: _Pipe
    body: list[Any]
    other: list[Any] = field(default_factory=list)


class _Break:
    pass


class _Continue:
    pass


_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.where = f"template {src if len(src) <= 60 else src[:57] + '...'!r}"
        self.items = self._split(src)
        self.pos = 0

    def error(self, msg: str) -> TemplateError:
        return TemplateError(f"{self.where}: {msg}")

    def _split(self, src: str) -> list[tuple[str, Any]]:
        """Text pieces and actions (their tokens), with the trim markers applied."""
        items: list[tuple[str, Any]] = []
        pos = 0
        while True:
            start = src.find("{{", pos)
            if start < 0:
                items.append(("text", src[pos:]))
                return items
            text = src[pos:start]
            inner = start + 2
            if src.startswith("- ", inner) or src.startswith("-\t", inner) or src.startswith("-\n", inner) \
                    or src.startswith("-\r", inner):
                text = text.rstrip(" \t\r\n")
                inner += 1
            items.append(("text", text))
            end, trim = self._close(src, inner)
            body = src[inner:end]
            pos = end + (3 if trim else 2)
            if trim:
                rest = src[pos:]
                pos += len(rest) - len(rest.lstrip(" \t\r\n"))
            stripped = body.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise self.error("unclosed comment")
                continue
            items.append(("action", _lex(body, self.where)))

    def _close(self, src: str, pos: int) -> tuple[int, bool]:
        """Where the action starting at ``pos`` closes (``}}`` outside quotes), and whether it trims."""
        quote = ""
        i = pos
        while i < len(src):
            c = src[i]
            if quote:
                if c == "\\" and quote != "`":
                    i += 2
                    continue
                if c == quote:
                    quote = ""
            elif c in "\"`'":
                quote = c
            elif src.startswith(" -}}", i) or src.startswith("\t-}}", i) or src.startswith("\n-}}", i):
                return i + 1, True
            elif src.startswith("}}", i):
                return i, False
            i += 1
        raise self.error("unclosed action")

    # -- structure ----------------------------------------------------------------------------------
    def parse(self) -> list[Any]:
        nodes, stop = self._list(())
        if stop is not None:
            raise self.error(f"unexpected {{{{ {stop} }}}}")
        return nodes

    def _list(self, stops: tuple[str, ...]) -> tuple[list[Any], str | None]:
        nodes: list[Any] = []
        while self.pos < len(self.items):
            kind, value = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                if value:
                    nodes.append(value)
                continue
            toks: list[_Tok] = value
            if not toks:
                raise self.error("empty action {{ }}")
            head = toks[0]
            if head.kind == "word" and head.text in _KEYWORDS:
                word = head.text
                if word in stops:
                    self.pending = toks[1:]
                    return nodes, word
                if word in ("if", "range", "with"):
                    nodes.append(self._block(word, toks[1:]))
                elif word in ("break", "continue"):
                    if not self.loops:
                        raise self.error(f"{{{{ {word} }}}} outside range")
                    nodes.append(_Break() if word == "break" else _Continue())
                elif word in ("define", "template", "block"):
                    raise self.error(f"{{{{ {word} }}}} is not supported in portflow's templates")
                else:
                    raise self.error(f"unexpected {{{{ {word} }}}}")
            else:
                nodes.append(self._pipe(toks, decl_ok=True))
        if stops:
            raise self.error("unexpected end of template: missing {{ end }}")
        return nodes, None

    loops = 0
    pending: list[_Tok] = []

    def _block(self, kind: str, toks: list[_Tok]) -> _Block:
        pipe = self._pipe(toks, decl_ok=True, range_decl=kind == "range")
        if kind == "range":
            self.loops += 1
        try:
            body, stop = self._list(("else", "end"))
        finally:
            if kind == "range":
                self.loops -= 1
        block = _Block(kind, pipe, body)
        if stop == "else":
            rest = self.pending
            if rest and rest[0].kind == "word" and rest[0].text in ("if", "with") and kind != "range":
                if rest[0].text != kind:
                    raise self.error(f"{{{{ else {rest[0].text} }}}} inside {{{{ {kind} }}}}")
                block.other = [self._block(kind, rest[1:])]  # ``else if``/``else with``: shares the ``end``
                return block
            if rest:
                raise self.error("unexpected words after {{ else }}")
            block.other, stop = self._list(("end",))
        if self.pending:
            raise self.error("unexpected words after {{ end }}")
        return block

    # -- pipelines ----------------------------------------------------------------------------------
    def _pipe(self, toks: list[_Tok], decl_ok: bool = False, range_decl: bool = False) -> _Pipe:
        pipe = _Pipe()
        i = 0
        if decl_ok and toks and toks[0].kind == "var":
            names = [toks[0].text]
            j = 1
            if range_decl and j + 1 < len(toks) and toks[j].text == "," and toks[j + 1].kind == "var":
                names.append(toks[j + 1].text)
                j += 2
            if j < len(toks) and toks[j].kind == "op" and toks[j].text in (":=", "="):
                pipe.decl, pipe.assign = names, toks[j].text == "="
                i = j + 1
        rest = toks[i:]
        if not rest:
            raise self.error("missing value in pipeline")
        cmd: list[Any] = []
        j = 0
        while j < len(rest):
            tok = rest[j]
            if tok.kind == "op" and tok.text == "|":
                if not cmd:
                    raise self.error("missing command before |")
                pipe.cmds.append(cmd)
                cmd = []
                j += 1
                continue
            operand, j = self._operand(rest, j)
            cmd.append(operand)
        if not cmd:
            raise self.error("missing command after |")
        pipe.cmds.append(cmd)
        for k, c in enumerate(pipe.cmds):
            if len(c) > 1 and not isinstance(c[0], _Func):
                raise self.error("can't give arguments to a non-function")
            if k and not isinstance(c[0], _Func):
                raise self.error("a value after | must be a function")
        return pipe

    def _operand(self, toks: list[_Tok], j: int) -> tuple[Any, int]:
        tok = toks[j]
        j += 1
        node: Any
        if tok.kind == "field":
            node = _Field(None, tuple(k for k in tok.text.split(".") if k))
        elif tok.kind == "var":
            node = _Field(tok.text, ())
        elif tok.kind == "op" and tok.text == "(":
            depth, k = 1, j
            while k < len(toks) and depth:
                if toks[k].kind == "op":
                    depth += {"(": 1, ")": -1}.get(toks[k].text, 0)
                k += 1
            if depth:
                raise self.error("unclosed (")
            node = _Field(self._pipe(toks[j:k - 1]), ())
            j = k
        elif tok.kind == "str":
            return _Lit(_unescape(tok.text[1:-1])), j
        elif tok.kind == "raw":
            return _Lit(tok.text[1:-1]), j
        elif tok.kind == "char":
            text = _unescape(tok.text[1:-1])
            if len(text) != 1:
                raise self.error(f"bad character constant {tok.text}")
            return _Lit(ord(text)), j
        elif tok.kind == "num":
            return _Lit(_number(tok.text, self)), j
        elif tok.kind == "word":
            if tok.text in ("true", "false"):
                return _Lit(tok.text == "true"), j
            if tok.text == "nil":
                return _Lit(None), j
            if tok.text not in FUNCS and tok.text not in _SHORT:
                raise self.error(f'function "{tok.text}" not defined')
            return _Func(tok.text), j
        else:
            raise self.error(f"unexpected {tok.text!r} in operand")
        while j < len(toks) and toks[j].kind == "field" and toks[j].attached and toks[j].text != ".":
            node = _Field(node.base, node.path + tuple(k for k in toks[j].text.split(".") if k))
            j += 1
        return node, j


def _number(text: str, parser: _Parser) -> int | float:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO].*", clean):
            return int(clean, 0)
        if re.fullmatch(r"[+-]?\d+", clean):
            return int(clean)
        return float(clean)
    except ValueError:
        raise parser.error(f"bad number syntax: {text!r}") from None


@lru_cache(maxsize=1024)
def parse(src: str) -> tuple[Any, ...]:
    """The tree of ``src``; ``TemplateError`` names what is wrong."""
    return tuple(_Parser(src).parse())


# -- values ---------------------------------------------------------------------------------------------

def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil, "" and empty collections are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, (str, bytes, list, tuple, dict, Mapping)):
        return len(value) > 0
    return True


def text_of(value: Any) -> str:
    """``value`` as Go's ``fmt.Sprint`` prints it (maps as ``map[k:v ...]`` in key order)."""
    if value is None or value is MISSING:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_inner(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    return str(value)


def _inner(value: Any) -> str:
    """A value inside a map or list: Go prints a nil there as ``<nil>``."""
    return "<nil>" if value is None or value is MISSING else text_of(value)


# -- functions ------------------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("missing argument for comparison")
    for b in others:
        ka, kb = _kind(a), _kind(b)
        if ka != kb:
            if ka != "nil" and kb != "nil":
                raise TemplateError(f"incompatible types for comparison: {_go_type(a)} and {_go_type(b)}")
            continue
        if ka == "other":
            raise TemplateError("invalid type for comparison")
        if ka == "nil" or a == b:
            return True
    return False


def _order(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ka, kb = _kind(a), _kind(b)
        if ka not in ("number", "string") or kb not in ("number", "string"):
            raise TemplateError("invalid type for comparison")
        if ka != kb:
            raise TemplateError("incompatible types for comparison")
        return test(a, b)

    return compare


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (bytes, list, tuple, dict, Mapping)):
        return len(value)
    raise TemplateError(f"len of {'nil' if value is None or value is MISSING else type(value).__name__}")


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if value is None or value is MISSING:
            raise TemplateError("index of untyped nil")
        if isinstance(value, Mapping):
            value = value.get(key, MISSING) if not isinstance(key, (list, dict)) else MISSING
        elif isinstance(value, (list, tuple, str, bytes)):
            if isinstance(key, bool) or not isinstance(key, int):
                raise TemplateError(f"cannot index slice/array with type {type(key).__name__}")
            if not 0 <= key < len(value):
                raise TemplateError(f"index out of range: {key}")
            value = value.encode()[key] if isinstance(value, str) else value[key]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def _print(*args: Any) -> str:
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += text_of(a)
    return out


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+)?)?([a-zA-Z%])")


def _printf(fmt: Any, *args: Any) -> str:
    if not isinstance(fmt, str):
        raise TemplateError("printf: the format must be a string")
    out: list[str] = []
    pos, n = 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        out.append(_verb(flags, width, prec, verb, arg))
    out.append(fmt[pos:])
    if n < len(args):
        extra = ", ".join(f"{_go_type(a)}={text_of(a)}" for a in args[n:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _go_type(value: Any) -> str:
    return {"nil": "<nil>", "bool": "bool", "string": "string"}.get(
        _kind(value), "float64" if isinstance(value, float) else "int" if isinstance(value, int) else
        "map[string]interface {}" if isinstance(value, Mapping) else "[]interface {}")


def _verb(flags: str, width: str | None, prec: str | None, verb: str, arg: Any) -> str:
    spec = "%" + flags.replace("#", "") + (width or "") + (f".{prec}" if prec is not None else "")
    bad = f"%!{verb}({_go_type(arg)}={text_of(arg)})"
    if verb in "vs":
        text = text_of(arg)
        if prec is not None and verb == "s":
            text = text[: int(prec)]
        return (spec.split(".")[0] + "s") % text
    if verb == "q":
        if not isinstance(arg, str):
            return bad
        return (spec + "s") % json.dumps(arg, ensure_ascii=False)
    if verb == "t":
        return (spec + "s") % text_of(arg) if isinstance(arg, bool) else bad
    if verb in "dxXobc":
        if isinstance(arg, bool) or not isinstance(arg, int):
            if verb in "xX" and isinstance(arg, str):
                return (spec + verb) % int.from_bytes(arg.encode(), "big") if arg else ""
            return bad
        if verb == "b":
            return (spec + "s") % format(arg, "b")
        if verb == "c":
            return (spec + "s") % chr(arg)
        return (spec + verb) % arg
    if verb in "eEfFgG":
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            return bad
        if verb in "gG" and prec is None:
            return (spec + "s") % go_float(float(arg))
        return (spec + verb) % float(arg)
    return f"%!{verb}({_go_type(arg)}={text_of(arg)})"


FUNCS: dict[str, Callable[..., Any]] = {
    "not": lambda a: not truth(a),
    "len": _len,
    "index": _index,
    "printf": _printf,
    "print": _print,
    "println": lambda *a: " ".join(text_of(x) for x in a) + "\n",
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _order(lambda a, b: a < b),
    "le": _order(lambda a, b: a <= b),
    "gt": _order(lambda a, b: a > b),
    "ge": _order(lambda a, b: a >= b),
}
_SHORT = ("and", "or")  # short-circuit: evaluated by the executor


# -- execution ------------------------------------------------------------------------------------------

class _LoopBreak(Exception):
    pass


class _LoopContinue(Exception):
    pass


class _State:
    def __init__(self, src: str, data: Any) -> None:
        self.where = f"template {src if len(src) <= 60 else src[:57] + '...'!r}"
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []

    def var(self, name: str) -> Any:
        for n, v in reversed(self.vars):
            if n == name:
                return v
        raise TemplateError(f"{self.where}: undefined variable: {name}")

    def set(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(f"{self.where}: undefined variable: {name}")

    def walk(self, nodes: Any, dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, _Pipe):
                value = self.pipe(node, dot)
                if not node.decl:
                    self.out.append(text_of(value))
            elif isinstance(node, _Block):
                self.block(node, dot)
            elif isinstance(node, _Break):
                raise _LoopBreak
            else:
                raise _LoopContinue

    def scoped(self, nodes: Any, dot: Any) -> None:
        mark = len(self.vars)
        try:
            self.walk(nodes, dot)
        finally:
            del self.vars[mark:]

    def block(self, node: _Block, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipe(node.pipe, dot)
            if truth(value):
                self.scoped(node.body, value if node.kind == "with" else dot)
            else:
                self.scoped(node.other, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Block, dot: Any) -> None:
        pipe = node.pipe
        value = self.pipe(_Pipe(cmds=pipe.cmds), dot)
        items: list[tuple[Any, Any]]
        if isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            items = []
        else:
            raise TemplateError(f"{self.where}: range can't iterate over a {_go_type(value)}")
        if not items:
            self.scoped(node.other, dot)
            return
        for key, elem in items:
            mark = len(self.vars)
            if len(pipe.decl) == 2:
                self.vars += [(pipe.decl[0], key), (pipe.decl[1], elem)]
            elif pipe.decl:
                self.vars.append((pipe.decl[0], elem))
            try:
                self.walk(node.body, elem)
            except _LoopBreak:
                break
            except _LoopContinue:
                continue
            finally:
                del self.vars[mark:]

    def pipe(self, pipe: _Pipe, dot: Any) -> Any:
        value: Any = MISSING
        for i, cmd in enumerate(pipe.cmds):
            value = self.command(cmd, dot, value, i > 0)
        for name in pipe.decl:
            if pipe.assign:
                self.set(name, value)
            else:
                self.vars.append((name, value))
        return value

    def command(self, cmd: list[Any], dot: Any, last: Any, piped: bool) -> Any:
        head = cmd[0]
        if not isinstance(head, _Func):
            return self.operand(head, dot)
        name = head.name
        args = cmd[1:]
        try:
            if name in _SHORT:
                values = [*args, _Lit(last)] if piped else list(args)
                if not values:
                    raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
                result: Any = MISSING
                for a in values:
                    result = self.operand(a, dot)
                    if truth(result) != (name == "and"):
                        return result
                return result
            evaluated = [self.operand(a, dot) for a in args]
            if piped:
                evaluated.append(last)
            return FUNCS[name](*evaluated)
        except TypeError:
            raise TemplateError(f"{self.where}: wrong number of args for {name}: got {len(args) + piped}") from None
        except TemplateError as exc:
            if str(exc).startswith("template "):
                raise
            raise TemplateError(f"{self.where}: error calling {name}: {exc}") from None

    def operand(self, node: Any, dot: Any) -> Any:
        if isinstance(node, _Lit):
            return node.value
        if isinstance(node, _Func):
            return self.command([node], dot, MISSING, False)
        assert isinstance(node, _Field)
        base = node.base
        value = dot if base is None else self.var(base) if isinstance(base, str) else self.pipe(base, dot)
        for key in node.path:
            if value is None or value is MISSING:
                value = MISSING
            elif isinstance(value, Mapping):
                value = value.get(key, MISSING)
            else:
                raise TemplateError(f"{self.where}: can't evaluate field {key} in type {_go_type(value)}")
        return value


def execute(src: str, data: Any) -> str:
    """Run the template ``src`` with ``data`` as ``.`` and ``$``."""
    nodes = parse(src)
    state = _State(src, data)
    state.walk(nodes, data)
    return "".join(state.out)
