"""The ``internal`` SQL driver: the live runtime and its store as read-only tables (reference §8, reflect).

Use it with the ``sql`` node (``driver: internal``). Tables and their columns (the keys of each row; a
key whose value is null is left out, as the ``sql`` node leaves out NULL columns):

=============  ============================================================================================
``specs``      the store's spec documents, every namespace: ``id, kind, namespace, name, annotations, env,
               ports`` and each kind's own fields
``values``     the store's values, every namespace: ``id, namespace, name, annotations, data``
``symbols``    the runtime's symbols: the spec as stored (templates unrendered, so no secret a binding
               filled in shows), plus ``loaded`` (bool) and ``error`` (why it is not running, if it is not)
``processes``  the runtime's live processes: ``id, status`` (0 running, 1 terminated), ``start_time``
               (unix seconds), ``parent_id``, ``end_time``, ``error``, and the process's data keys
``frames``     the hops of the live processes: ``process_id, symbol_id, port, input, output, time``
               (``time``: how long the hop took, as a Go duration, once it has answered)
=============  ============================================================================================

Processes and frames are seen by an *agent* that the driver attaches to its runtime the first time it
is used there: it wraps the in-ports of the runtime's linked symbols (those loaded later too, through a
load hook) and forgets a process, with its frames, when the process exits. Runtimes that never use the
driver pay nothing.

The SQL is a small subset, enough for introspection::

    SELECT * | col [, col ...] FROM table
        [WHERE col = value [AND col = value ...]] [LIMIT n] [;]

``value`` is ``?`` (the next positional argument), ``:name`` (a named argument), a ``'string'``, a
number, ``true``, ``false`` or ``null``; ``col != value``, ``col <> value``, ``col IS NULL`` and ``col IS
NOT NULL`` work too. ``=`` never matches a null or missing column, as in SQL. Keywords are
case-insensitive; names may be double-quoted. Anything else (joins, ORDER BY, writes) is an error naming
what is supported.
"""

from __future__ import annotations

import functools
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import FlowError, UserError
from ...packet import Packet
from ...process import TERMINATED, Process
from ...spec import format_duration
from ...store.base import json_eq

__all__ = ["Internal", "InternalError", "InternalDriver", "Query", "parse", "Agent", "TABLES", "agent_for", "follow",
           "register"]

TABLES = ("frames", "processes", "specs", "symbols", "values")
#: The most frames kept per process (the oldest go first), so a long process cannot grow without bound.
MAX_FRAMES = 1000
_AGENT_KEY = "system.agent"


class InternalError(FlowError):
    """A query the ``internal`` driver cannot run: it names the problem and what is supported."""


# -- parsing ---------------------------------------------------------------------------------------------

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
_MISSING = object()


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
    columns: list[str] | None = []
    if peek() == ("op", "*"):
        take()
        columns = None
    else:
        while True:
            columns.append(name())
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


def _resolve(ref: Ref, args: Any) -> Any:
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


# -- the agent: live processes and frames ----------------------------------------------------------------

@dataclass(slots=True)
class _Frame:
    symbol_id: str
    port: str
    input: Any
    output: Any = _MISSING
    start: float = field(default_factory=time.monotonic)
    end: float | None = None


def _plain(value: Any) -> Any:
    """A payload as a table cell: errors as their message, other non-JSON values as their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value)


class Agent:
    """Follows one runtime's processes and frames by wrapping the in-ports its symbols link to."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.processes: dict[str, Process] = {}
        self.frames: dict[str, list[_Frame]] = {}

    def sync(self) -> None:
        """Wrap every linked in-port of the table that is not wrapped yet."""
        for sb in self.table:
            if sb.node is None:
                continue
            for _, ref, target in self.table.targets(sb):
                if target is None or target.node is None:
                    continue
                inport = target.node.inport(ref.port)
                if inport is not None and getattr(inport.handler, "_portflow_agent", None) is not self:
                    inport.handler = self._wrap(inport.handler, target.id, inport.name)

    def _wrap(self, handler: Callable[[Process, Packet], Awaitable[Packet]], symbol_id: str,
              port: str) -> Callable[[Process, Packet], Awaitable[Packet]]:
        agent = self

        async def recorded(proc: Process, pck: Packet) -> Packet:
            frame = agent._enter(proc, symbol_id, port, pck)
            if frame is None:
                return await handler(proc, pck)
            try:
                answer = await handler(proc, pck)
            except BaseException as exc:
                frame.output, frame.end = exc, time.monotonic()
                raise
            frame.output, frame.end = answer.payload, time.monotonic()
            return answer

        recorded._portflow_agent = agent  # type: ignore[attr-defined]
        return recorded

    def _enter(self, proc: Process, symbol_id: str, port: str, pck: Packet) -> _Frame | None:
        if proc.status == TERMINATED:
            return None
        self._track(proc)
        frames = self.frames.setdefault(proc.id, [])
        frame = _Frame(symbol_id, port, pck.payload)
        frames.append(frame)
        if len(frames) > MAX_FRAMES:
            del frames[: len(frames) - MAX_FRAMES]
        return frame

    def _track(self, proc: Process) -> None:
        p: Process | None = proc
        while p is not None and p.status != TERMINATED and p.id not in self.processes:
            self.processes[p.id] = p
            p.on_exit(self._forget)
            p = p.parent

    def _forget(self, proc: Process) -> None:
        self.processes.pop(proc.id, None)
        self.frames.pop(proc.id, None)

    # -- rows ---------------------------------------------------------------------------------------
    def process_rows(self) -> list[dict[str, Any]]:
        rows = []
        for proc in list(self.processes.values()):
            row: dict[str, Any] = {}
            try:
                data = proc.data()
            except Exception:  # noqa: BLE001 - data is best effort
                data = {}
            for key, value in data.items():
                if isinstance(key, str) and (value is None or isinstance(value, (bool, int, float, str, list, dict))):
                    row[key] = _plain(value)
            row.update({"id": proc.id, "status": proc.status, "start_time": int(proc.start_time)})
            if proc.parent is not None:
                row["parent_id"] = proc.parent.id
            if proc.end_time is not None:
                row["end_time"] = int(proc.end_time)
            if proc.error is not None:
                row["error"] = str(proc.error)
            rows.append(row)
        return rows

    def frame_rows(self) -> list[dict[str, Any]]:
        rows = []
        for process_id, frames in list(self.frames.items()):
            for f in list(frames):
                row: dict[str, Any] = {"process_id": process_id, "symbol_id": f.symbol_id, "port": f.port,
                                       "input": _credentials_hidden(_plain(f.input))}
                if f.output is not _MISSING:
                    row["output"] = _credentials_hidden(_plain(f.output))
                if f.end is not None:
                    row["time"] = format_duration(f.end - f.start, 1e-6)
                rows.append(row)
        return rows


#: Request and response headers whose values the frames table never shows.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def _credentials_hidden(payload: Any) -> Any:
    """An HTTP payload with the values of credential headers replaced by ``***``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("header"), dict):
        return payload
    header = {k: (["***"] if str(k).lower() in CREDENTIAL_HEADERS else v) for k, v in payload["header"].items()}
    return {**payload, "header": header}


_agents: weakref.WeakSet[Agent] = weakref.WeakSet()


def agent_for(runtime: Any) -> Agent:
    """The agent of ``runtime``, attached (and synced with its table) on first use."""
    shared = runtime.context.shared
    agent = shared.get(_AGENT_KEY)
    if agent is None:
        agent = shared[_AGENT_KEY] = Agent(runtime.table)
        _agents.add(agent)
    agent.sync()
    return agent


def follow(symbol: Any) -> None:
    """Load hook: let the agents of the symbol's table wrap the in-ports it brought."""
    for agent in list(_agents):
        if agent.table.get(symbol.id) is symbol:
            agent.sync()


# -- the driver ------------------------------------------------------------------------------------------

def _row(doc: dict[str, Any], columns: tuple[str, ...] | None) -> dict[str, Any]:
    if columns is None:
        return {k: v for k, v in doc.items() if v is not None}
    return {c: doc[c] for c in columns if doc.get(c) is not None}


def _holds(doc: dict[str, Any], cond: Condition, value: Any) -> bool:
    current = doc.get(cond.column)
    if cond.op == "is null":
        return current is None
    if cond.op == "is not null":
        return current is not None
    if current is None or value is None:
        return False  # SQL: a comparison with NULL is never true
    same = json_eq(current, value)
    return same if cond.op == "=" else not same


class Internal:
    """The driver's connection to one runtime: ``await query(sql, args)`` answers a list of row maps."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        q = parse(sql)
        values = [(cond, None if cond.op.startswith("is") else _resolve(cond.value, args)) for cond in q.where]
        limit = None
        if q.limit is not None:
            limit = _resolve(q.limit, args)
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InternalError(f"internal: LIMIT must be a whole number >= 0, got {limit!r}")
        rows = await self._rows(q.table, values)
        out = []
        for doc in rows:
            if all(_holds(doc, cond, value) for cond, value in values):
                out.append(_row(doc, q.columns))
                if limit is not None and len(out) >= limit:
                    break
        return out

    async def _rows(self, table: str, where: list[tuple[Condition, Any]]) -> list[dict[str, Any]]:
        runtime = self.runtime
        if table in ("specs", "values"):
            pushed = {c.column: v for c, v in where if c.op == "=" and v is not None
                      and c.column in ("id", "namespace", "name", "kind") and isinstance(v, str)}
            collection = runtime.store.specs if table == "specs" else runtime.store.values
            return await collection.find(pushed)
        if table == "symbols":
            return await self._symbols()
        agent = agent_for(runtime)
        return agent.process_rows() if table == "processes" else agent.frame_rows()

    async def _symbols(self) -> list[dict[str, Any]]:
        runtime = self.runtime
        symbols = list(runtime.table)
        stored = {d["id"]: d for d in await runtime.store.specs.find({"id": [sb.id for sb in symbols]})} \
            if symbols else {}
        rows = []
        for sb in symbols:
            doc = dict(stored.get(sb.id) or {"id": sb.id, "kind": sb.kind, "namespace": sb.namespace,
                                             "name": sb.name or None})
            doc["loaded"] = sb.loaded
            if sb.error:
                doc["error"] = sb.error
            elif sb.node is not None and not sb.loaded:
                doc["error"] = "inactive: waiting for the nodes it connects to"
            rows.append(doc)
        return rows


# -- the sql plugin's view: driver, database, transaction -------------------------------------------------

class InternalTransaction:
    """Statements on the live runtime. Nothing to commit: the tables are read-only."""

    def __init__(self, conn: Internal) -> None:
        self.conn = conn

    async def execute(self, query: str, args: Any) -> list[dict[str, Any]] | None:
        from ..sql.drivers import QueryFailed

        try:
            if isinstance(args, list) and args and all(isinstance(a, dict) for a in args):
                rows = [row for one in args for row in await self.conn.query(query, one)]  # a batch
            else:
                rows = await self.conn.query(query, args)
        except InternalError as exc:
            raise QueryFailed(str(exc), database="internal") from None
        return rows or None

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        return None


class InternalDatabase:
    """The runtime as a database: opening and closing cost nothing."""

    label = "internal"
    pinned = False

    def __init__(self, runtime: Any) -> None:
        self.conn = Internal(runtime)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def begin(self, isolation: Any = None) -> InternalTransaction:
        return InternalTransaction(self.conn)


class InternalDriver:
    """The ``internal`` driver. Registered unbound; ``bind(context)`` gives the one for a runtime."""

    name = "internal"

    def __init__(self, runtime: Any = None) -> None:
        self.runtime = runtime

    def check(self, source: str) -> None:
        """Any source is fine: the driver reads the runtime it runs in (``source`` is ignored)."""

    def bind(self, context: Any) -> InternalDriver:
        if self.runtime is not None:
            return self
        runtime = context.shared.get("runtime")
        if runtime is None:
            raise UserError("driver: internal reads a running runtime, and this spec is not compiled by one")
        if getattr(runtime, "table", None) is not None and getattr(runtime, "context", None) is not None:
            agent_for(runtime)  # attach now, so the processes of the symbols loading next are seen
        return InternalDriver(runtime)

    def database(self, source: str) -> InternalDatabase:
        if self.runtime is None:
            from ..sql.drivers import Unavailable

            raise Unavailable("internal: the driver is not bound to a runtime", database="internal")
        return InternalDatabase(self.runtime)


@functools.cache
def _binding_codec() -> type:
    """A subclass of the sql plugin's codec that binds a driver with ``bind(context)`` to the runtime
    compiling the spec (``compile_sql`` does not pass the context to drivers; see docs/system.md)."""
    from ..sql.node import SQLCodec

    class BindingSQLCodec(SQLCodec):
        def __init__(self, inner: Any) -> None:
            super().__init__(inner.drivers)
            self.inner = inner

        def __call__(self, spec: Any, context: Any) -> Any:
            node = self.inner(spec, context)
            bind = getattr(node.driver, "bind", None)
            if bind is not None:
                node.driver = bind(context)
            return node

    return BindingSQLCodec


def register(scheme: Any) -> bool:
    """Add ``internal`` to the ``sql`` kind's drivers. False (and nothing done) without the sql plugin."""
    try:
        from ..sql import drivers_of
    except ImportError:  # pragma: no cover - the sql plugin is not installed
        return False
    kind = scheme.kind("sql")
    drivers = drivers_of(scheme)
    if kind is None or drivers is None:
        return False
    drivers.register(InternalDriver())
    codec_class = _binding_codec()
    if not isinstance(kind.codec, codec_class):
        scheme.register(kind.name, kind.spec, codec_class(kind.codec), description=kind.description,
                        ports=kind.ports, example=kind.example, aliases=kind.aliases, plugin=kind.plugin)
    return True
