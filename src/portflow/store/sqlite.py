"""``sqlite:///PATH``: the default store, one file shared by every process on the machine.

The standard library's ``sqlite3`` runs on one dedicated thread per store (a single-worker executor), with
WAL journaling, ``synchronous=NORMAL`` and a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction
that changes the documents and appends the changelog and history rows (trimming each written document's
history to ``history_keep`` revisions).

Change stream: the changelog table is read by seq. The doorbell is ``PRAGMA data_version``, polled every
20 ms on the store's connection while someone watches: it changes when another connection (another
process) commits. This process's own writes ring it directly: after each write transaction the thread reads
the new changelog rows and hands them to the watchers.

URLs: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///~/path.db`` (also
``sqlite:~/path.db`` and ``sqlite:path.db``), and ``sqlite:///:memory:`` for a private in-memory database.
The parent directory is created when missing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from portflow.errors import StoreError, UserError

from .base import (
    CHANGELOG_KEEP,
    BaseStore,
    Batch,
    Change,
    Doc,
    Event,
    Op,
    Revision,
    check_expect,
    compile_filter,
    conflict,
    decode_doc,
    encode_doc,
    mask_url,
    matches,
    one_line,
    undecodable,
)
from .sqlite_sql import CHANGELOG as _CHANGELOG
from .sqlite_sql import DIALECT as _DIALECT
from .sqlite_sql import HISTORY as _HISTORY
from .sqlite_sql import LEASE_RELEASE, LEASE_TAKE, LEASES, sqlite_path
from .sqlite_sql import SCHEMA as _SCHEMA
from .sqlite_sql import SEED_HISTORY as _SEED_HISTORY
from .sqlite_sql import TABLES as _TABLES
from .sqlite_sql import TRIM_HISTORY as _TRIM_HISTORY

log = logging.getLogger("portflow.store")

T = TypeVar("T")

POLL_INTERVAL = 0.02
"""Seconds between two ``PRAGMA data_version`` polls while someone watches."""
BUSY_TIMEOUT_MS = 5000

_Row = tuple[str, str, "str | None", "Doc | None"]  # id, namespace, name, decoded doc (None: not decoded)


class SqliteStore(BaseStore):
    """The SQLite store; see the module docstring."""

    def __init__(self, url: str, *, poll_interval: float = POLL_INTERVAL) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        self.poll_interval = poll_interval
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        # Only touched on the store's thread:
        self._conn: sqlite3.Connection | None = None
        self._read_cursor = 0
        self._data_version = 0
        self._written: dict[str, int] = {}  # id -> new revision, in the write transaction under way
        # Set on the loop, read on the thread (after it read the head; see _collect):
        self._watching = False
        self._leases_ready = False  # the leases table exists (made on the first lease call)

    # ------------------------------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        if self._opened:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="portflow-sqlite")
        try:
            head = await self._loop.run_in_executor(self._executor, self._db_open)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreError(f"cannot open {mask_url(self.url)}: {one_line(exc)}") from exc
        self._feed.reset(head)
        self._opened = True

    async def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        await self._stop_poller()
        await self._end_watches()
        self._feed.close()
        executor, self._executor = self._executor, None
        assert executor is not None and self._loop is not None
        with contextlib.suppress(sqlite3.Error):
            await self._loop.run_in_executor(executor, self._db_close)
        executor.shutdown(wait=False)

    async def head(self) -> int:
        self._check_open()
        head = await self._run(self._db_head)
        self._feed.note_head(head)
        return head

    # ------------------------------------------------------------------------------------ operations

    async def _insert(self, collection: str, docs: list[Doc]) -> None:
        await self._run(self._db_insert, collection, docs)

    async def _update(self, collection: str, docs: list[Doc]) -> int:
        return await self._run(self._db_update, collection, docs)

    async def _delete(self, collection: str, filter: dict[str, Any]) -> int:
        return await self._run(self._db_delete, collection, filter)

    async def _commit(self, collection: str, batch: Batch) -> int:
        return await self._run(self._db_commit, collection, batch)

    async def _find(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Doc]:
        rows = await self._run(self._db_select, collection, filter, limit, True)
        return [doc for *_, doc in rows if doc is not None]

    async def _fetch(self, collection: str, after: int, limit: int) -> list[Change]:
        return await self._run(self._db_changes, collection, after, None, limit)

    async def _revisions(self, collection: str, ids: list[str]) -> dict[str, int]:
        return await self._run(self._db_revisions, collection, ids)

    async def _history(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Revision]:
        return await self._run(self._db_history, collection, filter, limit)

    async def _acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        return await self._run(self._db_lease, name, holder, ttl)

    async def _release_lease(self, name: str, holder: str) -> None:
        await self._run(self._db_lease, name, holder, None)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        executor, loop = self._executor, self._loop
        if executor is None or loop is None:
            raise StoreError(f"store {mask_url(self.url)} is not open")
        try:
            return await loop.run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"{mask_url(self.url)}: {one_line(exc)}") from exc
        except UnicodeEncodeError as exc:  # a lone surrogate in an id, name or filter value
            raise UserError(f"{mask_url(self.url)}: text that is not valid Unicode cannot be stored or looked "
                            f"up ({exc.reason}: {exc.object[exc.start:exc.end]!r})") from None
        except RuntimeError as exc:  # the executor was shut down under us
            raise StoreError(f"store {mask_url(self.url)} is closed") from exc

    # ------------------------------------------------------------------------------------ the doorbell

    def _on_active(self, active: bool) -> None:
        self._watching = active
        if active and self._poller is None and self._loop is not None and self._opened:
            self._poller = self._loop.create_task(self._poll_loop(), name="portflow-sqlite-poll")
        elif not active and self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _stop_poller(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _poll_loop(self) -> None:
        failing = False
        while True:
            try:
                await self._run(self._db_poll)
                failing = False
            except StoreError as exc:
                if not failing:
                    log.warning("%s: cannot poll for changes (will retry): %s", mask_url(self.url), exc)
                failing = True
            await asyncio.sleep(self.poll_interval)

    def _post(self, changes: list[Change], head: int) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._feed.publish, changes, head)

    # ----------------------------------------------------------------------------- on the store thread

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise sqlite3.ProgrammingError("the database is closed")
        return self._conn

    def _db_open(self) -> int:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
            with self._transaction():
                for stmt in (*_SCHEMA, *_SEED_HISTORY):
                    conn.execute(stmt)
                conn.execute(f"DELETE FROM {_CHANGELOG} WHERE seq <= (SELECT max(seq) FROM {_CHANGELOG}) - ?",
                              (CHANGELOG_KEEP,))
            self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
            self._read_cursor = self._db_head()
            return self._read_cursor
        except BaseException:
            self._conn = None
            conn.close()
            raise

    def _db_close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _db_head(self) -> int:
        return self._db.execute(f"SELECT coalesce(max(seq), 0) FROM {_CHANGELOG}").fetchone()[0]

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextlib.contextmanager
    def _write_transaction(self, collection: str) -> Any:
        """A write transaction that trims the history of the documents it wrote before it commits."""
        self._written = {}
        with self._transaction() as db:
            yield db
            ids = list(self._written)
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                db.execute(_TRIM_HISTORY.format(ids=", ".join("?" * len(chunk))),
                           (collection, *chunk, self.history_keep))

    def _log(self, db: sqlite3.Connection, collection: str, op: Op, ident: str, ns: str, name: str | None,
             doc: str | None) -> int:
        """The changelog row and the history row of one write; returns the changelog seq."""
        cur = db.execute(
            f"INSERT INTO {_CHANGELOG} (collection, op, id, namespace, name) VALUES (?, ?, ?, ?, ?)",
            (collection, op, ident, ns, name),
        )
        seq = cur.lastrowid or 0
        cur = db.execute(
            f"INSERT INTO {_HISTORY} (seq, collection, op, id, namespace, name, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, collection, op, ident, ns, name, doc),
        )
        self._written[ident] = cur.lastrowid or 0
        return seq

    def _db_revisions(self, collection: str, ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        table = _TABLES[collection]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT d.id, (SELECT max(h.revision) FROM {_HISTORY} AS h WHERE h.collection = ? AND h.id = d.id)"
                f" FROM {table} AS d WHERE d.id IN ({marks})", (collection, *chunk))
            out.update((ident, rev or 0) for ident, rev in rows)
        return out

    def _db_history(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Revision]:
        where, params, _ = compile_filter(filter, _DIALECT)  # id, namespace, name only: exact
        sql = (f"SELECT revision, op, id, namespace, name, doc, at FROM {_HISTORY}"
               f" WHERE collection = ? AND {where} ORDER BY revision DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        out = []
        for rev, op, ident, ns, name, data, at in self._db.execute(sql, (collection, *params)):
            try:
                doc = None if data is None else decode_doc(data)
            except ValueError as exc:
                undecodable(collection, ident, exc)
                continue
            out.append(Revision(rev, op, ident, ns, name, doc, at))
        return out

    def _db_insert(self, collection: str, docs: list[Doc]) -> None:
        self._db_commit(collection, Batch(insert=docs))

    def _db_update(self, collection: str, docs: list[Doc]) -> int:
        return self._db_commit(collection, Batch(update=docs))

    def _db_delete(self, collection: str, filter: dict[str, Any]) -> int:
        last = 0
        with self._write_transaction(collection) as db:
            rows = self._db_select(collection, filter, None, False)
            last = self._delete_rows(db, collection, rows)
        if rows:
            self._collect(last)
        return len(rows)

    def _db_commit(self, collection: str, batch: Batch) -> int:
        """Inserts, updates and deletes of one collection in one transaction; one ``_collect`` after it."""
        encoded = [encode_doc(collection, doc).decode() for doc in batch.insert]
        count = last = 0
        with self._write_transaction(collection) as db:
            if batch.expect:
                check_expect(collection, batch.expect, self._db_revisions(collection, list(batch.expect)))
            if batch.insert:
                last = self._insert_rows(db, collection, batch.insert, encoded)
                count = len(batch.insert)
            if batch.update:
                updated, seq = self._update_rows(db, collection, batch.update)
                count, last = count + updated, max(last, seq)
            if batch.delete:
                rows = self._db_select(collection, {"id": tuple(batch.delete)}, None, False)
                if rows:
                    count, last = count + len(rows), self._delete_rows(db, collection, rows)
        batch.revisions = self._written
        if count:
            self._collect(last)
        return count

    def _insert_rows(self, db: sqlite3.Connection, collection: str, docs: list[Doc], encoded: list[str]) -> int:
        table = _TABLES[collection]
        last = 0
        for doc, data in zip(docs, encoded, strict=True):
            try:
                db.execute(
                    f"INSERT INTO {table} (id, namespace, name, doc) VALUES (?, ?, ?, ?)",
                    (doc["id"], doc["namespace"], doc.get("name"), data),
                )
            except sqlite3.IntegrityError as exc:
                raise conflict(collection, doc, "id" if f"{table}.id" in str(exc) else "name") from None
            last = self._log(db, collection, "insert", doc["id"], doc["namespace"], doc.get("name"), data)
        return last

    def _update_rows(self, db: sqlite3.Connection, collection: str, docs: list[Doc]) -> tuple[int, int]:
        table = _TABLES[collection]
        count = last = 0
        for doc in docs:
            if "id" in doc:
                row = db.execute(f"SELECT id FROM {table} WHERE id = ?", (doc["id"],)).fetchone()
            else:
                row = db.execute(
                    f"SELECT id FROM {table} WHERE namespace = ? AND name = ?", (doc["namespace"], doc["name"])
                ).fetchone()
            if row is None:
                continue
            new = dict(doc, id=row[0])
            data = encode_doc(collection, new).decode()
            try:
                db.execute(
                    f"UPDATE {table} SET namespace = ?, name = ?, doc = ? WHERE id = ?",
                    (new["namespace"], new.get("name"), data, new["id"]),
                )
            except sqlite3.IntegrityError:
                raise conflict(collection, new, "name") from None
            last = self._log(db, collection, "update", new["id"], new["namespace"], new.get("name"), data)
            count += 1
        return count, last

    def _delete_rows(self, db: sqlite3.Connection, collection: str, rows: list[_Row]) -> int:
        last = 0
        for ident, ns, name, _ in rows:
            db.execute(f"DELETE FROM {_TABLES[collection]} WHERE id = ?", (ident,))
            last = self._log(db, collection, "delete", ident, ns, name, None)
        return last

    def _db_select(self, collection: str, filter: dict[str, Any], limit: int | None, decode: bool) -> list[_Row]:
        """The rows that match, in insertion order; with ``decode`` (find) undecodable rows are skipped."""
        sql, params, exact = compile_filter(filter, _DIALECT)
        try:
            return self._db_scan(collection, sql, params, None if exact else filter, limit, decode)
        except sqlite3.OperationalError as exc:
            if "malformed JSON" not in str(exc):
                raise
        # A stored document is not valid JSON, and SQLite refuses json_*() on it: match in Python instead.
        return self._db_scan(collection, "1=1", [], filter, limit, decode)

    def _db_scan(
        self,
        collection: str,
        where: str,
        params: list[Any],
        check: dict[str, Any] | None,
        limit: int | None,
        decode: bool,
    ) -> list[_Row]:
        out: list[_Row] = []
        cur = self._db.execute(
            f"SELECT id, namespace, name, doc FROM {_TABLES[collection]} WHERE {where} ORDER BY pos", params
        )
        for ident, ns, name, data in cur:
            doc: Doc | None = None
            if decode or check is not None:
                try:
                    doc = decode_doc(data)
                except ValueError as exc:
                    undecodable(collection, ident, exc)
                    if decode:
                        continue
            if check is not None and not matches(doc or {"id": ident, "namespace": ns, "name": name}, check):
                continue
            out.append((ident, ns, name, doc))
            if limit is not None and len(out) >= limit:
                break
        return out

    def _db_changes(self, collection: str | None, after: int, upto: int | None, limit: int | None) -> list[Change]:
        where, params = ["seq > ?"], list[Any]([after])
        if collection is not None:
            where.append("collection = ?")
            params.append(collection)
        if upto is not None:
            where.append("seq <= ?")
            params.append(upto)
        sql = (f"SELECT seq, collection, op, id, namespace, name, (julianday(at) - 2440587.5) * 86400.0 "
               f"FROM {_CHANGELOG} WHERE {' AND '.join(where)} ORDER BY seq")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(c, Event(op, ident, ns, name, seq, at))
                for seq, c, op, ident, ns, name, at in self._db.execute(sql, params)]

    def _db_lease(self, name: str, holder: str, ttl: float | None) -> bool:
        """Take or renew (``ttl``) or release (None) a lease, in one write transaction."""
        with self._transaction() as db:
            if not self._leases_ready:
                for stmt in LEASES:
                    db.execute(stmt)
            if ttl is None:
                db.execute(LEASE_RELEASE, (name, holder))
                row = None
            else:
                now = time.time()
                db.execute(LEASE_TAKE, (name, holder, now + ttl, now))
                row = db.execute("SELECT holder FROM portflow_leases WHERE name = ?", (name,)).fetchone()
        self._leases_ready = True
        return row is not None and row[0] == holder

    def _db_poll(self) -> None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._data_version = version
            self._collect(None)

    def _collect(self, head: int | None) -> None:
        """Hand the changelog rows after the read cursor to the watchers (on the loop).

        ``head`` is the newest committed seq when the caller knows it (it just wrote it, holding the write
        lock). It is read *before* looking at ``_watching``: rows skipped because nobody watched were then
        committed before any watcher that could want them started.
        """
        if head is None:
            head = self._db_head()
        if head <= self._read_cursor:
            return
        changes: list[Change] = []
        if self._watching:
            changes = self._db_changes(None, self._read_cursor, head, None)
        self._read_cursor = head
        self._post(changes, head)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode. While another connection is creating the same new file, SQLite answers the
    switch with SQLITE_BUSY at once, without its busy handler; so wait here, up to the same busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = (exc.sqlite_errorcode & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
