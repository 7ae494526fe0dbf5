"""The ``internal`` driver's SQL engine: the live tables copied into a fresh SQLite ``:memory:`` database.

Each statement gets its own connection. The tables the statement's text names (``frames``,
``processes``, ``symbols``, ``specs``, ``values``; a name anywhere in the text counts, so nothing is
missed) are filled with the rows the driver hands over; the others exist, empty, with their base
columns. Then the connection is made read-only (``PRAGMA query_only``, an authorizer that allows
reading, functions and recursive CTEs and refuses everything else: writes, DDL, ``PRAGMA``,
``ATTACH``, transactions), limited (``LIMIT_LENGTH``, no attached databases) and watched by a
progress handler that stops a statement running longer than ``BUDGET`` seconds, since it runs on the
event loop's thread. At most ``MAX_ROWS`` rows are answered.

Rows become table rows as uniflow's reflect plugin makes them: the keys of each row map are the
columns (a table's columns are its base columns and every key any row has; a column no row has reads
as NULL, as uniflow's engine reads a missing key), a nested value (map or list) is its JSON text, so the
JSON functions (``json_extract``, ``->>``, ``json_each``...) work on it, and is answered decoded. The
functions uniflow's engine has and SQLite lacks are added: ``concat_ws``, ``nvl``, ``nvl2``, the
aggregates ``bit_and``/``bit_or``/``bit_xor``, ``std``/``stddev``/``stddev_samp``/``stddev_pop`` and
``variance``/``var_samp``/``var_pop``. A
boolean is stored as 1 or 0 (SQL's way) and a column holding only booleans answers ``true``/``false``
when it is read as it is. NULL columns are left out of the answer, as the ``sql`` node does.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import FlowError

__all__ = ["InternalError", "TABLES", "BASE_COLUMNS", "BUDGET", "MAX_ROWS", "named", "run"]

#: The base columns of each table (present even when the table is empty).
BASE_COLUMNS: dict[str, tuple[str, ...]] = {
    "frames": ("process_id", "symbol_id", "port", "input", "output", "time"),
    "processes": ("id", "status", "start_time", "parent_id", "end_time", "error"),
    "symbols": ("id", "kind", "namespace", "name", "annotations", "env", "ports", "loaded", "error"),
    "specs": ("id", "kind", "namespace", "name", "annotations", "env", "ports"),
    "values": ("id", "namespace", "name", "annotations", "data"),
}
TABLES = tuple(sorted(BASE_COLUMNS))

#: Seconds a statement may run (it runs on the event loop's thread) before it is stopped.
BUDGET = 0.5
#: The most rows a statement answers.
MAX_ROWS = 100_000
#: The longest string or blob a statement may make (bytes).
MAX_LENGTH = 64 << 20
#: The most distinct columns a table may have (SQLite's own limit is 2000).
MAX_COLUMNS = 1000
_MISSING_COLUMNS = 32  # columns no row has, added on demand, per statement
_STEPS = 1000  # VM steps between two looks at the clock

_BOOL = "PORTFLOW_BOOL"
sqlite3.register_converter(_BOOL, lambda raw: raw != b"0")

_NAMED = re.compile(r"\b(" + "|".join(TABLES) + r")\b", re.I)
_NO_COLUMN = re.compile(r"no such column: (?:\S+\.)?(\S+)$")

_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE})


class InternalError(FlowError):
    """A statement the ``internal`` driver cannot run; the message is SQLite's, with a hint."""


def named(sql: str) -> set[str]:
    """The tables ``sql`` may read: every table name in its text (an over-estimate, never an under-)."""
    return {m.lower() for m in _NAMED.findall(sql)}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Table:
    """One table's rows as SQLite values, with the texts of its nested cells."""

    def __init__(self, name: str, docs: Sequence[Mapping[str, Any]], pad: str) -> None:
        self.name = name
        columns: dict[str, str] = {c.lower(): c for c in BASE_COLUMNS[name]}
        index = {c: i for i, c in enumerate(columns)}
        kinds: list[set[type]] = [set() for _ in columns]
        self.nested: set[str] = set()
        self._texts: dict[int, str] = {}  # a payload shared by several cells is encoded once
        self.strings: set[str] = set()
        self.rows: list[list[Any]] = []
        for doc in docs:
            row: list[Any] = [None] * len(index)
            for key, value in doc.items():
                if value is None or not isinstance(key, str):
                    continue
                low = key.lower()
                i = index.get(low)
                if i is None:
                    if len(index) >= MAX_COLUMNS:
                        raise InternalError(f"internal: table {name} has more than {MAX_COLUMNS} distinct keys")
                    i = index[low] = len(index)
                    columns[low] = key
                    kinds.append(set())
                    row.append(None)
                if row[i] is not None:
                    continue  # a key that differs from another only in case: the first one wins
                kinds[i].add(type(value))
                row[i] = self._cell(value, pad)
            self.rows.append(row)
        width = len(index)
        for row in self.rows:
            if len(row) < width:
                row.extend([None] * (width - len(row)))
        self.columns = list(columns.values())
        self.types = [_BOOL if k == {bool} else "" for k in kinds]

    def _cell(self, value: Any, pad: str) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value if -(1 << 63) <= value < (1 << 63) else float(value)
        if isinstance(value, str):
            self.strings.add(value)
            return value
        if isinstance(value, (float, bytes)):
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        text = self._texts.get(id(value))
        if text is None:
            text = self._texts[id(value)] = json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                                       default=str) + pad
            self.nested.add(text)
        return text

    def create(self, conn: sqlite3.Connection) -> None:
        cols = ", ".join(f"{_quote(c)} {t}".rstrip() for c, t in zip(self.columns, self.types, strict=True))
        conn.execute(f"CREATE TABLE {_quote(self.name)} ({cols})")
        if self.rows:
            marks = ", ".join("?" * len(self.columns))
            conn.executemany(f"INSERT INTO {_quote(self.name)} VALUES ({marks})", self.rows)


def _tables(docs: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[list[_Table], set[str]]:
    """Every table (the ones not in ``docs`` empty) and the texts of the nested cells. A string cell
    that happens to be the very text of a nested cell is told apart by padding the nested texts with
    JSON whitespace."""
    pad = ""
    while True:
        tables = [_Table(name, docs.get(name, ()), pad) for name in TABLES]
        nested = set().union(*(t.nested for t in tables))
        if not nested or not nested & set().union(*(t.strings for t in tables)):
            return tables, nested
        pad += " "


# -- the functions uniflow's SQL engine (sqlbridge) has and SQLite lacks ---------------------------------

def _concat_ws(sep: Any, *parts: Any) -> Any:
    if sep is None:
        return None
    return str(sep).join(str(p) for p in parts if p is not None)


class _Bits:
    def __init__(self, op: Any, start: int) -> None:
        self.op, self.value = op, start

    def step(self, value: Any) -> None:
        if isinstance(value, int):
            self.value = self.op(self.value, value)

    def finalize(self) -> int:
        return self.value


class _Spread:
    """Variance and standard deviation, of the sample (``ddof`` 1) or of the population (0)."""

    def __init__(self, ddof: int, root: bool) -> None:
        self.ddof, self.root = ddof, root
        self.values: list[float] = []

    def step(self, value: Any) -> None:
        if isinstance(value, (int, float)):
            self.values.append(float(value))

    def finalize(self) -> float | None:
        n = len(self.values)
        if n <= self.ddof:
            return None
        mean = sum(self.values) / n
        var = sum((v - mean) ** 2 for v in self.values) / (n - self.ddof)
        return math.sqrt(var) if self.root else var


def _functions(conn: sqlite3.Connection) -> None:
    conn.create_function("concat_ws", -1, _concat_ws, deterministic=True)
    conn.create_function("nvl", 2, lambda a, b: b if a is None else a, deterministic=True)
    conn.create_function("nvl2", 3, lambda a, b, c: c if a is None else b, deterministic=True)
    # sqlite3 calls the "class" to make each aggregate's state: a partial does as well
    for name, (op, start) in {"bit_and": (operator.and_, -1), "bit_or": (operator.or_, 0),
                              "bit_xor": (operator.xor, 0)}.items():
        conn.create_aggregate(name, 1, functools.partial(_Bits, op, start))
    for name, (ddof, root) in {"std": (1, True), "stddev": (1, True), "stddev_samp": (1, True),
                               "stddev_pop": (0, True), "variance": (1, False), "var_samp": (1, False),
                               "var_pop": (0, False)}.items():
        conn.create_aggregate(name, 1, functools.partial(_Spread, ddof, root))  # type: ignore[arg-type]


def _authorize(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def _connect(tables: list[_Table]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES,
                           check_same_thread=False, cached_statements=0)
    try:
        for table in tables:
            table.create(conn)
        _functions(conn)
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
        conn.set_authorizer(_authorize)
    except BaseException:
        conn.close()
        raise
    return conn


def _add_column(conn: sqlite3.Connection, tables: list[_Table], column: str) -> None:
    """Add ``column`` (all NULL) to every table lacking it: a key no row has reads as NULL."""
    conn.set_authorizer(None)
    conn.execute("PRAGMA query_only = OFF")
    for table in tables:
        if column.lower() not in {c.lower() for c in table.columns}:
            conn.execute(f"ALTER TABLE {_quote(table.name)} ADD COLUMN {_quote(column)}")
            table.columns.append(column)
    conn.execute("PRAGMA query_only = ON")
    conn.set_authorizer(_authorize)


def _message(exc: BaseException, stopped: bool) -> str:
    text = str(exc)
    if stopped:
        return f"internal: the statement ran longer than {BUDGET} s and was stopped"
    if "not authorized" in text or "readonly" in text:
        return f"internal: the tables are read-only; only SELECT (and WITH ... SELECT) runs ({text})"
    if text.startswith("no such table"):
        return f"internal: {text} (tables: {', '.join(TABLES)})"
    if 'near "values"' in text:
        return f"internal: {text} (VALUES is an SQL keyword: write the table's name quoted, `values` or \"values\")"
    return f"internal: {text}"


def run(sql: str, args: Any, docs: Mapping[str, Sequence[Mapping[str, Any]]], bind: Any) -> list[dict[str, Any]]:
    """Run the statement ``sql`` once per argument set in ``args`` (``bind(args)`` makes them what
    sqlite3 takes; a list of maps is a batch) over the tables filled with ``docs``; the row maps,
    NULL columns left out."""
    tables, nested = _tables(docs)
    conn = _connect(tables)
    deadline = 0.0
    stopped = False

    def guard() -> int:
        nonlocal stopped
        if time.perf_counter() > deadline:
            stopped = True
            return 1
        return 0

    conn.set_progress_handler(guard, _STEPS)
    batch = args if isinstance(args, list) and args and all(isinstance(a, dict) for a in args) else [args]
    out: list[dict[str, Any]] = []
    try:
        for one in batch:
            for _ in range(_MISSING_COLUMNS + 1):
                deadline = time.perf_counter() + BUDGET
                try:
                    cur = conn.execute(sql, bind(one))
                    rows = _fetch(cur, nested, MAX_ROWS - len(out))
                    break
                except sqlite3.OperationalError as exc:
                    missing = None if stopped else _NO_COLUMN.search(str(exc))
                    if missing is None:
                        raise
                    _add_column(conn, tables, missing.group(1).strip('"`[]'))
            else:  # pragma: no cover - a statement naming more missing columns than allowed
                raise InternalError(f"internal: the statement names more than {_MISSING_COLUMNS} unknown columns")
            out.extend(rows)
    except (sqlite3.Error, sqlite3.Warning, OverflowError) as exc:
        raise InternalError(_message(exc, stopped)) from None
    finally:
        conn.close()
    return out


def _fetch(cur: sqlite3.Cursor, nested: set[str], room: int) -> list[dict[str, Any]]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    rows = cur.fetchmany(room + 1)
    if len(rows) > room:
        raise InternalError(f"internal: the statement answers more than {MAX_ROWS} rows; add a LIMIT")
    out = []
    for values in rows:
        row = {}
        for name, value in zip(names, values, strict=True):
            if value is None:
                continue
            row[name] = json.loads(value) if type(value) is str and value in nested else value
        out.append(row)
    return out
