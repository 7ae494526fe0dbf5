"""What the browser view reads and writes of one spec: its YAML, saving an edit, its history, a rollback,
and the namespace's workflow tests.

Each goes through the code the CLI runs, so the page can do nothing the CLI would not: the YAML is what
``portflow get specs NAME -o yaml`` prints; a save is ``portflow apply`` (``cli.apply.apply_file``: checked,
admitted, one transaction, a new revision every runtime picks up from the change stream), expecting the
revision the page read, so a change made meanwhile is refused, not overwritten; a rollback is
``portflow rollback NAME --to REV`` (``cli.history.rollback_spec``); tests run as ``portflow test`` runs them.
A refused save names, per problem, the field and the line of the edited text it is about.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..cli.common import open_store_for

__all__ = ["spec_detail", "save", "spec_history", "rollback", "field_line", "problem_at", "test_names",
           "run_live_tests"]

_FIELD = re.compile(r"^spec '[^']*' \(kind [^)]*\): ([A-Za-z_][\w\-]*(?:\[\d+\]|\.[A-Za-z_][\w\-]*)*): ")


def dump(doc: dict[str, Any]) -> str:
    """One spec as ``portflow get specs NAME -o yaml`` prints it."""
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


async def _find(settings: Any, namespace: str, name: str) -> tuple[dict[str, Any] | None, int]:
    store = await open_store_for(settings)
    try:
        found = await store.specs.find({"namespace": namespace, "$or": [{"name": name}, {"id": name}]}, limit=1)
        if not found:
            return None, 0
        revs = await store.specs.revisions([found[0]["id"]])
        return found[0], int(revs.get(found[0]["id"], 0))
    finally:
        await store.close()


async def spec_detail(settings: Any, namespace: str, name: str) -> dict[str, Any] | None:
    """The stored spec ``name``: its YAML, revision and what ``get`` warns about it (None: no such spec)."""
    from ..cli.get import spec_warnings
    from ..cli.graph import stored_docs

    doc, revision = await _find(settings, namespace, name)
    if doc is None:
        return None
    others = await stored_docs(settings, namespace)
    return {"name": doc.get("name") or doc["id"], "id": doc["id"], "kind": doc.get("kind"), "yaml": dump(doc),
            "revision": revision, "compile": await spec_warnings(settings, [doc], others)}


def field_line(text: str, path: str) -> int | None:
    """The line (1-based) of ``text`` (one YAML mapping) where the field ``path`` (``routes[0].path``) is."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[A-Za-z_][\w\-]*|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            if index >= len(node.value):
                break
            node = node.value[index]
            line = node.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        else:
            break
    return line


def problem_at(text: str, message: str) -> dict[str, Any]:
    """A problem line as ``{message, field, line}``: the field it names and where that is in ``text``."""
    found = _FIELD.match(message)
    field = found.group(1) if found else None
    return {"message": message, "field": field, "line": field_line(text, field) if field else None}


async def save(settings: Any, namespace: str, name: str, text: str, revision: int | None) -> dict[str, Any]:
    """Write the edited YAML of spec ``name`` as ``portflow apply`` does; nothing is written on a problem.

    ``{"ok": true, "revision": N, "warnings": [...]}``, or ``{"ok": false, "problems": [{message, field,
    line}]}``."""
    from ..cli.apply import apply_file
    from ..errors import PortflowError

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        why = " ".join(str(getattr(exc, "problem", None) or exc).split())
        return {"ok": False, "problems": [{"message": f"spec {name!r}: not YAML: {why}", "field": None,
                                           "line": mark.line + 1 if mark is not None else None}]}
    if not isinstance(doc, dict):
        return {"ok": False, "problems": [{"message": f"spec {name!r}: expected one spec (a mapping), got "
                                                      f"{type(doc).__name__}", "field": None, "line": 1}]}
    if doc.get("namespace", namespace) != namespace:
        return {"ok": False, "problems": [problem_at(text, f"spec {name!r} (kind {doc.get('kind')}): namespace: "
                                                           f"the view edits namespace {namespace!r} only")]}
    current, stored = await _find(settings, namespace, name)
    if current is not None and not doc.get("id"):
        doc["id"] = current["id"]  # the same spec, even when the edit removed its id
    expect = {}
    if revision is not None and current is not None:
        from ..apply import doc_ref

        expect = {doc_ref(doc, namespace): revision}
    try:
        result, problems, warnings = await apply_file(settings, "specs", [doc], namespace, False, expect)
    except PortflowError as exc:  # a conflict: changed since the page read it
        return {"ok": False, "problems": [problem_at(text, " ".join(str(exc).split()))]}
    if problems or result is None:
        return {"ok": False, "problems": [problem_at(text, p) for p in problems], "warnings": warnings}
    ident = doc.get("id") or ""
    return {"ok": True, "revision": result.revisions.get(ident, stored), "warnings": warnings,
            "name": doc.get("name") or ident}


async def spec_history(settings: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    """The kept revisions of spec ``name``, newest first, as ``portflow history`` lists them, each with its
    YAML (None for a delete)."""
    from ..cli.history import read_history
    from ..revisions import changed_fields

    revs, _ = await read_history(settings, "specs", namespace, name)
    out = []
    for i, r in enumerate(revs):
        older = next((o for o in revs[i + 1:] if o.id == r.id), None)
        changed = "" if r.op == "delete" or older is None else ", ".join(changed_fields(older.doc, r.doc))
        out.append({"revision": r.revision, "at": r.at, "op": r.op, "changed": changed,
                    "yaml": dump(r.doc) if r.doc is not None else None})
    return out


async def rollback(settings: Any, namespace: str, name: str, to: int | None) -> dict[str, Any]:
    """``portflow rollback NAME --to REV``: ``{"ok", "message"}`` or ``{"ok": false, "problems"}``."""
    from ..cli.history import rollback_spec
    from ..errors import PortflowError

    try:
        message, problems, _ = await rollback_spec(settings, "specs", namespace, name, to)
    except PortflowError as exc:
        return {"ok": False, "problems": [{"message": " ".join(str(exc).split()), "field": None, "line": None}]}
    if problems:
        return {"ok": False, "problems": [{"message": p, "field": None, "line": None} for p in problems]}
    return {"ok": True, "message": message}


def test_names(docs: list[dict[str, Any]], namespace: str) -> list[str]:
    """``namespace/name`` of each stored spec of kind ``test``, as ``portflow test`` names them."""
    return sorted(f"{namespace}/{d.get('name') or d.get('id')}" for d in docs if d.get("kind") == "test")


async def run_live_tests(runtime: Any, pattern: str, timeout: float | None) -> list[dict[str, Any]]:
    """Run the tests of a running ``runtime`` matching ``pattern`` with its runner, as ``portflow test`` runs
    them (a test that never became active is a failure saying why); each ``{name, passed, message,
    seconds}``, by name, messages masked. A bad pattern is a ``ValueError``."""
    from ..cli.test import inactive_tests
    from ..errors import FlowError
    from ..plugins.testing.runner import Result, find_runner
    from .recent import masked

    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern: {exc}") from None
    runner = find_runner(runtime.context)
    results = [Result(n, FlowError(why), 0.0) for n, why in inactive_tests(runtime, runner, regex)]
    if runner is not None:
        results += await runner.run(regex, timeout=timeout)
    return [{"name": r.name, "passed": r.passed, "message": masked(r.message, 2000), "seconds": r.duration}
            for r in sorted(results, key=lambda r: r.name)]
