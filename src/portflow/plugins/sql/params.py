"""Placeholders: the ``?`` and ``:name`` a flow writes, in the form each driver takes.

A query in a spec or a payload uses ``?`` for positional arguments (``args`` is a list) and ``:name`` for
named ones (``args`` is a map). SQLite takes both natively; psycopg wants ``%s`` and ``%(name)s``;
asyncmy wants ``%s`` (a ``:name`` becomes a positional ``%s`` and ``Translated.order`` says which argument
goes there, so that the statement can be prepared on the server). Both run the whole query text through
``%`` formatting, so every literal ``%`` is doubled. A small tokenizer skips what is not SQL code,
so a ``?`` or ``:x`` inside a string literal, a
quoted identifier or a comment is left alone, and so is a PostgreSQL ``::`` cast.

Dialects: ``sqlite``, ``postgres`` (``E'..'`` escapes, ``$tag$..$tag$`` strings, nested ``/* */``),
``mysql`` (backslash escapes in ``'..'`` and ``".."``, backquoted identifiers, ``#`` comments).
Translations are cached, so a query seen before costs one dictionary look-up. The same scan tells
whether a statement only reads (``Translated.reads_only``), which the sqlite driver uses to let readers
run side by side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Translated", "translate", "plan", "PlaceholderError", "DIALECTS", "NONE", "POSITIONAL", "NAMED", "BATCH"]

DIALECTS = ("sqlite", "postgres", "mysql")


class PlaceholderError(ValueError):
    """A query whose placeholders cannot be used as written (mixed styles)."""


@dataclass(frozen=True, slots=True)
class Translated:
    """A query rewritten for one driver.

    ``style`` is ``None`` (no placeholders), ``"positional"`` or ``"named"``; ``names`` lists the named
    parameters in order of first use; ``count`` is the number of ``?``. For ``mysql`` a named
    placeholder becomes a positional ``%s`` (so the statement can be prepared on the server) and
    ``order`` names the argument each one takes. ``reads_only`` is true when the statement's code (literals
    and comments aside) is a ``SELECT``, ``VALUES`` or ``EXPLAIN``, or a ``WITH`` that inserts, updates,
    deletes and replaces nothing; anything else (``PRAGMA`` included) counts as a write.
    """

    query: str
    style: str | None
    names: tuple[str, ...] = ()
    count: int = 0
    order: tuple[str, ...] = ()
    reads_only: bool = False


_WORD = re.compile(r"[A-Za-z_]+")
_READS = frozenset({"SELECT", "VALUES", "EXPLAIN"})
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})


def _reads_only(code: list[str]) -> bool:
    """Whether the code parts of a statement (its text without literals and comments) only read."""
    words = _WORD.findall(" ".join(code))
    if not words:
        return False
    first = words[0].upper()
    if first in _READS:
        return True
    return first == "WITH" and not any(w.upper() in _WRITES for w in words)


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"

# Each pattern matches, in order of preference: a thing to keep as it is (group ``keep``), a cast
# ``::`` (kept), a positional ``?``, a named ``:name``, or a ``%``.
_COMMON_TAIL = rf"|(?P<cast>::)|(?P<qmark>\?)|:(?P<name>{_NAME})|(?P<percent>%)"

_PATTERNS = {
    "sqlite": re.compile(
        r"(?P<keep>'(?:[^']|'')*'"           # string literal
        r'|"(?:[^"]|"")*"'                   # quoted identifier
        r"|`(?:[^`]|``)*`"                   # MySQL-style identifier (SQLite accepts it)
        r"|\[[^\]]*\]"                       # [bracketed identifier]
        r"|--[^\n]*"                         # line comment
        r"|/\*.*?(?:\*/|\Z))"                # block comment
        + _COMMON_TAIL,
        re.DOTALL,
    ),
    "postgres": re.compile(
        r"(?P<keep>[Ee]'(?:[^'\\]|\\.|'')*'"     # E'escape string'
        r"|'(?:[^']|'')*'"                       # standard-conforming string
        r'|"(?:[^"]|"")*"'                       # quoted identifier
        r"|\$(?P<tag>" + _NAME + r")?\$.*?\$(?(tag)(?P=tag))\$"  # dollar-quoted string
        r"|--[^\n]*)"                            # line comment
        r"|(?P<block>/\*)"                       # block comment (nests): scanned by hand
        + _COMMON_TAIL,
        re.DOTALL,
    ),
    "mysql": re.compile(
        r"(?P<keep>'(?:[^'\\]|\\.|'')*'"     # string literal, backslash escapes
        r'|"(?:[^"\\]|\\.|"")*"'             # string literal (without ANSI_QUOTES)
        r"|`(?:[^`]|``)*`"                   # quoted identifier
        r"|#[^\n]*"                          # line comment
        r"|--(?:[ \t\r][^\n]*|$)"            # line comment: needs a space after --
        r"|/\*.*?(?:\*/|\Z))"                # block comment
        + _COMMON_TAIL,
        re.DOTALL | re.MULTILINE,
    ),
}


def _block_end(query: str, start: int) -> int:
    """The end of the PostgreSQL block comment that opens at ``start`` (comments nest)."""
    depth, i, n = 0, start, len(query)
    while i < n:
        pair = query[i:i + 2]
        if pair == "/*":
            depth += 1
            i += 2
        elif pair == "*/":
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


@lru_cache(maxsize=2048)
def translate(query: str, dialect: str) -> Translated:
    """``query`` with its placeholders in the form ``dialect``'s driver takes.

    For ``sqlite`` the text is returned unchanged (the placeholders are only recognised). For
    ``postgres`` and ``mysql``: ``?`` becomes ``%s``, ``:name`` becomes ``%(name)s`` (``%s`` for
    ``mysql``, see ``Translated.order``) and ``%`` becomes ``%%``. Raises ``PlaceholderError`` when a query mixes ``?`` and ``:name``.
    """
    pattern = _PATTERNS.get(dialect)
    if pattern is None:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    rewrite = dialect != "sqlite"
    code: list[str] = []  # the parts that are SQL code, for reads_only
    out: list[str] = []
    names: list[str] = []
    order: list[str] = []
    count = 0
    pos = 0
    n = len(query)
    while pos < n:
        match = pattern.search(query, pos)
        if match is None:
            break
        start, end = match.span()
        kind = match.lastgroup
        if kind == "tag":  # the dollar-quote alternative ends with its optional tag group
            kind = "keep"
        code.append(query[pos:start])
        if rewrite:
            out.append(query[pos:start])
        if kind == "block":
            end = _block_end(query, start)
            text = query[start:end]
            out.append(text.replace("%", "%%") if rewrite else "")
        elif kind in ("keep", "cast"):
            if rewrite:
                out.append(match.group(0).replace("%", "%%"))
        elif kind == "qmark":
            count += 1
            if rewrite:
                out.append("%s")
        elif kind == "name":
            name = match.group("name")
            if name not in names:
                names.append(name)
            order.append(name)
            if rewrite:
                out.append("%s" if dialect == "mysql" else f"%({name})s")
        else:  # percent
            if rewrite:
                out.append("%%")
        pos = end
    if count and names:
        raise PlaceholderError("query mixes ? and :name placeholders; use one style")
    code.append(query[pos:])
    if rewrite:
        out.append(query[pos:])
        text = "".join(out)
    else:
        text = query
    style = "positional" if count else "named" if names else None
    return Translated(text, style, tuple(names), count, tuple(order) if dialect == "mysql" else (),
                      _reads_only(code))


#: How a statement's arguments are bound: no arguments, one list, one map, or a batch of maps.
NONE, POSITIONAL, NAMED, BATCH = "none", "positional", "named", "batch"


def plan(query: str, dialect: str, args: object) -> tuple[Translated, str]:
    """The translated query and how to bind ``args`` to it (``NONE``, ``POSITIONAL``, ``NAMED`` or
    ``BATCH``). Raises ``PlaceholderError`` when the arguments do not fit the placeholders."""
    t = translate(query, dialect)
    if args is None:
        return t, NONE
    if isinstance(args, dict):
        if t.style == "positional":
            raise PlaceholderError("args is a map but the query uses ? placeholders; give a list")
        return t, NAMED
    if isinstance(args, (list, tuple)):
        if t.style == "named":
            if all(isinstance(a, dict) for a in args):  # [] is an empty batch
                return t, BATCH
            raise PlaceholderError("the query uses :name placeholders; give args as a map or a list of maps")
        return t, POSITIONAL
    raise PlaceholderError(f"args must be a list or a map, got {type(args).__name__}")
