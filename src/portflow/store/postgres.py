"""``postgresql://`` (or ``postgres://``): the store many machines share.

psycopg 3 async with a connection pool. Tables (created when missing): ``portflow_specs`` and
``portflow_values`` (id, namespace, name columns plus the document as JSONB), ``portflow_changelog``
(BIGSERIAL ``seq``) and ``portflow_history`` (BIGSERIAL ``revision``: each write's document, trimmed to
``history_keep`` per document in the writing transaction). Every write transaction first takes a
transaction-scoped advisory lock, so writers commit in seq order: once a reader sees seq N, every smaller
seq is committed (or rolled back) for good, which is what lets a watcher read the changelog by seq and never miss a row.

Change stream: a write ends with ``pg_notify`` in its transaction (the doorbell); one listener connection
per store, started with the first watcher, then reads the changelog rows after the last seq it read. When
that connection is lost, it reconnects with exponential backoff (0.1 s doubling up to 0.5 s, so that a
change made after an outage arrives within a second) and reads what it missed by seq. Meanwhile
watchers just wait; writes and reads fail with :class:`StoreError` if the database cannot be reached
within the pool timeout.

Note: JSONB does not keep the key order of a document (nor duplicate keys); documents compare equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool

from portflow.errors import ConflictError, StoreError, UserError

from .base import (
    CHANGELOG_KEEP,
    COLUMNS,
    BaseStore,
    Batch,
    Change,
    Doc,
    Event,
    Revision,
    backoff,
    check_expect,
    compile_filter,
    conflict,
    decode_doc,
    encode_doc,
    mask_url,
    matches,
    one_line,
    scrub,
    undecodable,
)

log = logging.getLogger("portflow.store")

_TABLES = {"specs": "portflow_specs", "values": "portflow_values", "charts": "portflow_charts"}
_CHANGELOG = "portflow_changelog"
_HISTORY = "portflow_history"
CHANNEL = "portflow_changelog"
LOCK_KEY = 0x706F7274666C6F77  # "portflow": serialises writers so that seqs commit in order

_SCHEMA = [
    *(
        stmt
        for table in _TABLES.values()
        for stmt in (
            f"""CREATE TABLE IF NOT EXISTS {table} (
                pos BIGSERIAL NOT NULL,
                id TEXT PRIMARY KEY,
                namespace TEXT NOT NULL,
                name TEXT,
                doc JSONB NOT NULL
            )""",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_namespace_name ON {table} (namespace, name)",
            f"CREATE INDEX IF NOT EXISTS {table}_pos ON {table} (pos)",
        )
    ),
    f"""CREATE TABLE IF NOT EXISTS {_CHANGELOG} (
        seq BIGSERIAL PRIMARY KEY,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    f"""CREATE TABLE IF NOT EXISTS {_HISTORY} (
        revision BIGSERIAL PRIMARY KEY,
        seq BIGINT NOT NULL,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT,
        doc JSONB,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    f"CREATE INDEX IF NOT EXISTS {_HISTORY}_id ON {_HISTORY} (collection, id, revision)",
    f"CREATE INDEX IF NOT EXISTS {_HISTORY}_name ON {_HISTORY} (collection, namespace, name)",
    # Migration (a no-op once done): a document stored by an earlier version gets its first revision.
    *(
        f"""INSERT INTO {_HISTORY} (seq, collection, op, id, namespace, name, doc)
            SELECT 0, '{collection}', 'insert', id, namespace, name, doc FROM {table} AS d
            WHERE NOT EXISTS (SELECT 1 FROM {_HISTORY} AS h WHERE h.collection = '{collection}' AND h.id = d.id)
            ORDER BY pos"""
        for collection, table in _TABLES.items()
    ),
]

# Leases (``acquire_lease``): created on first use; the server's clock decides expiry.
_LEASES = """CREATE TABLE IF NOT EXISTS portflow_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
)"""
_LEASE_TAKE = (
    "INSERT INTO portflow_leases (name, holder, expires)"
    " VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) ON CONFLICT (name) DO UPDATE"
    " SET holder = EXCLUDED.holder, expires = EXCLUDED.expires"
    " WHERE portflow_leases.holder = EXCLUDED.holder OR portflow_leases.expires <= clock_timestamp()"
    " RETURNING holder"
)


# Follows `WITH changed AS (... RETURNING pos, id, namespace, name, doc)`: the changelog rows and the history
# rows of the changed documents; returns (seq, revision, id) per document.
_LOG_ROWS = (
    f", logged AS (INSERT INTO {_CHANGELOG} (collection, op, id, namespace, name)"
    " SELECT %s, %s, id, namespace, name FROM changed ORDER BY pos RETURNING seq, collection, op, id, namespace, name)"
    f" INSERT INTO {_HISTORY} (seq, collection, op, id, namespace, name, doc)"
    " SELECT l.seq, l.collection, l.op, l.id, l.namespace, l.name, CASE WHEN l.op = 'delete' THEN NULL ELSE c.doc END"
    " FROM logged AS l JOIN changed AS c ON c.id = l.id ORDER BY l.seq RETURNING seq, revision, id"
)
_TRIM_HISTORY = (
    f"DELETE FROM {_HISTORY} WHERE revision IN (SELECT revision FROM (SELECT revision, row_number() OVER"
    f" (PARTITION BY id ORDER BY revision DESC) AS n FROM {_HISTORY} WHERE collection = %s AND id = ANY(%s::text[]))"
    " AS r WHERE n > %s)"
)
_REVISIONS = (
    "SELECT d.id, (SELECT max(h.revision) FROM {history} AS h WHERE h.collection = %s AND h.id = d.id)"
    " FROM {table} AS d WHERE d.id = ANY(%s::text[])"
)


class _Dialect:
    """Filter terms in PostgreSQL SQL: columns for id/namespace/name, JSONB equality otherwise."""

    def term(self, field: str, values: tuple[Any, ...]) -> tuple[str, list[Any], bool]:
        parts: list[str] = []
        params: list[Any] = []
        if field in COLUMNS:
            strs = [v for v in values if isinstance(v, str)]
            if strs:
                parts.append(f"{field} = ANY(%s::text[])")
                params.append(strs)
            if any(v is None for v in values):
                parts.append(f"{field} IS NULL")
        else:
            for v in values:
                if v is None:
                    parts.append("coalesce(doc -> %s::text, 'null'::jsonb) = 'null'::jsonb")
                    params.append(field)
                else:
                    parts.append("doc -> %s::text = %s::jsonb")
                    params += [field, encode_doc("filter", v).decode()]  # JSON-able: checked by check_filter
        if not parts:
            return "1=0", [], True
        return "(" + " OR ".join(parts) + ")", params, True


_DIALECT = _Dialect()


def _conflict(collection: str, docs: list[Doc], exc: psycopg.errors.UniqueViolation) -> ConflictError:
    """Name the document of the batch that a unique violation is about (from the server's detail line)."""
    detail = exc.diag.message_detail or ""
    by_id = (exc.diag.constraint_name or "").endswith("_pkey")
    value = detail.partition(")=(")[2].rpartition(") already exists")[0]
    for doc in docs:
        if by_id and doc.get("id") == value:
            return conflict(collection, doc, "id")
        if not by_id and f"{doc.get('namespace')}, {doc.get('name')}" == value:
            return conflict(collection, doc, "name")
    return ConflictError(f"{collection}: {one_line(exc)} {detail}".strip())


class PostgresStore(BaseStore):
    """The PostgreSQL store; see the module docstring."""

    def __init__(self, url: str, *, pool_timeout: float = 10.0, max_size: int = 8) -> None:
        super().__init__(url)
        self.pool_timeout = pool_timeout
        self._max_size = max_size
        self._pool: psycopg_pool.AsyncConnectionPool | None = None
        self._listener: asyncio.Task[None] | None = None
        self._leases_ready = False  # the leases table exists (made on the first lease call)
        self.listener_pid: int | None = None
        """The server process id of the listener connection (None while it is not connected)."""

    # ------------------------------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        if self._opened:
            return
        try:
            # One direct connection first: it creates the tables, and a failure says why (not "pool timeout").
            conn = await psycopg.AsyncConnection.connect(
                self.url, connect_timeout=max(1, round(self.pool_timeout)), application_name="portflow"
            )
            async with conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                for stmt in _SCHEMA:
                    await conn.execute(stmt)
                await conn.execute(
                    f"DELETE FROM {_CHANGELOG} WHERE seq <= (SELECT max(seq) FROM {_CHANGELOG}) - %s",
                    (CHANGELOG_KEEP,))
        except (psycopg.Error, OSError) as exc:
            raise StoreError(f"cannot open {mask_url(self.url)}: {scrub(one_line(exc), self.url)}") from None
        pool = psycopg_pool.AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._max_size,
            timeout=self.pool_timeout,
            open=False,
            check=psycopg_pool.AsyncConnectionPool.check_connection,
            kwargs={"application_name": "portflow", "autocommit": True},
            name="portflow",
        )
        try:
            await pool.open(wait=True, timeout=self.pool_timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
            await pool.close()
            raise StoreError(f"cannot open {mask_url(self.url)}: {scrub(one_line(exc), self.url)}") from None
        self._pool = pool
        self._opened = True
        self._feed.reset(await self.head())

    async def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self._end_watches()
        self._feed.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def head(self) -> int:
        self._check_open()
        async with self._connection() as conn:
            cur = await conn.execute(f"SELECT coalesce(max(seq), 0) FROM {_CHANGELOG}")
            row = await cur.fetchone()
        head = int(row[0]) if row else 0
        self._feed.note_head(head)
        return head

    async def _acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        async with self._connection() as conn:
            await self._ensure_leases(conn)
            cur = await conn.execute(_LEASE_TAKE, (name, holder, ttl))
            row = await cur.fetchone()
        return row is not None and row[0] == holder

    async def _release_lease(self, name: str, holder: str) -> None:
        async with self._connection() as conn:
            await self._ensure_leases(conn)
            await conn.execute("DELETE FROM portflow_leases WHERE name = %s AND holder = %s", (name, holder))

    async def _ensure_leases(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if not self._leases_ready:
            try:
                await conn.execute(_LEASES)
            except psycopg.errors.UniqueViolation:  # another store created it at the same moment
                pass
            self._leases_ready = True

    # ------------------------------------------------------------------------------------ plumbing

    @contextlib.asynccontextmanager
    async def _connection(self, *, write: bool = False) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; for a write, inside a transaction that took the writers' lock first.

        Library errors come out as StoreError, one line, password masked.
        """
        if self._pool is None:
            raise StoreError(f"store {mask_url(self.url)} is not open")
        try:
            async with self._pool.connection() as conn:
                if write:
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                        yield conn
                else:  # autocommit: one statement, one round trip
                    yield conn
        except (ConflictError, UserError):
            raise
        except psycopg_pool.PoolTimeout:
            raise StoreError(
                f"{mask_url(self.url)}: no database connection within {self.pool_timeout:g} s"
            ) from None
        except psycopg.OperationalError as exc:
            raise StoreError(f"{mask_url(self.url)}: database connection failed: {scrub(one_line(exc), self.url)}") from None
        except psycopg.Error as exc:
            raise StoreError(f"{mask_url(self.url)}: {scrub(one_line(exc), self.url)}") from None

    async def _write(self, collection: str, runs: list[tuple[str, list[tuple[Any, ...]]]], docs: list[Doc],
                     batch: Batch | None = None) -> int:
        """Run each ``(sql, params)`` with executemany, in one write transaction, and ring the doorbell.

        Each statement returns (seq, revision, id) of the rows it logged; returns how many were logged. With a
        ``batch``, its ``expect`` is checked first (under the writers' lock) and its ``revisions`` filled in.
        """
        count = last = 0
        written: dict[str, int] = {}
        async with self._connection(write=True) as conn:
            try:
                if batch is not None and batch.expect:
                    check_expect(collection, batch.expect, await self._current(conn, collection, list(batch.expect)))
                for sql, params in runs:
                    async with conn.cursor() as cur:
                        await cur.executemany(sql, params, returning=True)
                        while True:
                            for seq, rev, ident in await cur.fetchall():
                                count += 1
                                last = max(last, seq)
                                written[ident] = int(rev)
                            if not cur.nextset():
                                break
                if count:
                    await conn.execute(_TRIM_HISTORY, (collection, list(written), self.history_keep))
                    await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            except psycopg.errors.UniqueViolation as exc:
                raise _conflict(collection, docs, exc) from None
            except psycopg.errors.DataError as exc:
                raise UserError(f"{collection}: {scrub(one_line(exc), self.url)}") from None
        self._feed.note_head(last)
        if batch is not None:
            batch.revisions = written
        return count

    @staticmethod
    async def _current(conn: psycopg.AsyncConnection[Any], collection: str, ids: list[str]) -> dict[str, int]:
        sql = _REVISIONS.format(history=_HISTORY, table=_TABLES[collection])
        cur = await conn.execute(sql, (collection, ids))
        return {ident: int(rev or 0) for ident, rev in await cur.fetchall()}

    # ------------------------------------------------------------------------------------ operations

    async def _insert(self, collection: str, docs: list[Doc]) -> None:
        await self._write(collection, self._insert_runs(collection, docs), docs)

    async def _update(self, collection: str, docs: list[Doc]) -> int:
        return await self._write(collection, self._update_runs(collection, docs), docs)

    async def _commit(self, collection: str, batch: Batch) -> int:
        runs = self._insert_runs(collection, batch.insert) if batch.insert else []
        if batch.update:
            runs += self._update_runs(collection, batch.update)
        if batch.delete:
            sql = (f"WITH changed AS (DELETE FROM {_TABLES[collection]} WHERE id = ANY(%s::text[])"
                   f" RETURNING pos, id, namespace, name, doc) {_LOG_ROWS}")
            runs.append((sql, [(list(batch.delete), collection, "delete")]))
        return await self._write(collection, runs, [*batch.insert, *batch.update], batch)

    @staticmethod
    def _insert_runs(collection: str, docs: list[Doc]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        sql = (
            f"WITH changed AS (INSERT INTO {_TABLES[collection]} (id, namespace, name, doc)"
            f" VALUES (%s, %s, %s, %s::jsonb) RETURNING pos, id, namespace, name, doc) {_LOG_ROWS}"
        )
        params = [
            (d["id"], d["namespace"], d.get("name"), encode_doc(collection, d).decode(), collection, "insert")
            for d in docs
        ]
        return [(sql, params)]

    @staticmethod
    def _update_runs(collection: str, docs: list[Doc]) -> list[tuple[str, list[tuple[Any, ...]]]]:
        table = _TABLES[collection]
        set_ = "SET namespace = %s, name = %s, doc = %s::jsonb || jsonb_build_object('id', t.id)"
        by_id = f"UPDATE {table} AS t {set_} WHERE t.id = %s RETURNING t.pos, t.id, t.namespace, t.name, t.doc"
        by_name = (
            f"UPDATE {table} AS t {set_} WHERE t.namespace = %s AND t.name = %s"
            " RETURNING t.pos, t.id, t.namespace, t.name, t.doc"
        )
        # executemany runs one statement: split the batch into runs of the same kind, in order.
        runs: list[tuple[str, list[tuple[Any, ...]]]] = []
        for d in docs:
            body = encode_doc(collection, d).decode()
            key: tuple[Any, ...]
            if "id" in d:
                sql, key = f"WITH changed AS ({by_id}) {_LOG_ROWS}", (d["id"],)
            else:
                sql, key = f"WITH changed AS ({by_name}) {_LOG_ROWS}", (d["namespace"], d["name"])
            p = (d["namespace"], d.get("name"), body, *key, collection, "update")
            if runs and runs[-1][0] == sql:
                runs[-1][1].append(p)
            else:
                runs.append((sql, [p]))
        return runs

    async def _delete(self, collection: str, filter: dict[str, Any]) -> int:
        table = _TABLES[collection]
        where, params, exact = compile_filter(filter, _DIALECT)
        assert exact  # every PostgreSQL term is exact
        sql = (f"WITH changed AS (DELETE FROM {table} WHERE {where} RETURNING pos, id, namespace, name, doc)"
               f" {_LOG_ROWS}")
        return await self._write(collection, [(sql, [(*params, collection, "delete")])], [])

    async def _find(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Doc]:
        where, params, exact = compile_filter(filter, _DIALECT)
        sql = f"SELECT id, doc::text FROM {_TABLES[collection]} WHERE {where} ORDER BY pos"
        if limit is not None and exact:
            sql += f" LIMIT {int(limit)}"
        async with self._connection() as conn:
            cur = await conn.execute(sql, params)
            rows = await cur.fetchall()
        out: list[Doc] = []
        for ident, data in rows:
            try:
                doc = decode_doc(data)
            except ValueError as exc:
                undecodable(collection, ident, exc)
                continue
            if exact or matches(doc, filter):
                out.append(doc)
                if limit is not None and len(out) >= limit:
                    break
        return out

    async def _fetch(self, collection: str, after: int, limit: int) -> list[Change]:
        async with self._connection() as conn:
            return await self._changes(conn, after, limit, collection)

    async def _revisions(self, collection: str, ids: list[str]) -> dict[str, int]:
        async with self._connection() as conn:
            return await self._current(conn, collection, ids)

    async def _history(self, collection: str, filter: dict[str, Any], limit: int | None) -> list[Revision]:
        where, params, _ = compile_filter(filter, _DIALECT)  # id, namespace, name only: exact
        sql = (f"SELECT revision, op, id, namespace, name, doc::text,"
               f" to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM {_HISTORY}"
               f" WHERE collection = %s AND {where} ORDER BY revision DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        async with self._connection() as conn:
            cur = await conn.execute(sql, (collection, *params))
            rows = await cur.fetchall()
        out = []
        for rev, op, ident, ns, name, data, at in rows:
            try:
                doc = None if data is None else decode_doc(data)
            except ValueError as exc:
                undecodable(collection, ident, exc)
                continue
            out.append(Revision(int(rev), op, ident, ns, name, doc, at))
        return out

    @staticmethod
    async def _changes(
        conn: psycopg.AsyncConnection[Any], after: int, limit: int, collection: str | None = None
    ) -> list[Change]:
        sql = f"SELECT seq, collection, op, id, namespace, name, extract(epoch FROM at) FROM {_CHANGELOG} WHERE seq > %s"
        params: list[Any] = [after]
        if collection is not None:
            sql += " AND collection = %s"
            params.append(collection)
        cur = await conn.execute(sql + f" ORDER BY seq LIMIT {int(limit)}", params)
        return [(c, Event(op, i, ns, name, int(seq), float(at)))
                for seq, c, op, i, ns, name, at in await cur.fetchall()]

    # -------------------------------------------------------------------------------------- listener

    def _on_active(self, active: bool) -> None:
        if active and self._listener is None and self._opened:
            # Rows up to the known head are not wanted by the watchers: since=None ones start there and
            # since=N ones replay from the changelog themselves.
            self._feed.publish((), self._feed.known_head)
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="portflow-pg-listen")

    async def _listen(self) -> None:
        delays = backoff()
        lost = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, application_name="portflow-listener"
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listener_pid = conn.info.backend_pid
                    if lost:
                        log.info("%s: change stream reconnected", mask_url(self.url))
                    lost = False
                    delays = backoff()
                    while True:
                        await self._read(conn)
                        # notifies() holds the connection's lock while it runs: leave it to read.
                        # Notifications that arrive meanwhile wait in psycopg's backlog.
                        async for _ in conn.notifies(stop_after=1):
                            pass
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self.listener_pid = None
                delay = next(delays)
                if not lost:
                    log.warning(
                        "%s: change stream lost (%s); reconnecting",
                        mask_url(self.url),
                        scrub(one_line(exc), self.url),
                    )
                lost = True
                await asyncio.sleep(delay)

    async def _read(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Publish every changelog row after the feed's cursor."""
        while True:
            changes = await self._changes(conn, self._feed.cursor, 5000)
            self._feed.publish(changes)
            if len(changes) < 5000:
                return
