"""Diff: what an apply would change, document by document, as a unified diff of YAML (like ``kubectl diff``).

``apply(..., dry_run=True)`` decides what would be created, updated and removed without writing;
:func:`changes` pairs each such row with the stored version and :func:`render` writes one unified diff
per document (``--- stored`` / ``+++ file``). Values hold secrets: their ``data`` is masked on both sides,
a changed leaf shows as ``*** (changed)``; the texts of the namespace's values are also hidden wherever a
spec quotes them (``redact``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from .redact import redact
from .spec import META_KEYS

__all__ = ["Change", "changes", "render", "mask_pair", "secret_texts"]

_ORDER = ("id", "kind", "namespace", "name", "annotations", "env", "ports")
_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MASK = "***"


@dataclass(frozen=True)
class Change:
    """One document an apply would change: ``action`` is created, updated or removed."""

    resource: str  # specs | values
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def label(self) -> str:
        doc = self.after or self.before or {}
        return f"{self.resource[:-1]} {doc.get('namespace')}/{doc.get('name') or doc.get('id')}"


def _ordered(doc: dict[str, Any], like: dict[str, Any] | None = None) -> dict[str, Any]:
    """``doc`` with the meta fields first, then the other fields in ``like``'s order, then the rest."""
    keys = [k for k in _ORDER if k in doc]
    keys += [k for k in (like or doc) if k in doc and k not in META_KEYS and k not in keys]
    keys += [k for k in doc if k not in keys]
    return {k: doc[k] for k in keys}


def mask_pair(before: Any, after: Any) -> tuple[Any, Any]:
    """Both sides of a value's ``data`` with every leaf masked; a leaf that differs is ``*** (changed)`` on
    the new side, so a change shows without showing either secret."""
    if isinstance(before, dict) and isinstance(after, dict):
        old = {k: mask_pair(v, after.get(k, _MISSING))[0] for k, v in before.items()}
        new = {k: mask_pair(before.get(k, _MISSING), v)[1] for k, v in after.items()}
        return old, new
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        pairs = [mask_pair(a, b) for a, b in zip(before, after, strict=True)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    masked_old: Any = _mask(before)
    masked_new: Any = _mask(after)
    if before is not _MISSING and after is not _MISSING and before != after and masked_old == masked_new:
        masked_new = f"{MASK} (changed)"
    return masked_old, masked_new


_MISSING: Any = object()


def _mask(value: Any) -> Any:
    if value is _MISSING:
        return None
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return MASK


def secret_texts(values: Iterable[dict[str, Any]]) -> list[str]:
    """The string and number leaves of the values' data: what a spec's diff must not show."""
    out: list[str] = []

    def walk(data: Any) -> None:
        if isinstance(data, dict):
            for v in data.values():
                walk(v)
        elif isinstance(data, list):
            for v in data:
                walk(v)
        elif isinstance(data, (str, int, float)) and not isinstance(data, bool):
            out.append(str(data))

    for value in values:
        walk(value.get("data"))
    return out


def changes(resource: str, rows: Iterable[tuple[str, dict[str, Any]]],
            stored: dict[str, dict[str, Any]]) -> list[Change]:
    """The rows of a dry-run apply that change something, each with the stored version (``stored`` by id)."""
    out = []
    for action, doc in rows:
        if action == "created":
            out.append(Change(resource, action, None, doc))
        elif action == "updated":
            out.append(Change(resource, action, stored.get(doc["id"]), doc))
        elif action == "removed":
            out.append(Change(resource, action, doc, None))
    return out


def _yaml(doc: dict[str, Any] | None) -> list[str]:
    if doc is None:
        return []
    text = yaml.dump(doc, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return str(text).splitlines(keepends=True)


def _sides(change: Change) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    before, after = change.before, change.after
    if change.resource == "values":
        if before is not None and after is not None:
            old, new = mask_pair(before.get("data", _MISSING), after.get("data", _MISSING))
            before = {**before, "data": old} if "data" in before else before
            after = {**after, "data": new} if "data" in after else after
        else:
            before = {**before, "data": _mask(before.get("data"))} if before is not None else None
            after = {**after, "data": _mask(after.get("data"))} if after is not None else None
    if after is not None:
        after = _ordered(after, before)
    if before is not None:
        before = _ordered(before, after)
    return before, after


def render(found: Iterable[Change], secrets: Iterable[str] = ()) -> str:
    """One unified diff per change (``--- stored``, ``+++ file``), secrets hidden."""
    hidden = list(secrets)
    parts = []
    for change in found:
        before, after = _sides(change)
        head_old = f"stored {change.label}" if before is not None else "/dev/null"
        head_new = f"file {change.label}" if after is not None else "/dev/null"
        lines = difflib.unified_diff(_yaml(before), _yaml(after), head_old, head_new, n=3)
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        parts.append(redact(text, hidden))
    return "".join(parts)
