"""The ``sqlite`` driver (alias ``sqlite3``): the standard library's sqlite3, each connection on its own thread.

``source`` is a file path, a ``file:`` URI, or ``:memory:``. Calls on a connection run on that
connection's thread, in the order they were queued, so the event loop does not block, with one
exception: a read (``SELECT``, ``VALUES``, ``EXPLAIN``, a read-only ``WITH``) in a transaction that has
not written, on a connection whose thread is idle, in WAL mode or on ``:memory:`` (where a reader never
waits for a lock), runs on the event loop's thread, since a read by key takes microseconds there and a
trip to a thread and back about a hundred times as long. Such a read gets ``INLINE_BUDGET`` seconds: a
longer one is interrupted and runs again on the connection's thread (the transaction is unchanged: an
interrupted read undoes nothing). Ending a transaction that only read is done the same way. A transaction holds
one connection from its first statement until its commit or rollback (the ``sql`` node makes that one
transaction per process); ``BEGIN`` travels with the first statement and ``COMMIT`` or ``ROLLBACK`` is
one more trip, after which the connection goes straight to the next transaction (whose statements
queue behind the ``COMMIT`` on the same thread).

How many connections: one, shared by the whole runtime, unless the file is in WAL mode (``PRAGMA
journal_mode=WAL``, which persists in the file): then up to ``POOL_SIZE``, so that readers run side by
side on their own snapshots instead of queueing behind one another. ``:memory:`` is always one
connection (a second one would be a second, empty, database), and so is a file in another journal mode
(there a reader blocks a writer's commit, and two connections would fail each other with "database is
locked" where one connection just takes turns).

Writers take turns in the runtime: a transaction's first statement that may write (anything but a
``SELECT``, ``VALUES``, ``EXPLAIN`` or a read-only ``WITH``) waits for the runtime's write turn and holds
it until the transaction ends, so writers never poll SQLite's busy lock against each other. In WAL mode
a transaction that began by reading and then writes after another transaction committed a write is
refused by SQLite (its snapshot is stale: SQLITE_BUSY_SNAPSHOT); a transaction that reads, then writes,
under concurrent writers should use ``isolation: serializable``.

SQLite transactions are always serializable; ``isolation: serializable`` starts them with ``BEGIN
IMMEDIATE`` and takes the write turn with the first statement (the write lock is taken at once, so two
workers on one file cannot deadlock upgrading their locks), the weaker levels with a plain ``BEGIN``.
Connections enforce foreign keys and wait up to 5 s for a lock held by another OS process.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..params import BATCH, PlaceholderError, plan
from . import Args, Isolation, QueryFailed, Rows, SQLError, Unavailable
from .sqlite_values import _bind, _fetch

__all__ = ["SQLiteDriver", "SQLiteDatabase", "POOL_SIZE"]

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000
CLOSE_TIMEOUT = 5.0
#: Connections on a file in WAL mode (each with its own thread).
POOL_SIZE = 4
#: Seconds a read may run on the event loop's thread before it is moved to the connection's thread.
INLINE_BUDGET = 0.001
#: SQLite virtual-machine steps between two looks at the clock while a read runs on the loop.
_PROGRESS_STEPS = 1000


class _Slow(Exception):
    """A read on the loop's thread ran out of its budget (it was interrupted, nothing was changed)."""


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


class _Connection:
    """One sqlite3 connection and the thread every call on it runs on. The methods without ``async``
    run on that thread."""

    __slots__ = ("db", "thread", "conn", "pending", "deadline", "slow", "guard")

    def __init__(self, db: SQLiteDatabase) -> None:
        self.db = db
        self.thread: ThreadPoolExecutor | None = ThreadPoolExecutor(1, thread_name_prefix="portflow-sqlite")
        self.conn: sqlite3.Connection | None = None  # connected by the first call
        self.pending = 0  # calls queued or running on the thread
        self.deadline = 0.0
        self.slow = False
        self.guard = self._guard

    def submit(self, fn: Any, *args: Any) -> asyncio.Future:
        """Queue ``fn(*args)`` on the connection's thread."""
        thread = self.thread
        if thread is None:
            raise self.db.closed()
        try:
            fut = asyncio.get_running_loop().run_in_executor(thread, fn, *args)
        except RuntimeError as exc:  # the executor was shut down under us
            if "shutdown" in str(exc):
                raise self.db.closed() from None
            raise
        self.pending += 1
        fut.add_done_callback(self._called)
        return fut

    def _called(self, fut: asyncio.Future) -> None:
        self.pending -= 1

    @property
    def idle(self) -> bool:
        """Connected, open, and nothing queued on its thread: the loop may use it directly."""
        return self.pending == 0 and self.conn is not None and self.thread is not None

    # -- on the event loop's thread (reads only, see the module docstring) ----------------------------
    def _guard(self) -> int:
        if time.perf_counter() > self.deadline:
            self.slow = True
            return 1
        return 0

    def read_here(self, begin: str | None, query: str, args: Args) -> Rows:
        """Run a read now, on this thread; raise ``_Slow`` when it would take longer than the budget."""
        conn = self.conn
        assert conn is not None
        self.slow = False
        self.deadline = time.perf_counter() + INLINE_BUDGET
        conn.set_progress_handler(self.guard, _PROGRESS_STEPS)
        try:
            if begin is not None:
                conn.execute(begin)
            return _fetch(conn.execute(query, _bind(args)))
        except sqlite3.OperationalError:
            if self.slow:
                raise _Slow from None
            raise
        finally:
            conn.set_progress_handler(None, 0)

    # -- on the connection's thread -------------------------------------------------------------------

    def connect(self) -> None:
        db = self.db
        conn = sqlite3.connect(db.source, isolation_level=None, uri=db.source.startswith("file:"),
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        # A plain attribute written from this thread, read by the loop when it needs a connection.
        db.wal = str(mode).lower() == "wal"

    def run(self, begin: str | None, query: str, args: Args, batch: bool) -> Rows:
        conn = self.conn
        if conn is None:
            self.connect()
            conn = self.conn
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

    def end(self, command: str) -> None:
        conn = self.conn
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute(command)
        finally:
            if conn.in_transaction:  # a COMMIT that failed (busy): never leave the connection inside it
                conn.execute("ROLLBACK")

    def close_conn(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        thread, self.thread = self.thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self.close_conn)
            thread.shutdown(wait=False)


class SQLiteDatabase:
    """A pool of connections, one until the file turns out to be in WAL mode (see the module docstring)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.label = source
        self.pinned = source == MEMORY
        #: The file is in WAL mode (learnt when a connection opens): the pool may grow to POOL_SIZE.
        self.wal = False
        self._conns: list[_Connection] = []
        self._idle: list[_Connection] = []
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._writer = asyncio.Lock()  # the runtime's write turn
        self._drained: asyncio.Event | None = None  # set when every connection is idle (for close)
        self._closed = False

    def __repr__(self) -> str:
        return f"<SQLiteDatabase {self.label}>"

    def closed(self) -> Unavailable:
        return Unavailable(f"database {self.label} is closed", database=self.label)

    @property
    def size(self) -> int:
        """How many connections are open (or opening)."""
        return len(self._conns)

    # -- the pool -----------------------------------------------------------------------------------
    async def _checkout(self) -> _Connection:
        if self._closed:
            raise self.closed()
        if self._idle:
            return self._idle.pop()
        if len(self._conns) < (POOL_SIZE if self.wal and not self.pinned else 1):
            conn = _Connection(self)
            self._conns.append(conn)
            return conn
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._checkin(waiter.result())  # handed over just as we were cancelled: pass it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def _checkin(self, conn: _Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)
        if self._drained is not None and len(self._idle) >= len(self._conns):
            self._drained.set()

    async def _wait(self, fut: asyncio.Future) -> Any:
        try:
            return await fut
        except sqlite3.Error as exc:
            raise self.error(exc) from exc

    def error(self, exc: sqlite3.Error) -> SQLError:
        """What sqlite3 raised, as the driver reports it."""
        code = getattr(exc, "sqlite_errorname", None)
        if isinstance(exc, sqlite3.ProgrammingError):
            if "closed" in str(exc):
                return self.closed()
            return QueryFailed(str(exc), database=self.label)
        if isinstance(exc, sqlite3.OperationalError):
            if "unable to open" in str(exc):
                return Unavailable(f"database {self.label} cannot be opened: {exc}", database=self.label)
            if code == "SQLITE_BUSY_SNAPSHOT":
                return QueryFailed(f"{exc}: another transaction wrote to the database after this one began "
                                   "reading; a transaction that reads, then writes, under concurrent writers "
                                   "should use isolation: serializable", database=self.label, code=code)
        return QueryFailed(str(exc), database=self.label, code=code)

    @property
    def reads_here(self) -> bool:
        """Whether a read may run on the loop's thread: a reader never waits for a lock here."""
        return (self.wal or self.pinned) and not self._closed

    # -- Database -----------------------------------------------------------------------------------
    async def open(self) -> None:
        self._closed = False
        conn = _Connection(self)
        self._conns.append(conn)
        self._idle.append(conn)
        try:
            await self._wait(conn.submit(conn.connect))
        except Unavailable:
            # A file that cannot be opened now (its directory missing, say): statements will try again.
            pass

    async def begin(self, isolation: Isolation | None) -> SQLiteTransaction:
        if self._closed:
            raise self.closed()
        return SQLiteTransaction(self, isolation is Isolation.SERIALIZABLE)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self.closed())
        # Let the transactions in flight finish first (bounded: a stuck process must not stop a reload).
        if len(self._idle) < len(self._conns):
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._drained.wait()
            except TimeoutError:
                pass
        conns, self._conns, self._idle = self._conns, [], []
        for conn in conns:
            await conn.close()

    def close_now(self) -> None:
        """Close without an event loop, from a garbage-collection finaliser (a runtime's pinned
        ``:memory:``). Takes no Python lock (a finaliser may run while one is held): the connections
        are closed here (they allow any thread) and the idle threads end when their executors are
        collected."""
        self._closed = True
        conns, self._conns, self._idle = self._conns, [], []
        for conn in conns:
            conn.thread = None
            conn.close_conn()


class SQLiteTransaction:
    """Takes a connection with its first statement (``BEGIN`` travels with it) and, with the first
    statement that may write, the runtime's write turn; gives both back when it ends."""

    __slots__ = ("_db", "_begin", "_immediate", "_conn", "_writing", "_done")

    def __init__(self, db: SQLiteDatabase, immediate: bool) -> None:
        self._db = db
        self._immediate = immediate
        self._begin: str | None = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        self._conn: _Connection | None = None
        self._writing = False  # holds the write turn
        self._done = False

    async def execute(self, query: str, args: Args) -> Rows:
        db = self._db
        if self._done:
            raise Unavailable("transaction has ended", database=db.label)
        try:
            t, mode = plan(query, "sqlite", args)
        except PlaceholderError as exc:
            raise QueryFailed(str(exc), database=db.label) from None
        conn = self._conn
        if conn is None:
            conn = self._conn = await db._checkout()
        if not self._writing and (self._immediate or not t.reads_only):
            # Connection first, then the turn: the holder of the turn never waits for a connection.
            await db._writer.acquire()
            self._writing = True
        begin, self._begin = self._begin, None
        if not self._writing and t.reads_only and mode != BATCH and conn.idle and db.reads_here:
            try:
                return conn.read_here(begin, query, args)
            except _Slow:
                if conn.conn is not None and conn.conn.in_transaction:
                    begin = None  # BEGIN ran here; the statement goes to the thread
            except sqlite3.Error as exc:
                if begin is not None and (conn.conn is None or not conn.conn.in_transaction):
                    self._begin = begin
                raise db.error(exc) from exc
        try:
            return await db._wait(conn.submit(conn.run, begin, query, args, mode == BATCH))
        except QueryFailed:
            # The BEGIN itself may have failed (a lock); if it did not start, start it next time.
            if begin is not None and (conn.conn is None or not conn.conn.in_transaction):
                self._begin = begin
            raise

    async def _finish(self, command: str) -> None:
        if self._done:
            return
        self._done = True
        db, conn, self._conn = self._db, self._conn, None
        try:
            if conn is None:
                return
            if self._begin is not None:  # nothing was sent: nothing to end
                db._checkin(conn)
                return
            if not self._writing and conn.idle and db.reads_here:
                # A transaction that only read: its end takes no lock and writes nothing; do it here.
                try:
                    conn.end(command)
                except sqlite3.Error as exc:
                    raise db.error(exc) from exc
                finally:
                    db._checkin(conn)
                return
            try:
                fut = conn.submit(conn.end, command)
            finally:
                # The next transaction on this connection queues behind the COMMIT on the same thread,
                # so the connection is handed over now rather than after the thread has told us it is done.
                db._checkin(conn)
            await db._wait(fut)
        finally:
            if self._writing:
                # The write turn waits for the COMMIT: the next writer may be on another connection.
                self._writing = False
                db._writer.release()

    async def commit(self) -> None:
        await self._finish("COMMIT")

    async def rollback(self) -> None:
        await self._finish("ROLLBACK")
