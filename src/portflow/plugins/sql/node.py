"""sql: run a statement on a database, one transaction per process (uniflow-semantics §8, sql plugin).

The spec names a ``driver`` (sqlite, postgres, mysql, or one a plugin adds), a ``source`` and an
optional ``isolation``. The input is a query string, or ``[query, args]`` with ``?`` placeholders and
a list, or ``:name`` placeholders and a map (a list of maps runs the statement once per map). The
output is the rows as maps, NULL columns left out; no rows (or a statement without any, an INSERT) give an
empty list, as in uniflow (``[]`` over HTTP). A statement the database rejects
goes to ``error`` with the database's message.

Every statement a process runs on one database belongs to one transaction: begun by its first
statement, committed when the process exits without an error, rolled back when it exits with one (a
listener whose flow answered 500, a failed test). Nodes on the same driver and source share the pool
and, within a process, the transaction; a child process (fork) joins its parent's transaction instead of
opening a second one that would wait for the first.

After a statement fails, PostgreSQL refuses the rest of that transaction (and its COMMIT rolls back),
while SQLite and MySQL carry on: that is the databases' own behaviour, kept as it is.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from msgspec import Meta

from ...errors import SpecError
from ...node import OneToOne
from ...packet import Packet
from ...process import RUNNING, Process
from ...scheme import Context, Scheme
from ...spec import Spec
from ...tracing import statement
from .drivers import (
    Args,
    Database,
    Databases,
    Driver,
    Drivers,
    Isolation,
    Rows,
    SQLError,
    Unavailable,
    default_drivers,
    mask_source,
    parse_isolation,
)

__all__ = ["SQLSpec", "SQLNode", "SQLCodec", "compile_sql", "register", "parse_input"]

log = logging.getLogger("portflow.sql")


class SQLSpec(Spec, kw_only=True):
    """Runs the input statement on a database and outputs its rows, one transaction per process.

    ``driver``: sqlite (sqlite3), postgres (postgresql) or mysql (mariadb). ``source``: for sqlite a
    file path or ``:memory:`` (shared by the runtime's nodes); for postgres a libpq URL; for mysql
    ``mysql://user:pass@host:3306/db``. Server URLs take ``pool_max`` and ``pool_timeout`` options.
    ``isolation``: read uncommitted, read committed, repeatable read or serializable (default: the
    database's own).

    A SQLite file in WAL mode is served by a small pool of connections, so transactions of different
    processes overlap; a transaction that reads and then writes after another one committed a write in
    between is refused ("database is locked"): give such flows ``isolation: serializable``, which makes
    them take their turn at their first statement.
    """

    driver: Annotated[str, Meta(description="sqlite, postgres or mysql (or one a plugin adds)")]
    source: Annotated[str, Meta(description="a sqlite path or :memory:, or the server's URL")] = ""
    isolation: Annotated[str | int | None,
                         Meta(description="read uncommitted, read committed, repeatable read or serializable "
                                          "(default: the database's)")] = None


def parse_input(payload: Any) -> tuple[str, Args]:
    """``"query"`` or ``[query]`` or ``[query, args]`` -> (query, args). Raises ``ValueError``."""
    if isinstance(payload, str):
        return payload, None
    if isinstance(payload, (list, tuple)) and 1 <= len(payload) <= 2 and isinstance(payload[0], str):
        args = payload[1] if len(payload) == 2 else None
        if args is not None and not isinstance(args, (list, tuple, dict)):
            raise ValueError(f"args: expected a list, a map or a list of maps, got {type(args).__name__}")
        return payload[0], list(args) if isinstance(args, tuple) else args
    got = type(payload).__name__ if payload is not None else "null"
    if isinstance(payload, (list, tuple)):
        got = f"a list of {len(payload)}" if len(payload) != 2 else "a list whose first item is not a string"
    raise ValueError(f"expected a query string or [query, args], got {got}")


class _ProcessTransaction:
    """The transaction of one process on one database: begun by its first statement, ended on exit."""

    __slots__ = ("node", "database", "isolation", "tx", "lock", "ended")

    def __init__(self, node: SQLNode, database: Database, isolation: Isolation | None) -> None:
        self.node = node
        self.database = database
        self.isolation = isolation
        self.tx: Any = None
        self.lock = asyncio.Lock()  # children sharing the transaction take turns
        self.ended = False

    async def execute(self, query: str, args: Args) -> Rows:
        async with self.lock:
            if self.ended:
                raise Unavailable("the process has ended", database=self.database.label)
            if self.tx is None:
                self.tx = await self.database.begin(self.isolation)
            return await self.tx.execute(query, args)

    async def close(self, error: BaseException | None) -> None:
        async with self.lock:
            self.ended = True
            tx, self.tx = self.tx, None
            if tx is None:
                return
            if error is None:
                await tx.commit()  # a failed commit raises: the process's answer must say so (500)
                return
            try:
                await tx.rollback()
            except SQLError as exc:
                log.error("sql node %r: rollback failed: %s", self.node.name, exc.message)


class SQLNode(OneToOne):
    """in: query or [query, args] -> out: rows (a list, empty when there are none) | error."""

    def __init__(self, driver: Driver, source: str, *, name: str = "sql", isolation: Isolation | None = None,
                 databases: Databases | None = None) -> None:
        self.driver = driver
        self.source = source
        self.name = name
        self.isolation = isolation
        self.label = mask_source(source)
        self._databases = databases if databases is not None else Databases()
        self._db: Database | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        super().__init__()

    def __repr__(self) -> str:
        return f"<SQLNode {self.name} {self.driver.name} {self.label}>"

    # -- lifecycle ----------------------------------------------------------------------------------
    async def load(self) -> None:
        """Open (or join) the pool on the source."""
        self._closed = False
        await self._database()

    async def unload(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await self._databases.release(db)

    async def close(self) -> None:
        self._closed = True
        await self.unload()
        await super().close()

    async def _database(self) -> Database:
        db = self._db
        if db is not None:
            return db
        if self._closed:
            raise Unavailable(f"database {self.label} is closed", database=self.label)
        # A statement before load (a lifecycle ``init`` port) opens the pool early.
        async with self._opening:
            if self._db is None:
                self._db = await self._databases.acquire(self.driver, self.source)
        return self._db

    # -- the action -----------------------------------------------------------------------------------
    def _transaction(self, proc: Process, db: Database) -> _ProcessTransaction:
        parent = proc.parent
        while parent is not None:
            if parent.status == RUNNING:
                found = parent.peek_local(db)
                if isinstance(found, _ProcessTransaction) and not found.ended:
                    return found
            parent = parent.parent
        if proc.terminated:
            raise Unavailable("the process has ended", database=db.label)
        return proc.resource(db, lambda: _ProcessTransaction(self, db, self.isolation))  # type: ignore[return-value]

    async def action(self, proc: Process, pck: Packet) -> Packet:
        try:
            query, args = parse_input(pck.payload)
        except ValueError as exc:
            raise SQLError(f"sql node {self.name!r}: input: {exc}", database=self.label) from None
        try:
            db = await self._database()
            ptx = self._transaction(proc, db)
            if self.isolation is not None and ptx.isolation != self.isolation:
                if ptx.tx is None and ptx.isolation is None:
                    ptx.isolation = self.isolation
                else:
                    have = ptx.isolation.value if ptx.isolation else "the default level"
                    raise SQLError(f"isolation {self.isolation.value!r} differs from this process's open "
                                   f"transaction on {db.label} ({have})", database=db.label)
            with statement(query, self.driver.name):
                rows = await ptx.execute(query, args)
        except SQLError as exc:
            raise exc.at(self.name) from exc.__cause__
        return Packet(rows if rows is not None else [])


# -- the codec ------------------------------------------------------------------------------------------

def compile_sql(spec: SQLSpec, context: Context, drivers: Drivers | None = None) -> SQLNode:
    """Build the node: check the driver, the source and the isolation level, naming the field at fault."""
    drivers = drivers if drivers is not None else default_drivers()
    problems = []
    driver = drivers.resolve(spec.driver, context)
    if driver is None:
        problems.append(f"driver: unknown driver {spec.driver!r}; expected one of {', '.join(drivers.names())}")
    else:
        try:
            driver.check(spec.source)
        except ValueError as exc:
            problems.append(f"source: {exc}")
    try:
        isolation = parse_isolation(spec.isolation)
    except ValueError as exc:
        problems.append(f"isolation: {exc}")
    if problems:
        raise SpecError(spec.subject, problems)
    assert driver is not None
    return SQLNode(driver, spec.source, name=spec.label or "sql", isolation=isolation,
                   databases=context.services.get(Databases))


class SQLCodec:
    """The ``sql`` kind's codec. ``drivers`` is the registry it compiles with; a plugin may add to it
    (``portflow.plugins.sql.drivers_of(scheme)``)."""

    def __init__(self, drivers: Drivers) -> None:
        self.drivers = drivers

    def __call__(self, spec: SQLSpec, context: Context) -> SQLNode:
        return compile_sql(spec, context, self.drivers)


EXAMPLE = """\
kind: sql
name: users
driver: postgres
source: postgresql://app:secret@127.0.0.1:5432/app
isolation: read committed
ports:
  out:
    - name: render
      port: in
"""


def register(scheme: Scheme, drivers: Drivers | None = None) -> SQLCodec:
    codec = SQLCodec(drivers if drivers is not None else default_drivers())
    scheme.register(
        "sql", SQLSpec, codec,
        description="Run a SQL statement (a query, or [query, args]) in the process's transaction; "
                    "output the rows.",
        ports={"in": "a query string, or [query, args]: args a list for ?, a map for :name, a list of maps "
                     "for a batch",
               "out": "the rows as maps (NULL columns left out), an empty list when there are none",
               "error": "what the database said when it rejected the statement, or why it is unreachable"},
        example=EXAMPLE,
        plugin="sql",
    )
    return codec
