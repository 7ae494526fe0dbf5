"""Applying documents to a store: what ``apply``, ``start --from-specs`` and ``test`` share.

``prepare`` fills in namespaces and ids and checks each document (one line per problem, naming the
document and the field); ``apply`` upserts the valid ones by id, else by namespace and name, and with
``prune`` removes the namespace's documents that the input lacks. A document's ``revision`` field (or an
``expect`` given for it) is the revision it must replace: it is checked in the transaction that writes, and
never stored (``take_revisions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import RevisionConflict, UserError
from .spec import check_meta, describe, new_id
from .store.base import Batch

__all__ = ["ApplyResult", "prepare_specs", "prepare_values", "prepare_charts", "apply", "take_revisions", "doc_ref", "DocRef"]

DocRef = tuple[str, ...]
"""How an input document names what it replaces: ``("id", id)``, else ``("name", namespace, name)``."""


def doc_ref(doc: Mapping[str, Any], namespace: str) -> DocRef:
    """The :data:`DocRef` of ``doc`` (its namespace defaulting to ``namespace``)."""
    if isinstance(doc.get("id"), str) and doc["id"]:
        return ("id", doc["id"])
    return ("name", str(doc.get("namespace") or namespace), str(doc.get("name") or ""))


def take_revisions(docs: Iterable[dict[str, Any]], namespace: str) -> tuple[dict[DocRef, int], list[str]]:
    """Remove each document's ``revision`` field (in place): the revisions they expect to replace, by
    :func:`doc_ref`, and one problem line per revision that is not an int >= 0."""
    expect: dict[DocRef, int] = {}
    problems: list[str] = []
    for doc in docs:
        if "revision" not in doc:
            continue
        rev = doc.pop("revision")
        if rev is None:
            continue
        if not isinstance(rev, int) or isinstance(rev, bool) or rev < 0:
            problems.append(f"{_label(doc)!r}: revision: expected a revision number (an int >= 0), got {rev!r}")
            continue
        expect[doc_ref(doc, namespace)] = rev
    return expect, problems


@dataclass
class ApplyResult:
    """What an apply did, document by document: (action, document) pairs in input order."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: The stored version of each updated document, by id (what ``diff`` compares against).
    before: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The new revision of each document written, by id.
    revisions: dict[str, int] = field(default_factory=dict)

    def count(self, action: str) -> int:
        return sum(1 for a, _ in self.rows if a == action)

    def summary(self) -> str:
        parts = [f"{self.count(a)} {a}" for a in ("created", "updated", "unchanged", "removed") if self.count(a)]
        return ", ".join(parts) or "nothing to do"


def _label(doc: dict[str, Any]) -> str:
    return str(doc.get("name") or doc.get("id") or "?")


def _prepare(docs: Iterable[dict[str, Any]], namespace: str, noun: str,
             check: Callable[[dict[str, Any], str], str | None]) -> tuple[list[dict[str, Any]], list[str]]:
    """Fill namespaces, run ``check(doc, subject)`` (a problem line or None) on each document, and refuse a
    second use of a name in a namespace."""
    valid, problems = [], []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(docs):
        doc = dict(raw)
        if not doc.get("namespace"):
            doc["namespace"] = namespace
        if noun == "spec":
            subject = describe(doc) if (doc.get("name") or doc.get("id")) else f"spec #{i + 1}"
        else:
            subject = f"{noun} {_label(doc)!r}" if (doc.get("name") or doc.get("id")) else f"{noun} #{i + 1}"
        problem = check(doc, subject)
        if problem:
            problems.append(problem)
            continue
        if doc.get("name"):
            key = (doc["namespace"], doc["name"])
            if key in seen:
                problems.append(f"{subject}: name {doc['name']!r} is used twice in namespace {doc['namespace']!r}")
                continue
            seen.add(key)
        valid.append(doc)
    return valid, problems


def prepare_specs(docs: Iterable[dict[str, Any]], namespace: str, scheme: Any = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Fill namespaces, check meta fields (and, for specs of known kinds without templates, the kind's fields).

    Returns the valid documents and one problem line per invalid one. Two specs with one name in a
    namespace: the second is the problem.
    """
    def check(doc: dict[str, Any], subject: str) -> str | None:
        meta = check_meta(doc)
        if meta:
            return f"{subject}: " + "; ".join(meta)
        if scheme is None or doc.get("env") or scheme.kind(doc["kind"]) is None:
            return None
        try:
            scheme.decode(doc)
        except UserError as exc:
            return str(exc)
        return None

    return _prepare(docs, namespace, "spec", check)


def prepare_values(docs: Iterable[dict[str, Any]], namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Fill namespaces and check that each value has a name or id and ``data``."""
    def check(doc: dict[str, Any], subject: str) -> str | None:
        bad = [f"{k}: expected a string" for k in ("id", "namespace", "name")
               if doc.get(k) is not None and not isinstance(doc.get(k), str)]
        if "data" not in doc:
            bad.append("data: required")
        return f"{subject}: " + "; ".join(bad) if bad else None

    return _prepare(docs, namespace, "value", check)


def prepare_charts(docs: Iterable[dict[str, Any]], namespace: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Fill namespaces and check each chart (``chart.check_chart``: a name, specs, mappings)."""
    from .chart import check_chart

    def check(doc: dict[str, Any], subject: str) -> str | None:
        bad = check_chart(doc)
        return f"{subject}: " + "; ".join(bad) if bad else None

    return _prepare(docs, namespace, "chart", check)


def _kind_label(collection: Any) -> str:
    return {"values": "value", "charts": "chart"}.get(getattr(collection, "name", ""), "spec")


async def _current(collection: Any, docs: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """The stored documents the input may match, by id and by (namespace, name), in a few queries."""
    ids = sorted({d["id"] for d in docs if d.get("id")})
    by_id = {d["id"]: d for d in await collection.find({"id": ids})} if ids else {}
    names: dict[str, set[str]] = {}
    for d in docs:
        if d.get("name"):
            names.setdefault(d["namespace"], set()).add(d["name"])
    by_name: dict[tuple[str, str], dict[str, Any]] = {}
    for ns, wanted in names.items():
        for d in await collection.find({"namespace": ns, "name": sorted(wanted)}):
            by_name[(d["namespace"], d["name"])] = d
    return by_id, by_name


async def apply(collection: Any, docs: list[dict[str, Any]], *, namespace: str, prune: bool = False,
                spare: Iterable[Mapping[str, Any]] = (), dry_run: bool = False,
                expect: Mapping[DocRef, int] | None = None, remove: Iterable[dict[str, Any]] = ()) -> ApplyResult:
    """Upsert ``docs`` (prepared) into ``collection``; with ``prune``, remove the namespace's others.

    Everything is written in one transaction (``collection.commit``): a conflict or a crash part-way
    leaves the collection as it was, and watchers see the whole apply as one run of changes.

    ``spare`` lists documents that pruning must keep even though ``docs`` lacks them (matched by id, or
    by namespace and name): pass the whole input, so a document rejected by ``prepare_*`` is not deleted
    just because its new version was invalid. With ``dry_run`` nothing is written (and a document to be
    created gets no id): the result says what would be done (``diff.py`` shows it).

    ``expect`` maps a document (by :func:`doc_ref`) to the revision it must replace; a stored document at
    another revision (or none) refuses the whole apply with :class:`RevisionConflict`. ``remove`` lists
    stored documents to delete in the same transaction. ``result.revisions`` maps written ids to their new
    revisions.
    """
    result = ApplyResult()
    expect = dict(expect or {})
    left, bad = take_revisions(docs, namespace)  # callers that did not take them: never stored
    if bad:
        raise UserError("; ".join(bad))
    expect = {**left, **expect}
    existing = await collection.find({"namespace": namespace}) if prune else []
    by_id, by_name = await _current(collection, docs)
    for doc in docs:
        current = by_id.get(doc.get("id") or "")
        if current is not None and current.get("namespace") != doc["namespace"]:
            raise UserError(f"{_kind_label(collection)} {_label(doc)!r}: id {doc['id']} belongs to namespace "
                            f"{current.get('namespace')!r}, not {doc['namespace']!r}; delete it there first")
    batch = Batch()
    labels: dict[str, str] = {}
    for doc in docs:
        ref = doc_ref(doc, namespace)
        current = by_id.get(doc.get("id") or "")
        if current is None and doc.get("name"):
            current = by_name.get((doc["namespace"], doc["name"]))
        if current is None:
            if not doc.get("id") and not dry_run:
                doc["id"] = new_id()
            batch.insert.append(doc)
            result.rows.append(("created", doc))
        else:
            doc["id"] = current["id"]
        ident = doc.get("id") or ""  # none only for a document a dry run would create
        labels[ident] = _label(doc)
        if ref in expect:
            batch.expect[ident] = expect[ref]
        if current is None:
            continue
        if current == doc:
            result.rows.append(("unchanged", doc))
        else:
            batch.update.append(doc)
            result.rows.append(("updated", doc))
            result.before[doc["id"]] = current
    if prune:
        keep = {doc["id"] for doc in docs if doc.get("id")}
        spared = list(spare)
        keep |= {d["id"] for d in spared if isinstance(d.get("id"), str) and d["id"]}
        names = {(d.get("namespace") or namespace, d["name"]) for d in spared if isinstance(d.get("name"), str)}
        gone = [d for d in existing if d["id"] not in keep and (d.get("namespace"), d.get("name")) not in names]
        batch.delete = [d["id"] for d in gone]
        result.rows.extend(("removed", d) for d in gone)
    for d in remove:
        if d["id"] not in batch.delete:
            batch.delete.append(d["id"])
            result.rows.append(("removed", d))
        labels[d["id"]] = _label(d)
        if ("id", d["id"]) in expect:
            batch.expect[d["id"]] = expect[("id", d["id"])]
    if (batch or batch.expect) and not dry_run:
        try:
            await collection.commit(batch)  # one transaction: all of it, or (on an error) none of it
        except RevisionConflict as exc:
            label = labels.get(exc.ident, exc.ident)
            now = "it does not exist" if exc.actual is None else f"it is at revision {exc.actual}"
            raise RevisionConflict(
                f"{_kind_label(collection)} {label!r}: expected revision {exc.expected}, but {now} (changed since "
                "it was read); nothing applied", exc.ident, exc.expected, exc.actual) from None
        result.revisions = batch.revisions
    return result
