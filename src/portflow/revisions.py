"""Reading a store's history: what changed between revisions, and what a rollback writes.

A rollback is an ordinary write (through ``apply``, so specs are admitted as any apply's are, and runtimes
see it through the change stream); this module only works out what to write.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .spec import parse_duration
from .store.base import Revision

__all__ = ["parse_time", "parse_at", "changed_fields", "previous", "NamespacePlan", "plan_namespace"]


def parse_at(at: str) -> datetime.datetime:
    """A history timestamp (``2026-12-02T06:50:01.123Z``) as an aware datetime."""
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))


def parse_time(text: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """``--to-time``: an ISO 8601 time (UTC unless it names an offset) or a duration ago (``10m``, ``1h30m``)."""
    now = now or datetime.datetime.now(datetime.UTC)
    text = text.strip()
    try:
        return now - datetime.timedelta(seconds=float(parse_duration(text)))
    except (ValueError, TypeError, UserError):
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--to-time: {text!r} is neither a time (2026-12-02T06:50:00Z) nor a duration ago "
                        "(10m, 2h)") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """The top-level fields whose values differ between two versions of a document (sorted)."""
    old, new = old or {}, new or {}
    return sorted(k for k in {*old, *new} if k != "id" and old.get(k, ...) != new.get(k, ...))


def previous(history: list[Revision]) -> Revision | None:
    """The revision a plain ``rollback`` returns to: the one before the newest (history newest first)."""
    return history[1] if len(history) > 1 else None


@dataclass
class NamespacePlan:
    """What rolling a namespace back to a time writes: documents to put, stored ones to remove."""

    put: list[dict[str, Any]] = field(default_factory=list)
    remove: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_namespace(history: Iterable[Revision], current: Iterable[dict[str, Any]], when: datetime.datetime,
                   noun: str) -> NamespacePlan:
    """The writes that make the documents of ``history`` what they were at ``when``.

    Per document: its newest revision at or before ``when`` is put back (or, if that revision is a delete,
    the document is removed); a document first created after ``when`` is removed. When the kept history
    does not reach back to ``when`` (older revisions were trimmed), that is a problem line: the state then
    is not known.
    """
    plan = NamespacePlan()
    by_id: dict[str, list[Revision]] = {}
    for rev in history:
        by_id.setdefault(rev.id, []).append(rev)
    stored = {d["id"]: d for d in current}
    for ident, revs in by_id.items():
        revs.sort(key=lambda r: r.revision)
        before = [r for r in revs if parse_at(r.at) <= when]
        label = revs[-1].name or ident
        if before:
            target = before[-1]
        elif revs[0].op == "insert":
            target = None  # created after `when`
        else:
            plan.problems.append(f"{noun} {label!r}: the kept history starts at {revs[0].at}, after the time asked "
                                 "for (older revisions were trimmed: setting history.keep)")
            continue
        now = stored.get(ident)
        if target is None or target.doc is None:
            if now is not None:
                plan.remove.append(now)
        elif now != target.doc:
            plan.put.append(dict(target.doc))
    return plan
