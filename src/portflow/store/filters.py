"""Store filters: validation, matching documents in Python, and compiling a filter to SQL for a dialect.

A filter is field equality on top-level keys; a list/tuple/set value means "any of"; ``{"$or": [filter, ...]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from portflow.errors import UserError

__all__ = ["Filter", "COLUMNS", "check_filter", "matches", "json_eq", "Dialect", "compile_filter"]

Filter = Mapping[str, Any]
"""Field equality on top-level keys; a list/tuple/set value means "any of"; ``{"$or": [filter, ...]}``."""

COLUMNS = ("id", "namespace", "name")
"""The fields every backend keeps in their own column; the only fields a watch filter may use."""

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ANY_OF = (list, tuple, set, frozenset)

def check_filter(filter: Filter | None, *, watch: bool = False) -> dict[str, Any]:
    """Validate a filter and return it normalised: any-of values as tuples, ``$or`` as a tuple of filters.

    Field names must be identifier-like; with ``watch=True`` only ``id``, ``namespace`` and ``name`` are allowed.
    """
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise UserError(f"a filter must be a mapping, got {type(filter).__name__}")
    out: dict[str, Any] = {}
    for key, value in filter.items():
        if key == "$or":
            if not isinstance(value, (list, tuple)):
                raise UserError(f"filter '$or' needs a list of filters, got {type(value).__name__}")
            out[key] = tuple(check_filter(sub, watch=watch) for sub in value)
            continue
        if not isinstance(key, str) or not _FIELD.match(key):
            raise UserError(f"bad filter field {key!r}: use a top-level field name (letters, digits, _)")
        if watch and key not in COLUMNS:
            raise UserError(f"a watch filter may only use id, namespace and name, not {key!r}")
        value = tuple(value) if isinstance(value, _ANY_OF) else value
        for v in value if isinstance(value, tuple) else (value,):
            if not _is_json(v):
                raise UserError(f"filter value for {key!r} is not a JSON value: {v!r}")
        out[key] = value
    return out


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def json_eq(a: Any, b: Any) -> bool:
    """Equality of JSON values: bools are not numbers, 1 == 1.0, objects compare by keys and values."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_eq(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is None and b is None
    return type(a) is type(b) and a == b


def _field_eq(doc: Mapping[str, Any], key: str, value: Any) -> bool:
    if value is None:
        return doc.get(key) is None  # a missing field equals None
    return key in doc and json_eq(doc[key], value)


def matches(doc: Mapping[str, Any], filter: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies a filter normalised by :func:`check_filter`."""
    for key, value in filter.items():
        if key == "$or":
            if not any(matches(doc, sub) for sub in value):
                return False
        elif isinstance(value, tuple):
            if not any(_field_eq(doc, key, v) for v in value):
                return False
        elif not _field_eq(doc, key, value):
            return False
    return True


class Dialect(Protocol):
    """How a SQL backend says "field equals one of values"; see :func:`compile_filter`."""

    def term(self, field: str, values: tuple[Any, ...]) -> tuple[str, list[Any], bool]:
        """SQL for ``field`` equal to any of ``values``, its parameters, and whether it is exact."""
        ...


def compile_filter(filter: Mapping[str, Any], dialect: Dialect) -> tuple[str, list[Any], bool]:
    """A normalised filter as a SQL condition, its bound parameters, and whether the SQL is exact.

    When it is not exact (a dict or list value that SQL only narrows down), the rows must be checked
    with :func:`matches` too. Field names were validated by :func:`check_filter`; values are always parameters.
    """
    parts: list[str] = []
    params: list[Any] = []
    exact = True
    for key, value in filter.items():
        if key == "$or":
            subs = []
            for sub in value:
                sql, p, e = compile_filter(sub, dialect)
                subs.append(sql)
                params.extend(p)
                exact = exact and e
            parts.append("(" + " OR ".join(subs) + ")" if subs else "1=0")
        else:
            sql, p, e = dialect.term(key, value if isinstance(value, tuple) else (value,))
            parts.append(sql)
            params.extend(p)
            exact = exact and e
    return (" AND ".join(parts) if parts else "1=1"), params, exact
