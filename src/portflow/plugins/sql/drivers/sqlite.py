"""The ``sqlite`` driver (alias ``sqlite3``): the standard library's sqlite3 on one thread per database.

``source`` is a file path, a ``file:`` URI, or ``:memory:``. Every call runs on the database's own
thread, so the event loop never blocks. One connection serves the whole runtime, so transactions take
turns: a transaction holds the connection from its first statement until its commit or rollback (the
``sql`` node makes that one transaction per process). ``BEGIN`` is sent with the first statement in the
same trip to the thread.

SQLite transactions are always serializable; ``isolation: serializable`` starts them with ``BEGIN
IMMEDIATE`` (the write lock is taken at once, so two workers on one file cannot deadlock upgrading
their locks), the weaker levels with a plain ``BEGIN``. Connections enforce foreign keys and wait up to
5 s for a lock held by another OS process.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..params import BATCH, PlaceholderError, plan
from . import Args, Isolation, QueryFailed, Rows, Unavailable, row_maker

__all__ = ["SQLiteDriver", "SQLiteDatabase"]

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000
CLOSE_TIMEOUT = 5.0


class SQLiteDriver:
    name = "sqlite"

    def check(self, source: str) -> None:
        if not source:
            raise ValueError("required: a file path, a file: URI or :memory:")
        if "\x00" in source:
            raise ValueError("contains a NUL character")

    def database(self, source: str) -> SQLiteDatabase:
        self.check(source)
        return SQLiteDatabase(source)


def _bindable(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bytes, bool):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _bind(args: Any) -> Any:
    if args is None:
        return ()
    if isinstance(args, dict):
        return {k: _bindable(v) for k, v in args.items()}
    return [_bindable(v) for v in args]


def _fetch(cur: sqlite3.Cursor) -> Rows:
    desc = cur.description
    if desc is None:
        return None
    rows = cur.fetchall()
    if not rows:
        return None
    make = row_maker([d[0] for d in desc])
    return [make(row) for row in rows]


class SQLiteDatabase:
    """One connection on one thread."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.label = source
        self.pinned = source == MEMORY
        self._conn: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._turn = asyncio.Lock()  # who owns the connection's transaction
        self._closed = False

    def __repr__(self) -> str:
        return f"<SQLiteDatabase {self.label}>"

    # -- running on the database's thread ----------------------------------------------------------
    def _submit(self, fn: Any, *args: Any) -> asyncio.Future:
        """Queue ``fn(*args)`` on the database's thread (calls run in the order they were queued)."""
        thread = self._thread
        if thread is None or self._closed:
            raise Unavailable(f"database {self.label} is closed", database=self.label)
        try:
            return asyncio.get_running_loop().run_in_executor(thread, fn, *args)
        except RuntimeError as exc:  # the executor was shut down under us
            if "shutdown" in str(exc):
                raise Unavailable(f"database {self.label} is closed", database=self.label) from None
            raise

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await self._wait(self._submit(fn, *args))

    async def _wait(self, fut: asyncio.Future) -> Any:
        try:
            return await fut
        except sqlite3.ProgrammingError as exc:
            if "closed" in str(exc):
                raise Unavailable(f"database {self.label} is closed", database=self.label) from None
            raise QueryFailed(str(exc), database=self.label) from exc
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc):
                raise Unavailable(f"database {self.label} cannot be opened: {exc}", database=self.label) from exc
            raise QueryFailed(str(exc), database=self.label, code=getattr(exc, "sqlite_errorname", None)) from exc
        except sqlite3.Error as exc:
            raise QueryFailed(str(exc), database=self.label, code=getattr(exc, "sqlite_errorname", None)) from exc

    def _connect(self) -> None:
        uri = self.source.startswith("file:")
        conn = sqlite3.connect(self.source, isolation_level=None, uri=uri, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        self._conn = conn

    def _run(self, begin: str | None, query: str, args: Args, batch: bool) -> Rows:
        conn = self._conn
        if conn is None:
            self._connect()
            conn = self._conn
            assert conn is not None
        if begin is not None:
            conn.execute(begin)
        if batch:
            assert isinstance(args, list)
            out: list[dict[str, Any]] = []
            for item in args:
                rows = _fetch(conn.execute(query, _bind(item)))
                if rows:
                    out.extend(rows)
            return out or None
        return _fetch(conn.execute(query, _bind(args)))

    def _end(self, command: str) -> None:
        conn = self._conn
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute(command)
        finally:
            if conn.in_transaction:  # a COMMIT that failed (busy): never leave the connection inside it
                conn.execute("ROLLBACK")

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- Database -----------------------------------------------------------------------------------
    async def open(self) -> None:
        self._closed = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="portflow-sqlite")
        try:
            await self._call(self._connect)
        except Unavailable:
            # A file that cannot be opened now (its directory missing, say): statements will try again.
            pass

    async def begin(self, isolation: Isolation | None) -> SQLiteTransaction:
        if self._closed or self._thread is None:
            raise Unavailable(f"database {self.label} is closed", database=self.label)
        await self._turn.acquire()
        if self._closed:
            self._turn.release()
            raise Unavailable(f"database {self.label} is closed", database=self.label)
        begin = "BEGIN IMMEDIATE" if isolation is Isolation.SERIALIZABLE else "BEGIN"
        return SQLiteTransaction(self, begin)

    async def close(self) -> None:
        if self._closed:
            return
        # Let a transaction in flight finish first (bounded: a stuck process must not stop a reload).
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._turn.acquire()
            owned = True
        except TimeoutError:
            owned = False
        self._closed = True
        thread, self._thread = self._thread, None
        try:
            if thread is not None:
                await asyncio.get_running_loop().run_in_executor(thread, self._close_conn)
                thread.shutdown(wait=False)
        finally:
            if owned:
                self._turn.release()

    def close_now(self) -> None:
        """Close without an event loop, from a garbage-collection finaliser (a runtime's pinned
        ``:memory:``). Takes no Python lock (a finaliser may run while one is held): the connection
        is closed here (it allows any thread) and the idle thread ends when its executor is collected."""
        self._closed = True
        self._thread = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SQLiteTransaction:
    """Owns the connection until it ends; ``BEGIN`` travels with the first statement."""

    __slots__ = ("_db", "_begin", "_done")

    def __init__(self, db: SQLiteDatabase, begin: str) -> None:
        self._db = db
        self._begin: str | None = begin
        self._done = False

    async def execute(self, query: str, args: Args) -> Rows:
        if self._done:
            raise Unavailable("transaction has ended", database=self._db.label)
        try:
            _, mode = plan(query, "sqlite", args)
        except PlaceholderError as exc:
            raise QueryFailed(str(exc), database=self._db.label) from None
        begin, self._begin = self._begin, None
        try:
            return await self._db._call(self._db._run, begin, query, args, mode == BATCH)
        except QueryFailed:
            if begin is not None:
                # The BEGIN itself may have failed (a lock); if it did not start, start it next time.
                conn = self._db._conn
                if conn is None or not conn.in_transaction:
                    self._begin = begin
            raise

    async def _finish(self, command: str) -> None:
        if self._done:
            return
        self._done = True
        db = self._db
        if self._begin is not None:  # nothing was sent: nothing to end
            db._turn.release()
            return
        try:
            fut = db._submit(db._end, command)
        finally:
            # The next transaction's statements queue behind the COMMIT on the same thread, so the
            # connection is handed over now rather than after the thread has told us it is done.
            db._turn.release()
        await db._wait(fut)

    async def commit(self) -> None:
        await self._finish("COMMIT")

    async def rollback(self) -> None:
        await self._finish("ROLLBACK")
