"""The one place portflow's PostgreSQL driver uses psycopg's internals.

The driver sends ``BEGIN`` and a transaction's first statement in one write (libpq's pipeline mode,
driven directly) and waits for the answers on the socket itself, which needs what a psycopg cursor uses
inside: ``PostgresQuery`` (the conversion of a query, once, and of its parameters, each time, so both
paths bind alike), and, for a statement larger than the socket's buffer, the ``generators.send`` a
connection's ``wait`` runs. They are written against psycopg ``SUPPORTED`` (pinned in pyproject.toml);
``check()`` says, naming the installed version, when an assumption no longer holds.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from ....errors import ConfigError

__all__ = ["SUPPORTED", "PostgresQuery", "generators", "check", "installed", "wait"]

#: The psycopg minor versions this module is written against (``>=3.3,<3.4`` in pyproject.toml).
SUPPORTED = ((3, 3),)

from psycopg import generators  # noqa: E402 - after the pin it is written against
from psycopg._queries import PostgresQuery  # noqa: E402


def installed() -> str:
    return version("psycopg")


def check() -> None:
    """Raise ``ConfigError`` naming the installed psycopg when this module's assumptions do not hold."""
    found = installed()
    try:
        minor = tuple(int(part) for part in found.split(".")[:2])
        generators.send  # noqa: B018 - an attribute that must exist
        for name in ("convert", "dump", "query", "params", "types", "formats"):
            if not hasattr(PostgresQuery, name) and name not in getattr(PostgresQuery, "__slots__", ()):
                raise AttributeError(f"PostgresQuery.{name}")
        import psycopg

        psycopg.AsyncConnection.wait  # noqa: B018 - an attribute that must exist
    except (AttributeError, ValueError) as exc:
        raise ConfigError(f"psycopg {found}: its internal API changed ({exc}); portflow supports psycopg "
                          f"{_supported()}") from None
    if minor not in SUPPORTED:
        raise ConfigError(f"psycopg {found} is not a version portflow supports ({_supported()})")


def _supported() -> str:
    return ", ".join(f"{a}.{b}.x" for a, b in SUPPORTED)


def wait(conn: Any, gen: Any) -> Any:
    """``conn.wait(gen)``: run a libpq generator on the connection (awaitable)."""
    return conn.wait(gen)

