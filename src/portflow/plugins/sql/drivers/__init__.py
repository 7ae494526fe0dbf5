"""SQL drivers: how the ``sql`` node talks to one kind of database.

A ``Driver`` checks a ``source`` and opens a ``Database`` on it (a pool of connections; SQLite's each
on its own thread); a ``Database`` begins ``Transaction``s; a transaction runs statements and ends with a commit or
a rollback. Everything a driver raises on purpose is an ``SQLError``: ``QueryFailed`` when the database
rejected a statement (its message is the database's), ``Unavailable`` when the database cannot be
reached or is closed.

``Drivers`` is the registry: an object, created by ``default_drivers()`` with ``sqlite``, ``postgres``
and ``mysql`` (and their aliases); another plugin adds its own driver to the one the ``sql`` kind uses
with ``portflow.plugins.sql.drivers_of(scheme).register(driver)`` (the ``system`` plugin adds
``internal``). A driver that reads the runtime it runs in defines ``bind(context)``, returning the driver
for that runtime; ``Drivers.resolve(name, context)`` calls it when a spec compiles.

``Databases`` is the per-runtime table of open databases, a runtime service
(``context.services.get(Databases)``, closed with the runtime): every ``sql`` node
on the same driver and source shares one pool, opened when the first of them loads and closed when the
last unloads. (A database a driver marks ``pinned``, SQLite's ``:memory:``, stays open for the life of
the runtime so its data survives a node being replaced.)
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import importlib
import logging
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ....errors import FlowError
from ....store.base import mask_url

__all__ = [
    "Args", "Rows", "Isolation", "parse_isolation", "Driver", "Database", "Transaction", "Drivers",
    "default_drivers", "Deferred", "Databases", "SQLError", "QueryFailed", "Unavailable", "plain", "split_options",
    "mask_source",
]

log = logging.getLogger("portflow.sql")

#: Arguments of one statement: a list (``?``), a map (``:name``), a list of maps (a batch), or none.
Args = list[Any] | dict[str, Any] | None
#: What a statement answers: row maps with NULL columns left out, or None when there are no rows.
Rows = list[dict[str, Any]] | None


# -- errors ---------------------------------------------------------------------------------------

class SQLError(FlowError):
    """A statement that did not run. ``database`` is the source with its password masked."""

    def __init__(self, message: str, *, database: str = "", code: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.database = database
        self.code = code

    def at(self, node: str) -> SQLError:
        """The same error, its message naming the node that ran the statement."""
        err = type(self)(f"sql node {node!r}: {self.message}", database=self.database, code=self.code)
        err.__cause__ = self.__cause__
        return err


class QueryFailed(SQLError):
    """The database rejected the statement (syntax, constraint, type...). The message is the database's."""


class Unavailable(SQLError):
    """The database cannot be reached, or is closed."""


# -- isolation --------------------------------------------------------------------------------------

class Isolation(enum.Enum):
    """Transaction isolation levels; each driver maps them to its own."""

    READ_UNCOMMITTED = "read uncommitted"
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"
    SERIALIZABLE = "serializable"

    @property
    def sql(self) -> str:
        return self.value.upper()


# Go's database/sql IsolationLevel numbers (uniflow decodes the field into one).
_GO_LEVELS = {0: None, 1: Isolation.READ_UNCOMMITTED, 2: Isolation.READ_COMMITTED,
              4: Isolation.REPEATABLE_READ, 6: Isolation.SERIALIZABLE}
_ISOLATION_HELP = "expected read uncommitted, read committed, repeatable read or serializable"


def parse_isolation(value: Any) -> Isolation | None:
    """``'Read Committed'``, ``'read_committed'``, ``'READ-COMMITTED'`` or Go's number; None/'' is the
    database's default. Raises ``ValueError`` naming the accepted levels."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"unknown isolation level {value!r}; {_ISOLATION_HELP}")
    if isinstance(value, int):
        if value in _GO_LEVELS:
            return _GO_LEVELS[value]
        raise ValueError(f"unsupported isolation level {value}; {_ISOLATION_HELP} (or 0, 1, 2, 4, 6)")
    if isinstance(value, str):
        text = " ".join(value.replace("_", " ").replace("-", " ").lower().split())
        if text == "default":
            return None
        for level in Isolation:
            if level.value == text:
                return level
    raise ValueError(f"unknown isolation level {value!r}; {_ISOLATION_HELP}")


# -- the protocols ----------------------------------------------------------------------------------

@runtime_checkable
class Transaction(Protocol):
    """One transaction on one connection, begun by the database when it was created or lazily."""

    async def execute(self, query: str, args: Args) -> Rows:
        """Run one statement (``args`` a list or a map) or a batch (``args`` a list of maps)."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


@runtime_checkable
class Database(Protocol):
    """An open pool (or connection) on one source."""

    #: The source as messages show it (password masked).
    label: str
    #: Keep open for the life of the runtime even when no node uses it (SQLite ``:memory:``).
    pinned: bool

    async def open(self) -> None:
        """Make the database usable. Must not fail because the server is down: queries report that."""
        ...

    async def close(self) -> None: ...

    async def begin(self, isolation: Isolation | None) -> Transaction: ...


class Driver(Protocol):
    """Opens databases of one kind. (Optionally ``bind(context) -> Driver``: see ``Drivers.resolve``.)"""

    name: str

    def check(self, source: str) -> None:
        """Raise ``ValueError`` (a one-line message about ``source``) when the source cannot be used."""
        ...

    def database(self, source: str) -> Database:
        """A new, not yet opened, database on ``source``."""
        ...


class Drivers:
    """The registry of SQL drivers, by name and alias. Create it, copy it, register into it."""

    def __init__(self) -> None:
        self._drivers: dict[str, Driver] = {}
        self._aliases: dict[str, str] = {}

    def register(self, driver: Driver, *, aliases: tuple[str, ...] | list[str] = ()) -> None:
        """Add ``driver`` under its name and ``aliases``; a name already taken is a ``ValueError``."""
        for name in (driver.name, *aliases):
            if name in self:
                raise ValueError(f"sql driver {name!r} is registered twice")
        self._drivers[driver.name] = driver
        for alias in aliases:
            self._aliases[alias] = driver.name

    def unregister(self, name: str) -> None:
        self._drivers.pop(name, None)
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def get(self, name: str) -> Driver | None:
        return self._drivers.get(name) or self._drivers.get(self._aliases.get(name, ""))

    def resolve(self, name: str, context: Any) -> Driver | None:
        """The driver called ``name`` for the runtime of ``context``: bound to it when the driver has
        ``bind(context)``. None when no driver has that name."""
        driver = self.get(name)
        bind = getattr(driver, "bind", None)
        return bind(context) if bind is not None else driver

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def copy(self) -> Drivers:
        other = Drivers()
        other._drivers = dict(self._drivers)
        other._aliases = dict(self._aliases)
        return other

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


class ExtraMissing:
    """The driver of an extra that is not installed: every source is refused with the line to install it."""

    def __init__(self, name: str, extra: str) -> None:
        self.name = name
        self.extra = extra

    def check(self, source: str) -> None:
        from ....extras import install_hint

        raise ValueError(f"the sql driver {self.name!r} needs the {self.extra!r} extra: {install_hint(self.extra)}")

    def database(self, source: str) -> Database:
        self.check(source)
        raise AssertionError("unreachable")


class Deferred:
    """A built-in driver whose module, and the database client it imports (psycopg, asyncmy, sqlite3), is
    imported when a spec first uses it: a runtime that runs no ``sql`` node on it never pays for it."""

    def __init__(self, name: str, module: str, cls: str) -> None:
        self.name = name
        self._module = module
        self._cls = cls
        self._driver: Driver | None = None

    def loaded(self) -> Driver:
        """The driver itself, its module imported on the first call."""
        if self._driver is None:
            module = importlib.import_module(f"{__name__}.{self._module}")
            self._driver = getattr(module, self._cls)()
        return self._driver

    def check(self, source: str) -> None:
        self.loaded().check(source)

    def database(self, source: str) -> Database:
        return self.loaded().database(source)


def default_drivers() -> Drivers:
    """A registry with the built-in drivers: sqlite (sqlite3), postgres (postgresql), mysql (mariadb),
    each imported when first used (``Deferred``).

    postgres and mysql come with the extras of those names; without one, its driver refuses every source
    with the line to install it."""
    from ....extras import missing

    drivers = Drivers()
    drivers.register(Deferred("sqlite", "sqlite", "SQLiteDriver"), aliases=("sqlite3",))
    if missing("postgres"):
        drivers.register(ExtraMissing("postgres", "postgres"), aliases=("postgresql", "pgx"))
    else:
        drivers.register(Deferred("postgres", "postgres", "PostgresDriver"), aliases=("postgresql", "pgx"))
    if missing("mysql"):
        drivers.register(ExtraMissing("mysql", "mysql"), aliases=("mariadb",))
    else:
        drivers.register(Deferred("mysql", "mysql", "MySQLDriver"), aliases=("mariadb",))
    return drivers


# -- the open databases of one runtime -----------------------------------------------------------

class _Entry:
    __slots__ = ("database", "refs", "ready")

    def __init__(self, database: Database) -> None:
        self.database = database
        self.refs = 0
        self.ready: asyncio.Future | None = None


def _close_pinned(pinned: list[Database]) -> None:
    """Finaliser: close pinned databases that can close without an event loop."""
    for db in pinned:
        close_now = getattr(db, "close_now", None)
        if close_now is not None:
            try:
                close_now()
            except Exception:  # noqa: BLE001, S110 - best effort at garbage collection
                pass
    pinned.clear()


class Databases:
    """Open databases by (driver, source), shared by the nodes of one runtime, counted by reference.
    A runtime service: ``context.services.get(Databases)``; ``aclose`` runs when the runtime closes."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._pinned: list[Database] = []
        weakref.finalize(self, _close_pinned, self._pinned)

    async def acquire(self, driver: Driver, source: str) -> Database:
        """The open database on ``source``, opening it if no node holds it yet."""
        key = (driver.name, source)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(driver.database(source))
        entry.refs += 1
        if entry.ready is None:
            entry.ready = asyncio.get_running_loop().create_future()
            try:
                await entry.database.open()
            except BaseException as exc:
                entry.refs -= 1
                self._entries.pop(key, None)
                entry.ready.set_exception(exc)
                entry.ready.exception()  # retrieved: nobody else may be waiting
                raise
            entry.ready.set_result(None)
            if entry.database.pinned:
                self._pinned.append(entry.database)
        else:
            try:
                await asyncio.shield(entry.ready)
            except BaseException:
                entry.refs -= 1
                raise
        return entry.database

    async def release(self, database: Database) -> None:
        """One node less on ``database``; the last one closes it (unless it is pinned)."""
        for key, entry in list(self._entries.items()):
            if entry.database is database:
                entry.refs -= 1
                if entry.refs <= 0 and not database.pinned:
                    del self._entries[key]
                    await database.close()
                return

    async def aclose(self) -> None:
        """Close every database, pinned ones included (for the runtime's close)."""
        entries = list(self._entries.values())
        self._entries.clear()
        self._pinned.clear()
        for entry in entries:
            try:
                await entry.database.close()
            except Exception:
                log.exception("closing %s failed", entry.database.label)


# -- helpers shared by the drivers ----------------------------------------------------------------

_PLAIN = frozenset({str, int, float, bool, bytes, datetime.datetime, type(None)})


def plain(value: Any) -> Any:
    """A column value as a plain payload value: Decimal -> int (no fraction digits) or float, UUID,
    date, time and timedelta -> text, memoryview -> bytes; lists and maps converted item by item."""
    tp = type(value)
    if tp in _PLAIN:
        return value
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value.as_tuple().exponent >= 0:  # type: ignore[operator]
            return int(value)
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (str, int, float, bytes)):  # subclasses (enums, ...)
        return value
    return str(value)


def row_maker(names: list[str]) -> Callable[[Any], dict[str, Any]]:
    """A function turning a row tuple into a map, leaving NULL columns out."""
    def make(values: Any) -> dict[str, Any]:
        return {n: (v if type(v) in _PLAIN else plain(v)) for n, v in zip(names, values, strict=True) if v is not None}

    return make


def mask_source(source: str) -> str:
    """``source`` fit for a message: the password in a URL, a ``password=`` option or a Go DSN's
    ``user:secret@tcp(...)`` replaced by ``***``."""
    if "://" not in source and "@" in source and "=" not in source.split("@", 1)[0]:
        userinfo, _, rest = source.partition("@")
        if ":" in userinfo:
            return f"{userinfo.split(':', 1)[0]}:***@{rest}"
        return source
    return mask_url(source)


def split_options(query: Mapping[str, list[str]], known: Mapping[str, Callable[[str], Any]],
                  ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Pick our own options (``pool_max=5``) out of a URL's query; the rest goes to the driver."""
    ours: dict[str, Any] = {}
    rest: dict[str, list[str]] = {}
    for key, values in query.items():
        if key in known:
            try:
                ours[key] = known[key](values[-1])
            except ValueError:
                raise ValueError(f"option {key}={values[-1]!r} is not valid") from None
        else:
            rest[key] = values
    return ours, rest


def positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(text)
    return value
