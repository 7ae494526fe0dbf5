"""The SQLite store's SQL: its tables, how a ``sqlite:`` URL names a file, and filters as SQLite SQL."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from portflow.errors import UserError

from .base import COLUMNS, mask_url

__all__ = ["TABLES", "CHANGELOG", "HISTORY", "SCHEMA", "SEED_HISTORY", "TRIM_HISTORY", "LEASES", "DIALECT", "sqlite_path"]

TABLES = {"specs": "portflow_specs", "values": "portflow_values", "charts": "portflow_charts"}
CHANGELOG = "portflow_changelog"
HISTORY = "portflow_history"

SCHEMA = [
    *(
        stmt
        for table in TABLES.values()
        for stmt in (
            f"""CREATE TABLE IF NOT EXISTS {table} (
                pos INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                namespace TEXT NOT NULL,
                name TEXT,
                doc TEXT NOT NULL
            )""",
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_namespace_name ON {table} (namespace, name)",
        )
    ),
    f"""CREATE TABLE IF NOT EXISTS {CHANGELOG} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    # One row per write of a document: the document as written (NULL: deleted). `revision` numbers the
    # writes of the store; `seq` is the changelog row of the same write.
    f"""CREATE TABLE IF NOT EXISTS {HISTORY} (
        revision INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL,
        collection TEXT NOT NULL,
        op TEXT NOT NULL,
        id TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT,
        doc TEXT,
        at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    f"CREATE INDEX IF NOT EXISTS {HISTORY}_id ON {HISTORY} (collection, id, revision)",
    f"CREATE INDEX IF NOT EXISTS {HISTORY}_name ON {HISTORY} (collection, namespace, name)",
]

SEED_HISTORY = [
    f"""INSERT INTO {HISTORY} (seq, collection, op, id, namespace, name, doc)
        SELECT 0, '{collection}', 'insert', id, namespace, name, doc FROM {table} AS d
        WHERE NOT EXISTS (SELECT 1 FROM {HISTORY} AS h WHERE h.collection = '{collection}' AND h.id = d.id)
        ORDER BY pos"""
    for collection, table in TABLES.items()
]
"""Migration (run on every open, a no-op once done): a document without a history (stored by an earlier
version) gets its current state as its first revision."""

TRIM_HISTORY = (
    f"DELETE FROM {HISTORY} WHERE revision IN (SELECT revision FROM (SELECT revision, row_number() OVER"
    f" (PARTITION BY id ORDER BY revision DESC) AS n FROM {HISTORY} WHERE collection = ? AND id IN ({{ids}})) AS r"
    " WHERE n > ?)"
)
"""Keep the newest N revisions of each document of a write (``{ids}``: one ``?`` per id)."""

# Leases (``acquire_lease``): created on first use. ``expires`` is the machine's Unix time in seconds.
LEASES = [
    """CREATE TABLE IF NOT EXISTS portflow_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires REAL NOT NULL
    )""",
]
LEASE_TAKE = (
    "INSERT INTO portflow_leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
    " SET holder = excluded.holder, expires = excluded.expires"
    " WHERE portflow_leases.holder = excluded.holder OR portflow_leases.expires <= ?"
)
LEASE_RELEASE = "DELETE FROM portflow_leases WHERE name = ? AND holder = ?"


def sqlite_path(url: str) -> str:
    """The file path a ``sqlite:`` URL names (``~`` expanded), or ``:memory:``."""
    if not url.startswith("sqlite:"):
        raise UserError(f"not a sqlite URL: {mask_url(url)}")
    rest = url[len("sqlite:"):]
    if rest.startswith("///"):
        path = rest[3:]
    elif rest.startswith("//"):
        path = rest[2:]
        if not path.startswith("~"):
            raise UserError(f"bad sqlite URL {mask_url(url)}: use sqlite:///relative/path.db or sqlite:////abs/path.db")
    else:
        path = rest
    path = urllib.parse.unquote(path.split("?", 1)[0])
    if not path:
        raise UserError(f"bad sqlite URL {mask_url(url)}: no file path")
    if path == ":memory:":
        return path
    return os.path.expanduser(path)


class _Dialect:
    """Filter terms in SQLite SQL: columns for id/namespace/name, ``json_type``/``json_extract`` otherwise."""

    def term(self, field: str, values: tuple[Any, ...]) -> tuple[str, list[Any], bool]:
        parts: list[str] = []
        params: list[Any] = []
        exact = True
        if field in COLUMNS:
            strs = [v for v in values if isinstance(v, str)]
            if strs:
                parts.append(f"{field} IN ({', '.join('?' * len(strs))})")
                params.extend(strs)
            if any(v is None for v in values):
                parts.append(f"{field} IS NULL")
        else:
            path = f'$."{field}"'
            for v in values:
                if v is None:
                    parts.append("coalesce(json_type(doc, ?), 'null') = 'null'")
                    params.append(path)
                elif isinstance(v, bool):
                    parts.append("json_type(doc, ?) = ?")
                    params += [path, "true" if v else "false"]
                elif isinstance(v, (int, float)):  # the cheap, selective test first
                    parts.append("(json_extract(doc, ?) = ? AND json_type(doc, ?) IN ('integer', 'real'))")
                    params += [path, v if -(2**63) <= v < 2**63 else float(v), path]
                elif isinstance(v, str):
                    parts.append("(json_extract(doc, ?) = ? AND json_type(doc, ?) = 'text')")
                    params += [path, v, path]
                elif isinstance(v, (Mapping, list, tuple)):
                    parts.append("json_type(doc, ?) = ?")  # narrowed here, compared by matches()
                    params += [path, "object" if isinstance(v, Mapping) else "array"]
                    exact = False
                else:
                    raise UserError(f"filter value for {field!r} is not a JSON value: {v!r}")
        if not parts:
            return "1=0", [], True
        return "(" + " OR ".join(parts) + ")", params, exact


DIALECT = _Dialect()
