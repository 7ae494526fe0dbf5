"""The SQL subset the ``internal`` driver reads (see ``internal``): parsing a SELECT into a ``Query``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import FlowError

__all__ = ["InternalError", "Query", "Condition", "Ref", "parse", "resolve", "TABLES"]

TABLES = ("frames", "processes", "specs", "symbols", "values")


class InternalError(FlowError):
    """A query the ``internal`` driver cannot run: it names the problem and what is supported."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<qid>"(?:[^"]|"")*")
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<param>\?|:[A-Za-z_]\w*)
    | (?P<op><>|!=|<=|>=|=|<|>|\*|,|;|\(|\))
    | (?P<word>[A-Za-z_]\w*)
    )""",
    re.X,
)
_SUPPORTED = "SELECT * | col, ... FROM table [WHERE col = value [AND ...]] [LIMIT n]"


@dataclass(frozen=True)
class Ref:
    """A value in a query: a literal, the ``index``-th ``?``, or ``:name``."""

    literal: Any = None
    index: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # "=", "!=", "is null", "is not null"
    value: Ref = field(default_factory=Ref)


@dataclass(frozen=True)
class Query:
    table: str
    columns: tuple[str, ...] | None  # None: every column
    where: tuple[Condition, ...] = ()
    limit: Ref | None = None


def _tokens(sql: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = sql.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            rest = text[pos:].strip()
            if not rest:
                break
            raise InternalError(f"internal: cannot read the query at {rest[:20]!r}; supported: {_SUPPORTED}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse(sql: str) -> Query:
    """Parse the supported subset of SELECT; ``InternalError`` names what is wrong."""
    if not isinstance(sql, str) or not sql.strip():
        raise InternalError("internal: empty query")
    tokens = _tokens(sql)
    pos = 0
    positional = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise InternalError(f"internal: the query ends too early; supported: {_SUPPORTED}")
        pos += 1
        return tokens[pos - 1]

    def keyword(word: str) -> bool:
        tok = peek()
        if tok is not None and tok[0] == "word" and tok[1].upper() == word:
            take()
            return True
        return False

    def expect(word: str) -> None:
        if not keyword(word):
            tok = peek()
            found = tok[1] if tok else "the end"
            if word == "SELECT" and tok is not None and tok[0] == "word":
                raise InternalError(f"internal: the tables are read-only; only SELECT is supported, not {found}")
            raise InternalError(f"internal: expected {word}, found {found!r}; supported: {_SUPPORTED}")

    def name() -> str:
        kind, text = take()
        if kind == "word":
            return text
        if kind == "qid":
            return text[1:-1].replace('""', '"')
        raise InternalError(f"internal: expected a name, found {text!r}")

    def value() -> Ref:
        nonlocal positional
        kind, text = take()
        if kind == "param":
            if text == "?":
                positional += 1
                return Ref(index=positional - 1)
            return Ref(name=text[1:])
        if kind == "str":
            return Ref(literal=text[1:-1].replace("''", "'"))
        if kind == "num":
            return Ref(literal=float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "word" and text.upper() in ("NULL", "TRUE", "FALSE"):
            return Ref(literal={"NULL": None, "TRUE": True, "FALSE": False}[text.upper()])
        raise InternalError(f"internal: expected a value (?, :name, 'text', a number), found {text!r}")

    expect("SELECT")
    named: list[str] = []
    columns: list[str] | None = named
    if peek() == ("op", "*"):
        take()
        columns = None
    else:
        while True:
            named.append(name())
            if peek() != ("op", ","):
                break
            take()
    expect("FROM")
    table = name().lower()
    if table not in TABLES:
        raise InternalError(f"internal: no such table: {table} (tables: {', '.join(TABLES)})")
    where: list[Condition] = []
    if keyword("WHERE"):
        while True:
            column = name()
            if keyword("IS"):
                negate = keyword("NOT")
                expect("NULL")
                where.append(Condition(column, "is not null" if negate else "is null"))
            else:
                kind, op = take()
                if kind != "op" or op not in ("=", "!=", "<>"):
                    raise InternalError(f"internal: expected =, != or IS [NOT] NULL after {column}, found {op!r}")
                where.append(Condition(column, "=" if op == "=" else "!=", value()))
            if not keyword("AND"):
                break
    limit = None
    if keyword("LIMIT"):
        limit = value()
    if peek() == ("op", ";"):
        take()
    if pos < len(tokens):
        raise InternalError(f"internal: unexpected {tokens[pos][1]!r}; supported: {_SUPPORTED}")
    return Query(table, tuple(columns) if columns is not None else None, tuple(where), limit)


def resolve(ref: Ref, args: Any) -> Any:
    if ref.index is not None:
        if not isinstance(args, (list, tuple)) or ref.index >= len(args):
            raise InternalError(f"internal: the query has more ? than the {_count(args)} argument(s) given")
        return args[ref.index]
    if ref.name is not None:
        if not isinstance(args, dict) or ref.name not in args:
            raise InternalError(f"internal: no argument named {ref.name!r}")
        return args[ref.name]
    return ref.literal


def _count(args: Any) -> int:
    return len(args) if isinstance(args, (list, tuple)) else 0


