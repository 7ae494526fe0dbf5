"""Values across the ``sqlite`` driver's boundary: arguments as SQLite binds them, rows as maps."""

from __future__ import annotations

import datetime
import decimal
import json
import sqlite3
from typing import Any

from . import Rows, row_maker

__all__ = ["_bind", "_fetch"]


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
