"""Optional parts of portflow, installed as extras: the one place that says which import needs which.

=================  ==========================================  ====================================
extra              what it brings                              used by
=================  ==========================================  ====================================
``postgres``       psycopg, psycopg-pool                       ``postgresql://`` stores, sql driver postgres
``mysql``          asyncmy                                     sql driver mysql
``otlp``           the OpenTelemetry OTLP exporter             exporting traces
``nats``           nats-py                                     the ``nats`` kind
``mqtt``           paho-mqtt                                   the ``mqtt`` kind
``amqp``           aio-pika                                    the ``amqp`` kind
``redis``          redis-py                                    the ``redis`` kind
``all``            every extra above
=================  ==========================================  ====================================

The default install keeps SQLite, HTTP, CEL, JavaScript, Python and the pictures (igraph). :func:`require` imports what a part
needs, or raises one line naming the extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .errors import UserError

__all__ = ["EXTRAS", "MissingExtra", "require", "missing", "install_hint"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg", "psycopg_pool"),
    "mysql": ("asyncmy",),
    "otlp": (),  # filled by the tracing work: the OTLP exporter's modules
    "nats": ("nats",),
    "mqtt": ("paho",),
    "amqp": ("aio_pika",),
    "redis": ("redis",),
}
"""Extra name -> the top-level modules it installs."""


class MissingExtra(UserError):
    """A part of portflow was asked for whose extra is not installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the {extra!r} extra: pip install 'portflow[{extra}]'")
        self.extra = extra


def install_hint(extra: str) -> str:
    return f"pip install 'portflow[{extra}]'"


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str, what: str) -> list[ModuleType]:
    """Import the modules of ``extra`` (for ``what``, say "a postgresql:// store"), or raise MissingExtra."""
    if missing(extra):
        raise MissingExtra(what, extra)
    return [importlib.import_module(m) for m in EXTRAS[extra]]
