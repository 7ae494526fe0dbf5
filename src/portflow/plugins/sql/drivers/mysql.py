"""The ``mysql`` driver (alias ``mariadb``): asyncmy with its connection pool, for MySQL and MariaDB.

``source`` is a URL, ``mysql://user:pass@host:3306/db?charset=utf8mb4``, or Go's DSN as uniflow users
write it, ``user:pass@tcp(host:3306)/db`` (``unix(/path/to/socket)`` works too; Go-only options such as
``parseTime`` are ignored). Options: ``charset`` (default utf8mb4), ``unix_socket``, and ours:
``pool_max`` (default 10) and ``pool_timeout`` (seconds to connect or to wait for a free connection,
default 5).

Statements run as server-side prepared statements (asyncmy's statement cache), so arguments are bound
on the server, never spliced into the text; ``:name`` placeholders are turned into positional ones for
that. A map or list given as an argument is sent as JSON text. The pool opens when the first node on
it loads without connecting, so a database that is down makes statements fail until it is back.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from asyncmy import errors as my_errors
from asyncmy.pool import Pool

from ..params import BATCH, NAMED, NONE, PlaceholderError, plan
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
    row_maker,
    split_options,
)

__all__ = ["MySQLDriver", "MySQLDatabase", "parse_source"]

_OPTIONS = {"pool_min": positive_int, "pool_max": positive_int, "pool_timeout": positive_float,
            "connect_timeout": positive_float}
DEFAULT_POOL_MAX = 10
DEFAULT_POOL_TIMEOUT = 5.0
STATEMENT_CACHE = 128
# Client error numbers that mean the connection is gone (not that the statement was wrong).
_CONNECTION_LOST = {2003, 2006, 2013, 2055}
_GO_DSN = re.compile(r"^(?:(?P<userinfo>[^@]*)@)?(?P<net>tcp|unix)?(?:\((?P<addr>[^)]*)\))?/(?P<db>[^?]*)"
                     r"(?:\?(?P<query>.*))?$")


def parse_source(source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(asyncmy connect arguments, pool options). Raises ``ValueError`` with a one-line reason."""
    if "://" in source:
        parts = urlsplit(source)
        if parts.scheme not in ("mysql", "mariadb"):
            raise ValueError(f"expected a mysql:// URL, got {parts.scheme}://")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port is not a number") from None
        user = unquote(parts.username) if parts.username else "root"
        password = unquote(parts.password) if parts.password else ""
        host, db, query = parts.hostname or "127.0.0.1", unquote(parts.path.lstrip("/")), parts.query
        unix = None
    else:
        match = _GO_DSN.match(source)
        if match is None:
            raise ValueError("expected mysql://user:pass@host:3306/db or user:pass@tcp(host:3306)/db")
        userinfo = match.group("userinfo") or ""
        user, _, password = userinfo.partition(":")
        user = user or "root"
        addr = match.group("addr") or ""
        db, query = match.group("db"), match.group("query") or ""
        unix = None
        host, port = "127.0.0.1", None
        if match.group("net") == "unix":
            unix = addr
        elif addr:
            host, _, port_text = addr.rpartition(":") if ":" in addr else (addr, "", "")
            host = host.strip("[]") or "127.0.0.1"
            if port_text:
                if not port_text.isdigit():
                    raise ValueError("the port is not a number")
                port = int(port_text)
    ours, rest = split_options(parse_qs(query, keep_blank_values=True), _OPTIONS)
    kwargs: dict[str, Any] = {
        "host": host, "port": port or 3306, "user": user, "password": password,
        "charset": (rest.get("charset") or ["utf8mb4"])[-1].split(",")[0],
        "autocommit": True, "stmt_cache_size": STATEMENT_CACHE,
    }
    if db:
        kwargs["db"] = db
    sockets = rest.get("unix_socket")
    unix = unix or (sockets[-1] if sockets else None)
    if unix:
        kwargs["unix_socket"] = unix
    timeout = ours.get("pool_timeout", ours.get("connect_timeout", DEFAULT_POOL_TIMEOUT))
    kwargs["connect_timeout"] = timeout
    pool_max = ours.get("pool_max", DEFAULT_POOL_MAX)
    if pool_max < 1:
        raise ValueError("pool_max must be at least 1")
    return kwargs, {"maxsize": pool_max, "timeout": timeout}


def _bindable(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def _positional(t: Any, mode: str, args: Any) -> Any:
    """Arguments as the positional list the translated query takes."""
    if mode == NONE:
        return None
    if mode == NAMED or (mode == BATCH and isinstance(args, dict)):
        missing = [n for n in t.names if n not in args]
        if missing:
            raise QueryFailed(f"missing argument :{missing[0]}")
        return [_bindable(args[n]) for n in t.order]
    if len(args) != t.count:
        raise QueryFailed(f"the query has {t.count} placeholders but {len(args)} arguments were given")
    return [_bindable(v) for v in args]


def _message(exc: BaseException) -> str:
    if isinstance(exc, my_errors.MySQLError) and len(exc.args) >= 2:
        return str(exc.args[1])
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _lost(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, OSError, asyncio.IncompleteReadError, my_errors.InterfaceError)):
        return True
    return isinstance(exc, my_errors.MySQLError) and bool(exc.args) and exc.args[0] in _CONNECTION_LOST


_ERRORS = (my_errors.MySQLError, ConnectionError, OSError, asyncio.IncompleteReadError)


class MySQLDriver:
    name = "mysql"

    def check(self, source: str) -> None:
        if not source:
            raise ValueError("required: a URL such as mysql://user:pass@host:3306/db")
        parse_source(source)

    def database(self, source: str) -> MySQLDatabase:
        kwargs, pool = parse_source(source)
        return MySQLDatabase(source, kwargs, **pool)


class MySQLDatabase:
    """An asyncmy pool on one source."""

    def __init__(self, source: str, kwargs: dict[str, Any], *, maxsize: int = DEFAULT_POOL_MAX,
                 timeout: float = DEFAULT_POOL_TIMEOUT) -> None:
        self.label = mask_source(source)
        self.pinned = False
        self.kwargs = kwargs
        self.maxsize = maxsize
        self.timeout = timeout
        self.pool: Pool | None = None

    def __repr__(self) -> str:
        return f"<MySQLDatabase {self.label}>"

    async def open(self) -> None:
        # minsize 0: nothing connects now, so a server that is down does not stop the node loading.
        self.pool = Pool(minsize=0, maxsize=self.maxsize, pool_recycle=3600, **self.kwargs)

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        pool.close()
        try:
            async with asyncio.timeout(5.0):
                await pool.wait_closed()
        except TimeoutError:
            pool.terminate()

    async def begin(self, isolation: Isolation | None) -> MySQLTransaction:
        if self.pool is None:
            raise self.closed()
        return MySQLTransaction(self, isolation)

    # -- helpers for the transaction ------------------------------------------------------------------
    def closed(self) -> Unavailable:
        return Unavailable(f"database {self.label} is closed", database=self.label)

    async def acquire(self) -> Any:
        pool = self.pool
        if pool is None:
            raise self.closed()
        try:
            async with asyncio.timeout(self.timeout):
                return await pool.acquire()
        except TimeoutError:
            raise Unavailable(f"database {self.label} is unreachable: no connection within {self.timeout:g}s",
                              database=self.label) from None
        except RuntimeError as exc:  # "Cannot acquire connection after closing pool"
            if "closing" in str(exc):
                raise self.closed() from None
            raise
        except _ERRORS as exc:
            raise Unavailable(f"database {self.label} is unreachable: {_message(exc)}", database=self.label,
                              code=exc.args[0] if exc.args else None) from exc

    def release(self, conn: Any) -> None:
        pool = self.pool
        try:
            if pool is not None:
                pool.release(conn)
            else:
                conn.close()
        except Exception:  # noqa: BLE001 - the pool let go of it meanwhile
            conn.close()

    def error(self, exc: BaseException) -> SQLError:
        code = exc.args[0] if isinstance(exc, my_errors.MySQLError) and exc.args else None
        if _lost(exc):
            return Unavailable(f"database {self.label}: connection lost: {_message(exc)}", database=self.label,
                               code=code)
        return QueryFailed(_message(exc), database=self.label, code=code)


async def _run(conn: Any, query: str, args: Any) -> Rows:
    cur = conn.cursor()
    try:
        await cur.execute(query, args)
        desc = cur.description
        if not desc:
            return None
        rows = await cur.fetchall()
        if not rows:
            return None
        make = row_maker([d[0] for d in desc])
        return [make(row) for row in rows]
    finally:
        await cur.close()


class MySQLTransaction:
    """Takes a connection and starts the transaction with the first statement; gives it back at the end."""

    __slots__ = ("_db", "_isolation", "_conn", "_done")

    def __init__(self, db: MySQLDatabase, isolation: Isolation | None) -> None:
        self._db = db
        self._isolation = isolation
        self._conn: Any = None
        self._done = False

    async def _start(self) -> Any:
        """A connection inside a fresh transaction. A dead pooled connection is replaced."""
        db = self._db
        for attempt in range(db.maxsize + 1):
            conn = await db.acquire()
            try:
                if self._isolation is not None:
                    await _run(conn, f"SET TRANSACTION ISOLATION LEVEL {self._isolation.sql}", None)
                await _run(conn, "START TRANSACTION", None)
            except _ERRORS as exc:
                lost = _lost(exc)
                if lost:
                    conn.close()
                db.release(conn)
                if lost and attempt < db.maxsize:
                    continue
                raise db.error(exc) from exc
            return conn
        raise Unavailable(f"database {db.label} is unreachable", database=db.label)  # pragma: no cover

    async def execute(self, query: str, args: Args) -> Rows:
        db = self._db
        if self._done:
            raise Unavailable("transaction has ended", database=db.label)
        try:
            t, mode = plan(query, "mysql", args)
        except PlaceholderError as exc:
            raise QueryFailed(str(exc), database=db.label) from None
        text = t.query if mode != NONE else query
        try:
            if mode == BATCH:
                batch = [_positional(t, NAMED, item) for item in args]  # type: ignore[union-attr]
            else:
                params = _positional(t, mode, args)
        except QueryFailed as exc:
            raise QueryFailed(exc.message, database=db.label) from None
        if self._conn is None:
            self._conn = await self._start()
        conn = self._conn
        try:
            if mode != BATCH:
                return await _run(conn, text, params)
            out: list[dict[str, Any]] = []
            for item in batch:
                rows = await _run(conn, text, item)
                if rows:
                    out.extend(rows)
            return out or None
        except _ERRORS as exc:
            raise db.error(exc) from exc
        except (TypeError, ValueError) as exc:  # an argument asyncmy cannot send
            raise QueryFailed(f"cannot bind the arguments: {exc}", database=db.label) from exc

    async def _finish(self, commit: bool) -> None:
        if self._done:
            return
        self._done = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if commit:
                await conn.commit()
            else:
                await conn.rollback()
        except _ERRORS as exc:
            conn.close()
            if commit:
                raise self._db.error(exc) from exc
        finally:
            self._db.release(conn)

    async def commit(self) -> None:
        await self._finish(True)

    async def rollback(self) -> None:
        await self._finish(False)

