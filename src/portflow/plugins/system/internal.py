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
``frames``     the frames of the live processes, as uniflow's agent records them: one per packet an in-port
               read (``input`` it, ``output`` the answer) and one per packet an out-port wrote (``output``
               it, ``input`` the answer back): ``process_id, symbol_id, port, input, output, time``
               (``time``: how long until the answer, as a Go duration, once there is one)
=============  ============================================================================================

Processes and frames are seen by an *agent* (``agent.Agent``), a subscriber of the runtime's hop
observer created the first time a spec with this driver compiles there: it keeps a process from its first
hop until it exits. Runtimes that never use the driver pay nothing.

The statement is SQLite's SQL, run on a fresh ``:memory:`` copy of the tables it names (see
``tables``): ``SELECT`` with ``WHERE``, ``ORDER BY``, ``GROUP BY``, aggregates, ``LIMIT``, joins, ``WITH``
and the JSON functions; MySQL-style backquoted names (``SELECT * FROM `frames```, as uniflow's
``examples/system.yaml`` writes them) work, and ``values`` (an SQL keyword) must be quoted. Arguments
are bound: ``?`` takes the next item of a list, ``:name`` a key of a map (a list of maps runs the
statement once per map). Anything that would write is refused; a statement is stopped after
``tables.BUDGET`` seconds.
"""

from __future__ import annotations

from typing import Any

from ...errors import UserError
from ...scheme import Context
from .agent import CREDENTIAL_HEADERS, Agent, _credentials_hidden
from .tables import TABLES, InternalError, named, run

__all__ = ["Internal", "InternalError", "InternalDriver", "Agent", "TABLES", "register",
           "CREDENTIAL_HEADERS", "_credentials_hidden"]


# -- the driver ------------------------------------------------------------------------------------------

class Internal:
    """The driver's connection to one runtime (its ``Context``): ``await query(sql, args)`` answers a list
    of row maps."""

    def __init__(self, context: Context) -> None:
        self.context = context

    async def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """The rows ``sql`` answers (``args``: a list for ``?``, a map for ``:name``, a list of maps
        for a batch)."""
        if not isinstance(sql, str) or not sql.strip():
            raise InternalError("internal: empty query")
        from ..sql.drivers.sqlite_values import _bind

        docs = {table: await self._rows(table) for table in named(sql)}
        return run(sql, args, docs, _bind)

    async def _rows(self, table: str) -> list[dict[str, Any]]:
        context = self.context
        if table in ("specs", "values"):
            collection = context.store.specs if table == "specs" else context.store.values
            return await collection.find()
        if table == "symbols":
            return await self._symbols()
        agent = context.services.get(Agent)
        return agent.process_rows() if table == "processes" else agent.frame_rows()

    async def _symbols(self) -> list[dict[str, Any]]:
        context = self.context
        symbols = list(context.table or ())
        stored = {d["id"]: d for d in await context.store.specs.find({"id": [sb.id for sb in symbols]})} \
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
            return await self.conn.query(query, args)
        except InternalError as exc:
            raise QueryFailed(str(exc), database="internal") from None

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        return None


class InternalDatabase:
    """The runtime as a database: opening and closing cost nothing."""

    label = "internal"
    pinned = False

    def __init__(self, context: Context) -> None:
        self.conn = Internal(context)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def begin(self, isolation: Any = None) -> InternalTransaction:
        return InternalTransaction(self.conn)


class InternalDriver:
    """The ``internal`` driver. Registered unbound; ``bind(context)`` gives the one for a runtime (the sql
    plugin's driver registry calls it when a spec compiles)."""

    name = "internal"

    def __init__(self, context: Context | None = None) -> None:
        self.context = context

    def check(self, source: str) -> None:
        """Any source is fine: the driver reads the runtime it runs in (``source`` is ignored)."""

    def bind(self, context: Context) -> InternalDriver:
        if self.context is not None:
            return self
        if context.store is None or context.table is None:
            raise UserError("driver: internal reads a running runtime, and this spec is not compiled by one")
        context.services.get(Agent)  # subscribe now, so the processes of the symbols loading next are seen
        return InternalDriver(context)

    def database(self, source: str) -> InternalDatabase:
        if self.context is None:
            from ..sql.drivers import Unavailable

            raise Unavailable("internal: the driver is not bound to a runtime", database="internal")
        return InternalDatabase(self.context)


def register(scheme: Any) -> bool:
    """Add ``internal`` to the ``sql`` kind's drivers. False (and nothing done) without the sql plugin."""
    try:
        from ..sql import drivers_of
    except ImportError:  # pragma: no cover - the sql plugin is not installed
        return False
    drivers = drivers_of(scheme)
    if drivers is None:
        return False
    drivers.register(InternalDriver())
    return True
