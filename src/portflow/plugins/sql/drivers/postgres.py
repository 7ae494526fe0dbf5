"""The ``postgres`` driver (alias ``postgresql``): psycopg 3, asynchronous, with a connection pool.

``source`` is a libpq URL (``postgresql://user:pass@host:5432/db?sslmode=disable``) or a key=value
conninfo string. Three options of ours may be added to a URL's query and are removed before connecting:
``pool_min`` (connections kept open, default 1), ``pool_max`` (default 10) and ``pool_timeout`` (seconds
a statement waits for a connection before it fails as unreachable, default 5).

The pool opens when the first node on it loads, without waiting for the server: a database that is down
makes statements fail (naming the database, password masked) until it is back. A transaction's
``BEGIN`` and its first statement go in one write and come back in one read (libpq's pipeline mode,
driven directly: psycopg's own pipeline writes each command apart and costs more in Python than the round
trip it saves); a first statement seen twice on a connection is prepared there. Later statements go through
a psycopg cursor (which prepares its own), and ``COMMIT``/``ROLLBACK`` are one simple-protocol message
each. A connection found dead when a transaction starts is replaced, and the statement runs on a fresh one.

For those exchanges the driver waits on the socket itself (``_Wire``): it stays registered with the loop
while a transaction holds the connection, and a connection given back healthy is kept for the next
transaction without the pool's check-out (``PostgresDatabase.putconn``), so a one-statement transaction
costs the loop no registration, no timer and two task wake-ups, one per round trip. A task cancelled
while the server works asks the server to cancel too (as psycopg does), then closes the connection rather
than wait for the server's answer.

Arguments are always bound parameters. A map or list nested in an argument is sent as ``jsonb``
(a list at top level of an argument is a PostgreSQL array).
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import error_from_result
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from ..params import BATCH, NONE, PlaceholderError, plan
from . import (
    Args,
    Isolation,
    QueryFailed,
    Rows,
    SQLError,
    Unavailable,
    mask_source,
    positive_float,
    positive_int,
    psycopg_seam,
    row_maker,
    split_options,
)
from .psycopg_seam import PostgresQuery, generators, wait

__all__ = ["PostgresDriver", "PostgresDatabase"]

log = logging.getLogger("portflow.sql")

_OPTIONS = {"pool_min": positive_int, "pool_max": positive_int, "pool_timeout": positive_float}
DEFAULT_POOL_MIN = 1
DEFAULT_POOL_MAX = 10
DEFAULT_POOL_TIMEOUT = 5.0
KEEP_SECONDS = 30.0  # a connection goes back through the pool at least this often (see ``putconn``)


def parse_source(source: str) -> tuple[str, dict[str, Any]]:
    """(conninfo for libpq, our options). Raises ``ValueError`` with a one-line reason."""
    options: dict[str, Any] = {}
    conninfo = source
    if "://" in source:
        parts = urlsplit(source)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError(f"expected a postgres:// or postgresql:// URL, got {parts.scheme}://")
        options, rest = split_options(parse_qs(parts.query, keep_blank_values=True), _OPTIONS)
        conninfo = urlunsplit(parts._replace(query=urlencode(rest, doseq=True)))
    try:
        conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ValueError(_first_line(str(exc)) or "not a valid libpq URL or conninfo") from None
    pool_min = options.get("pool_min", DEFAULT_POOL_MIN)
    pool_max = options.get("pool_max", max(DEFAULT_POOL_MAX, pool_min))
    if pool_max < 1 or pool_max < pool_min:
        raise ValueError("pool_max must be at least 1 and at least pool_min")
    return conninfo, {"min_size": pool_min, "max_size": pool_max,
                      "timeout": options.get("pool_timeout", DEFAULT_POOL_TIMEOUT)}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _message(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return primary or _first_line(str(exc)) or type(exc).__name__


def _adapt(value: Any) -> Any:
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
        return Jsonb(list(value))
    return value


def _params(args: Any) -> Any:
    """``args`` with its maps (and lists holding maps) wrapped as ``jsonb``; ``args`` itself when it has none."""
    values = args.values() if isinstance(args, dict) else args
    if not any(isinstance(v, (dict, list, tuple)) for v in values):
        return args
    if isinstance(args, dict):
        return {k: _adapt(v) for k, v in args.items()}
    return [_adapt(v) for v in args]


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    return row_maker([c.name for c in desc])


_BEGINS: dict[Isolation | None, bytes] = {None: b"BEGIN"}
_BEGINS.update({level: f"BEGIN ISOLATION LEVEL {level.sql}".encode() for level in Isolation})


class PostgresDriver:
    name = "postgres"

    def check(self, source: str) -> None:
        if not source:
            raise ValueError("required: a libpq URL such as postgresql://user@host:5432/db")
        parse_source(source)

    def database(self, source: str) -> PostgresDatabase:
        conninfo, pool = parse_source(source)
        return PostgresDatabase(source, conninfo, **pool)


class PostgresDatabase:
    """A psycopg pool on one source."""

    def __init__(self, source: str, conninfo: str, *, min_size: int = DEFAULT_POOL_MIN,
                 max_size: int = DEFAULT_POOL_MAX, timeout: float = DEFAULT_POOL_TIMEOUT) -> None:
        self.label = mask_source(source)
        self.pinned = False
        self.conninfo = conninfo
        self.min_size, self.max_size, self.timeout = min_size, max_size, timeout
        self.pool: AsyncConnectionPool | None = None
        #: Connections a transaction gave back, which the next one takes first, past the pool's check-out
        #: and return (see ``putconn``); still watched (``_Wire``), so the server closing one is seen.
        self.idle: list[psycopg.AsyncConnection] = []
        self._waiting = 0  # statements waiting on the pool for a connection
        #: Why the last connection attempt failed (None once one succeeds): told when a statement waits in vain.
        self.last_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<PostgresDatabase {self.label}>"

    def _connection_class(self) -> type[psycopg.AsyncConnection]:
        database = self

        class Connection(psycopg.AsyncConnection):
            wire: _Wire

            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Any:
                try:
                    conn = await super().connect(*args, **kwargs)
                except Exception as exc:
                    database.last_error = exc
                    raise
                database.last_error = None
                conn.wire = _Wire(conn)
                return conn

        return Connection

    async def open(self) -> None:
        psycopg_seam.check()  # the internals the first statement's pipeline uses: refused by version
        pool = AsyncConnectionPool(
            self.conninfo,
            connection_class=self._connection_class(),
            kwargs={"autocommit": True},
            min_size=self.min_size,
            max_size=self.max_size,
            timeout=self.timeout,
            reconnect_timeout=max(10.0, 2 * self.timeout),
            open=False,
            name=f"portflow-sql {self.label}",
        )
        await pool.open(wait=False)
        self.pool = pool

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        idle, self.idle = self.idle, []
        for conn in idle:
            await _close(conn)
        if pool is not None:
            await pool.close(timeout=5.0)

    async def begin(self, isolation: Isolation | None) -> PostgresTransaction:
        if self.pool is None:
            raise self.closed()
        return PostgresTransaction(self, _BEGINS[isolation])

    # -- helpers for the transaction ------------------------------------------------------------------
    def closed(self) -> Unavailable:
        return Unavailable(f"database {self.label} is closed", database=self.label)

    async def getconn(self) -> psycopg.AsyncConnection:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.pgconn.status == ConnStatus.OK:
                return conn
            await self._return(conn)  # closed by the server while it waited: the pool replaces it
        pool = self.pool
        if pool is None:
            raise self.closed()
        self._waiting += 1
        try:
            conn = await pool.getconn()
            conn.wire.taken = monotonic()  # type: ignore[attr-defined]
            return conn
        except PoolClosed:
            raise self.closed() from None
        except PoolTimeout as exc:
            cause = self.last_error
            reason = _message(cause) if cause is not None else f"no connection within {self.timeout:g}s"
            raise Unavailable(f"database {self.label} is unreachable: {reason}", database=self.label) from exc
        finally:
            self._waiting -= 1

    async def putconn(self, conn: psycopg.AsyncConnection) -> None:
        """Give a connection back when its transaction has ended. A healthy one is kept for the next
        transaction (at most ``min_size`` of them, the pool's own floor) while no statement waits on the
        pool and for ``KEEP_SECONDS`` after it left the pool, which then sees it again (its lifetime and
        idle rules)."""
        if (len(self.idle) < self.min_size and not self._waiting and self.pool is not None
                and conn.pgconn.transaction_status == TransactionStatus.IDLE
                and monotonic() - conn.wire.taken < KEEP_SECONDS):  # type: ignore[attr-defined]
            self.idle.append(conn)
            return
        await self._return(conn)

    async def _return(self, conn: psycopg.AsyncConnection) -> None:
        _unwatch(conn)
        pool = self.pool
        if pool is None:
            await conn.close()
            return
        try:
            await pool.putconn(conn)
        except Exception:  # noqa: BLE001 - a pool closed meanwhile
            await conn.close()

    def error(self, exc: psycopg.Error, conn: psycopg.AsyncConnection | None) -> SQLError:
        if conn is not None and (conn.broken or conn.closed) and not isinstance(exc, psycopg.NotSupportedError):
            return Unavailable(f"database {self.label}: connection lost: {_message(exc)}", database=self.label,
                               code=getattr(exc, "sqlstate", None))
        return QueryFailed(_message(exc), database=self.label, code=getattr(exc, "sqlstate", None))


async def _send(cur: psycopg.AsyncCursor, query: str, args: Any, mode: str) -> None:
    if mode == NONE:
        await cur.execute(query)
    elif mode == BATCH:
        await cur.executemany(query, [_params(a) for a in args], returning=True)
    else:
        await cur.execute(query, _params(args))


async def _run(conn: psycopg.AsyncConnection, query: str, args: Any, mode: str) -> Rows:
    """Run one statement of an open transaction through a cursor."""
    _unwatch(conn)  # the cursor waits on the socket in psycopg's way
    cur = conn.cursor(row_factory=_row_factory)
    try:
        await _send(cur, query, args, mode)
        if mode == BATCH:
            out: list[dict[str, Any]] = []
            while True:
                if cur.description is not None:
                    out.extend(await cur.fetchall())
                if not cur.nextset():
                    break
            return out or None
        if cur.description is None:
            return None
        rows = await cur.fetchall()
        return rows or None
    finally:
        await cur.close()


_COPY = (ExecStatus.COPY_IN, ExecStatus.COPY_OUT, ExecStatus.COPY_BOTH)
_OK = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK, ExecStatus.EMPTY_QUERY)

PREPARED_MAX = 64  # first statements a connection prepares in its life (psycopg's cursors prepare theirs)
QUERIES_MAX = 256  # converted queries a connection keeps (all dropped when it is full)
_Key = tuple[bytes, tuple[int, ...]]
_REPREPARE = ("26000", "0A000")  # prepared statement gone (DISCARD ALL); its result type changed (ALTER TABLE)


class _Statements:
    """What one connection prepared for transactions' first statements: a statement seen a second time
    is prepared (the server then parses and plans it once). At most ``PREPARED_MAX`` in a connection's
    life (the pool renews its connections), so none needs closing."""

    __slots__ = ("names", "seen", "made")

    def __init__(self) -> None:
        self.names: dict[_Key, bytes] = {}
        self.seen: dict[_Key, None] = {}  # seen once, oldest first
        self.made = 0

    def plan(self, key: _Key) -> tuple[bytes | None, bool]:
        """(the name to run the statement under, None for unnamed; whether to prepare it now)."""
        name = self.names.get(key)
        if name is not None or self.made >= PREPARED_MAX:
            return name, False
        if key not in self.seen:
            self.seen[key] = None
            if len(self.seen) > 4 * PREPARED_MAX:
                del self.seen[next(iter(self.seen))]
            return None, False
        self.made += 1
        return f"_pf_{self.made}".encode(), True

    def prepared(self, key: _Key, name: bytes) -> None:
        self.seen.pop(key, None)
        self.names[key] = name

    def forget(self) -> None:
        """Run them unnamed from now on: the server dropped them, or their plan no longer fits."""
        self.names.clear()


class _Wire:
    """What portflow keeps on one connection for the exchanges it drives itself (a transaction's
    ``BEGIN`` with its first statement, ``COMMIT``, ``ROLLBACK``): the statements it prepared; the
    queries it converted, with a ``Transformer`` of its own that keeps its dumpers and loaders (a
    connection serves one transaction at a time, so one is enough; a statement that changes the
    connection's ``client_encoding`` makes a new one); and the watch on its socket.

    The socket is watched from a transaction's first wait until the connection leaves the
    transaction (``unwatch``: back to the pool, closed, or lent to a psycopg cursor, which waits in its
    own way), so its ``COMMIT`` costs no new registration with the loop. The loop's callback reads what
    arrived and wakes the waiting task only once a whole result is in; what arrives while nobody waits
    (a notice, the server closing the connection) is read into libpq's buffer, and a connection that
    failed is no longer watched."""

    __slots__ = ("conn", "statements", "transformer", "queries", "encoding", "loop", "fd", "waiter", "taken")

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self.statements = _Statements()
        self.encoding = conn.pgconn.parameter_status(b"client_encoding")
        self.transformer = Transformer(conn)
        self.queries: dict[tuple[str, bool], PostgresQuery] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # watching the socket on this loop
        self.fd = -1
        self.waiter: asyncio.Future[None] | None = None
        self.taken = 0.0  # when a transaction last took it from the pool (monotonic)

    def convert(self, query: str, params: Any) -> PostgresQuery:
        """``query`` with ``params`` (None: none) in PostgreSQL's form; the query part is converted once."""
        encoding = self.conn.pgconn.parameter_status(b"client_encoding")
        if encoding != self.encoding:
            self.encoding = encoding
            self.transformer = Transformer(self.conn)
            self.queries.clear()
        key = (query, params is None)
        pgq = self.queries.get(key)
        if pgq is None:
            pgq = PostgresQuery(self.transformer)
            pgq.convert(query, params)
            if len(self.queries) >= QUERIES_MAX:
                self.queries.clear()
            self.queries[key] = pgq
        else:
            pgq.dump(params)
        return pgq

    def received(self) -> asyncio.Future[None]:
        """A future done when libpq holds a whole result (call while ``pgconn.is_busy()``)."""
        loop = self.loop
        if loop is None:
            loop = asyncio.get_running_loop()
            self.fd = self.conn.pgconn.socket
            loop.add_reader(self.fd, self._readable)
            self.loop = loop
        waiter = self.waiter = loop.create_future()
        return waiter

    def _readable(self) -> None:
        pgconn = self.conn.pgconn
        waiter = self.waiter
        try:
            pgconn.consume_input()
        except Exception as exc:  # noqa: BLE001 - the connection failed: whoever waits is told
            self.unwatch()
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter is not None and not waiter.done() and not pgconn.is_busy():
            self.waiter = None
            waiter.set_result(None)

    def unwatch(self) -> None:
        """Stop watching the socket (before the connection goes back, closes, or psycopg uses it)."""
        loop, self.loop = self.loop, None
        self.waiter = None
        if loop is not None:
            loop.remove_reader(self.fd)


def _unwatch(conn: psycopg.AsyncConnection) -> None:
    wire: _Wire | None = getattr(conn, "wire", None)
    if wire is not None:
        wire.unwatch()


async def _close(conn: psycopg.AsyncConnection) -> None:
    _unwatch(conn)
    if not conn.closed:
        await conn.close()


async def _exchange(conn: psycopg.AsyncConnection, pipeline: bool) -> list[pq.abc.PGresult]:
    """Send what libpq holds, then read the results: up to the sync point in pipeline mode, else up to
    the end of the command. Cancelled while the server works, it asks the server to cancel too (as psycopg
    does); the caller then closes the connection, whose state is unknown."""
    pgconn = conn.pgconn
    wire: _Wire = conn.wire  # type: ignore[attr-defined]
    try:
        if pgconn.flush():  # the socket's buffer is full: let psycopg write the rest as it can
            wire.unwatch()
            await wait(conn, generators.send(pgconn))
        results: list[pq.abc.PGresult] = []
        while True:
            while pgconn.is_busy():
                await wire.received()
            result = pgconn.get_result()
            if result is None:  # the end of one command's results
                if pipeline:
                    continue
                break
            status = result.status
            if status == ExecStatus.PIPELINE_SYNC:
                break
            if status in _COPY:
                raise psycopg.NotSupportedError("COPY is not supported by the sql node")
            results.append(result)
        while pgconn.notifies() is not None:  # nobody listens on a pool's connection
            pass
        return results
    except asyncio.CancelledError:
        if pgconn.transaction_status == TransactionStatus.ACTIVE:
            try:
                await conn.cancel_safe(timeout=5.0)
            except Exception as exc:  # noqa: BLE001 - the connection is closed next anyway
                log.warning("cancelling a statement on %s failed: %s", conn, exc)
        raise
    except OSError as exc:
        raise psycopg.OperationalError(f"connection socket closed: {exc}") from exc


async def _begin(conn: psycopg.AsyncConnection, begin: bytes, query: str | None, args: Any, mode: str) -> Rows:
    """Send ``begin`` and, unless ``query`` is None, a statement, in one write (libpq's pipeline mode);
    read their results in one wait. A failure half way closes the connection, whose state is then unknown.

    The transaction owns the connection (checked out of the pool, its statements taking turns), so
    nothing else uses it meanwhile and psycopg's own lock is not needed."""
    wire: _Wire = conn.wire  # type: ignore[attr-defined]
    statements = wire.statements
    name: bytes | None = None
    prepare = False
    if query is not None:
        pgq = wire.convert(query, None if mode == NONE else _params(args))
        key = (pgq.query, pgq.types)
        name, prepare = statements.plan(key)
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    try:
        pgconn.send_query_params(begin, None)
        if query is not None:
            if name is None:
                pgconn.send_query_params(pgq.query, pgq.params, param_types=pgq.types, param_formats=pgq.formats)
            else:
                if prepare:
                    pgconn.send_prepare(name, pgq.query, param_types=pgq.types)
                pgconn.send_query_prepared(name, pgq.params, param_formats=pgq.formats)
        pgconn.pipeline_sync()
        results = await _exchange(conn, True)
        pgconn.exit_pipeline_mode()
    except BaseException:
        await _close(conn)  # one found dead stays ``broken``: the caller tries a fresh one
        raise
    if prepare and results[-2].status == ExecStatus.COMMAND_OK:
        statements.prepared(key, name)  # type: ignore[arg-type]
    for result in results:
        if result.status not in _OK:
            exc = error_from_result(result, encoding=wire.transformer.encoding)
            if name is not None and exc.sqlstate in _REPREPARE:
                # Only BEGIN and this statement ran: roll back and run it again, unnamed.
                statements.forget()
                await _command(conn, b"ROLLBACK")
                return await _begin(conn, begin, query, args, mode)
            raise exc
    result = results[-1]
    if query is None or result.status != ExecStatus.TUPLES_OK or not result.ntuples:
        return None
    tx = wire.transformer
    tx.set_pgresult(result)
    names = [(result.fname(i) or b"").decode(tx.encoding) for i in range(result.nfields)]
    return tx.load_rows(0, result.ntuples, row_maker(names))


async def _command(conn: psycopg.AsyncConnection, command: bytes) -> None:
    """Run a bare command such as ``COMMIT`` (one simple-protocol message, no cursor); raise what failed.
    Cancelled or failed half way, the connection is closed (its state is unknown)."""
    pgconn = conn.pgconn
    try:
        pgconn.send_query(command)
        results = await _exchange(conn, False)
    except BaseException:
        await _close(conn)
        raise
    for result in results:
        if result.status != ExecStatus.COMMAND_OK:
            raise error_from_result(result, encoding=conn.wire.transformer.encoding)  # type: ignore[attr-defined]


class PostgresTransaction:
    """Takes a connection and sends ``BEGIN`` with the first statement, in the same round trip (a
    pipeline); gives the connection back at the end."""

    __slots__ = ("_db", "_begin", "_conn", "_done")

    def __init__(self, db: PostgresDatabase, begin: bytes) -> None:
        self._db = db
        self._begin = begin
        self._conn: psycopg.AsyncConnection | None = None
        self._done = False

    async def execute(self, query: str, args: Args) -> Rows:
        db = self._db
        if self._done:
            raise Unavailable("transaction has ended", database=db.label)
        try:
            t, mode = plan(query, "postgres", args)
        except PlaceholderError as exc:
            raise QueryFailed(str(exc), database=db.label) from None
        text = t.query if mode != NONE else query
        conn = self._conn
        if conn is not None:
            try:
                return await _run(conn, text, args, mode)
            except psycopg.Error as exc:
                raise db.error(exc, conn) from exc
        # The first statement: take a connection, send BEGIN and the statement in one round trip (a batch
        # goes through a cursor after BEGIN). A connection that turns out dead is replaced; nothing was
        # committed on it, so running again is safe.
        for attempt in range(db.max_size + 1):
            conn = await db.getconn()
            try:
                if mode == BATCH:
                    await _begin(conn, self._begin, None, None, mode)
                    rows = await _run(conn, text, args, mode)
                else:
                    rows = await _begin(conn, self._begin, text, args, mode)
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    await db.putconn(conn)
                    if conn.broken and attempt < db.max_size:  # found dead, not closed by us
                        continue
                elif conn.info.transaction_status == TransactionStatus.IDLE:  # BEGIN did not take
                    await db.putconn(conn)
                else:  # begun, then the statement failed: the transaction ends with the process
                    self._conn = conn
                raise db.error(exc, conn) from exc
            except BaseException:  # cancelled: a connection closed half way goes back (the pool drops it)
                if conn.closed:
                    await db.putconn(conn)
                else:
                    self._conn = conn
                raise
            self._conn = conn
            return rows
        raise Unavailable(f"database {db.label} is unreachable", database=db.label)  # pragma: no cover

    async def _finish(self, command: bytes) -> None:
        if self._done:
            return
        self._done = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not (conn.broken or conn.closed):
                await _command(conn, command)
            elif command == b"COMMIT":
                raise Unavailable(f"database {self._db.label}: connection lost before COMMIT; the transaction "
                                  "was rolled back", database=self._db.label)
        except psycopg.Error as exc:
            raise self._db.error(exc, conn) from exc
        finally:
            await self._db.putconn(conn)

    async def commit(self) -> None:
        await self._finish(b"COMMIT")

    async def rollback(self) -> None:
        await self._finish(b"ROLLBACK")
