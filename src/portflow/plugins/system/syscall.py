"""syscall: create, read, update and delete specs and values in the runtime's store (reference §12).

The engine has no API of its own for changing specs; a workflow (usually in the ``system`` namespace)
provides one with this kind. Each ``opcode`` is one operation on one collection:

==================  =======================================  ============================================
opcode              input                                    output
==================  =======================================  ============================================
``*.create``        a document, or a list of them            the stored document(s), ids filled in
``*.read``          a filter map, a list of them, or null    the matching documents (a list)
``*.update``        a patch with ``id`` (or namespace and    the stored document(s) after the patch
                    ``name``), or a list of them
``*.replace``       a whole document with ``id`` (or         the stored document(s)
                    namespace and ``name``), or a list
``*.delete``        a filter map, or a list of them          the deleted documents (a list)
==================  =======================================  ============================================

``*`` is ``specs``, ``values`` or ``charts`` (uniflow v0.12's reusable composites; ``secrets``, v0.12's
name of values, is accepted with a deprecation note in the log). A filter maps fields to the value they must equal (``{id}``,
``{namespace, name}``); a list of filters means any of them. An update is a JSON merge patch (RFC 7386):
the keys it names replace the stored ones, maps merge, ``null`` removes a key. A document without a
namespace goes to ``default``.

Revisions: every document answered carries ``revision``, the number of its last write (a delete answers
the revision the document had). An update, replace or delete whose input has ``revision`` (an admin API
puts ``If-Match`` there) writes only if the stored document is still at that revision, else it answers
409 and writes nothing; the check and the write are one transaction. Without one, an update still
merges onto the revision it read: a write in between makes it read and merge again. ``revision`` is never
stored.

Documents are checked exactly as ``portflow apply`` checks them (``apply.prepare_specs`` with the
runtime's scheme, then ``admission.admit``, which compiles each spec; ``apply.prepare_values``): a
rejected document stores nothing and answers a
``SyscallError`` on ``error`` whose message names the spec and the field, one line per problem. Every
error carries an HTTP-style ``status`` — 400 invalid input, 404 no such document, 409 a duplicate id or
name, 500 the store failed — so a flow can answer with it.
"""

from __future__ import annotations

import copy
import logging
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...admission import admission_context, admit
from ...apply import prepare_charts, prepare_specs, prepare_values
from ...errors import CompileError, ConflictError, FlowError, NotFoundError, RevisionConflict, StoreError, UserError
from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme, spec_error
from ...spec import DEFAULT_NAMESPACE, Spec, new_id
from ...store.base import Batch

__all__ = ["SyscallSpec", "Syscall", "SyscallError", "OPCODES", "compile_syscall", "register", "merge_patch",
           "store_of", "deprecated_secrets"]

log = logging.getLogger("portflow.syscall")

OPCODES = (
    "specs.create", "specs.read", "specs.update", "specs.replace", "specs.delete",
    "values.create", "values.read", "values.update", "values.replace", "values.delete",
    "charts.create", "charts.read", "charts.update", "charts.replace", "charts.delete",
)

Opcode = Literal[
    "specs.create", "specs.read", "specs.update", "specs.replace", "specs.delete",
    "values.create", "values.read", "values.update", "values.replace", "values.delete",
    "charts.create", "charts.read", "charts.update", "charts.replace", "charts.delete",
    "secrets.create", "secrets.read", "secrets.update", "secrets.replace", "secrets.delete",  # uniflow v0.12's values
]

MERGE_ATTEMPTS = 5
"""How many times an update without an expected revision reads and merges again when a write came between."""


def deprecated_secrets(word: str, spec: Spec | None = None) -> str:
    """``secrets`` (uniflow v0.12's name of values, in CLI words, opcodes and topics) as ``values``,
    with a deprecation note in the log; any other word unchanged."""
    head, dot, rest = word.partition(".")
    if head != "secrets":
        return word
    where = f"{spec.subject}: " if spec is not None else ""
    log.warning("%s%r is uniflow v0.12's name; portflow calls secrets values: use %r (the old name is "
                "deprecated)", where, word, "values" + dot + rest)
    return "values" + dot + rest


class SyscallSpec(Spec, kw_only=True):
    """Calls one operation on the store: ``specs.create|read|update|delete`` or the same for ``values``.

    Create and update take a document or a list of them and answer the stored documents; read and
    delete take a filter map (``{namespace, name}``, ``{id}``; a list means any of them) and answer a
    list. A document that fails validation is rejected, naming the field, exactly as ``apply`` rejects
    it; errors carry a ``status`` (400, 404, 409, 500).
    """

    opcode: Annotated[Opcode, Meta(
        description="the store operation: specs.*, values.* or charts.*, create|read|update|replace|delete")]


class SyscallError(FlowError):
    """A syscall that failed: its message, an HTTP-style ``status`` and, for rejected documents, one
    line per problem (``problems``)."""

    def __init__(self, message: str, status: int = 400, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = list(problems or [])

    def to_dict(self) -> dict[str, Any]:
        """``{status, error, problems?}``: what a flow usually answers with."""
        out: dict[str, Any] = {"status": self.status, "error": str(self)}
        if self.problems:
            out["problems"] = self.problems
        return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge key by key, ``None`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _documents(payload: Any, what: str) -> tuple[list[dict[str, Any]], bool]:
    """The input as a list of documents, and whether it was a single one."""
    if isinstance(payload, dict):
        return [payload], True
    if isinstance(payload, list) and all(isinstance(d, dict) for d in payload):
        return list(payload), False
    raise SyscallError(f"input: expected {what} or a list of them, got {_type(payload)}")


def _filter(payload: Any, *, required: bool) -> dict[str, Any]:
    """A store filter from the input: a map, a list of maps (any of them), or null (everything)."""
    if payload is None or payload == {} or payload == []:
        if required:
            raise SyscallError("input: a filter is required (an empty filter would delete everything)")
        return {}
    if isinstance(payload, dict):
        return dict(payload)
    if isinstance(payload, list) and all(isinstance(f, dict) for f in payload):
        return {"$or": list(payload)}
    raise SyscallError(f"input: expected a filter map or a list of them, got {_type(payload)}")


def _take_revision(doc: dict[str, Any]) -> int | None:
    """Remove ``revision`` from an input document: the revision it expects to replace (None: any)."""
    rev = doc.pop("revision", None)
    if rev is None:
        return None
    if isinstance(rev, str) and rev.isdigit():
        rev = int(rev)
    if not isinstance(rev, int) or isinstance(rev, bool) or rev < 0:
        raise SyscallError(f"revision: expected a revision number (an int >= 0), got {rev!r}")
    return rev


def _type(value: Any) -> str:
    return {dict: "a map", list: "a list", str: "a string", type(None): "null", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _mapped(exc: BaseException) -> SyscallError:
    """A store or validation error as a SyscallError with its status."""
    if isinstance(exc, SyscallError):
        return exc
    if isinstance(exc, RevisionConflict):
        now = "it does not exist" if exc.actual is None else f"it is at revision {exc.actual}"
        return SyscallError(f"revision: expected {exc.expected}, but {now}: it changed since it was read", 409)
    if isinstance(exc, ConflictError):
        return SyscallError(str(exc), 409)
    if isinstance(exc, NotFoundError):
        return SyscallError(str(exc), 404)
    if isinstance(exc, StoreError):
        return SyscallError(str(exc), 500)
    return SyscallError(str(exc), 400)


class Syscall(OneToOne):
    """in -> one store operation -> out | error. Built from plain arguments: the opcode, the store, and
    the scheme that validates specs (without one, only the meta fields are checked)."""

    def __init__(self, opcode: str, store: Any, scheme: Scheme | None = None,
                 namespace: str = DEFAULT_NAMESPACE, admission: Context | None = None) -> None:
        if opcode not in OPCODES:
            raise UserError(f"opcode: {opcode!r} is not one of {', '.join(OPCODES)}")
        self.opcode = opcode
        self.store = store
        self.scheme = scheme
        self.namespace = namespace
        self.admission = admission  # a context to compile specs in before they are written (None: no compile)
        topic, _, self.verb = opcode.partition(".")
        self.topic = topic
        super().__init__()

    @property
    def collection(self) -> Any:
        return getattr(self.store, self.topic)

    async def action(self, proc: Process, pck: Packet) -> Packet:
        try:
            result = await getattr(self, "_" + self.verb)(pck.payload)
        except (SyscallError, UserError, StoreError) as exc:
            return Packet(_mapped(exc))
        return Packet(result)

    # -- checking ---------------------------------------------------------------------------------
    async def _prepare(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.topic == "specs":
            valid, problems = prepare_specs(docs, self.namespace, self.scheme)
            if not problems and self.admission is not None:
                admitted = await admit(valid, self.admission)
                problems = admitted.problems
                for line in admitted.warnings:
                    log.warning("%s", line)
        elif self.topic == "charts":
            valid, problems = prepare_charts(docs, self.namespace)
        else:
            valid, problems = prepare_values(docs, self.namespace)
        if problems:
            raise SyscallError("\n".join(problems), 400, problems)
        return valid

    # -- operations -------------------------------------------------------------------------------
    async def _with_revisions(self, docs: list[dict[str, Any]], revisions: dict[str, int] | None = None
                              ) -> list[dict[str, Any]]:
        """``docs`` with each one's ``revision`` (read from the store unless given)."""
        if revisions is None:
            revisions = await self.collection.revisions([d["id"] for d in docs]) if docs else {}
        return [dict(d, revision=revisions.get(d["id"], 0)) for d in docs]

    async def _create(self, payload: Any) -> Any:
        docs, single = _documents(payload, "a document")
        docs = [dict(d) for d in docs]
        for doc in docs:
            _take_revision(doc)  # a new document replaces nothing
        valid = await self._prepare(docs)
        for doc in valid:
            if not doc.get("id"):
                doc["id"] = new_id()
        batch = Batch(insert=valid)
        await self.collection.commit(batch)
        out = await self._with_revisions(valid, batch.revisions)
        return out[0] if single else out

    async def _read(self, payload: Any) -> list[dict[str, Any]]:
        return await self._with_revisions(await self.collection.find(_filter(payload, required=False)))

    async def _update(self, payload: Any) -> Any:
        return await self._write(payload, replace=False)

    async def _replace(self, payload: Any) -> Any:
        return await self._write(payload, replace=True)

    async def _write(self, payload: Any, *, replace: bool) -> Any:
        """Update (merge-patch) or replace documents, each over the revision expected or read."""
        patches, single = _documents(payload, "a whole document" if replace else "a patch")
        patches = [dict(p) for p in patches]
        expected = [_take_revision(p) for p in patches]
        for attempt in range(MERGE_ATTEMPTS):
            merged, expect = [], {}
            for patch, want in zip(patches, expected, strict=True):
                current = await self._current(patch)
                rev = (await self.collection.revisions([current["id"]])).get(current["id"], 0)
                body = {k: v for k, v in patch.items() if k != "id"}
                if replace:
                    doc = dict(body, namespace=body.get("namespace") or current["namespace"])
                else:
                    doc = merge_patch(current, body)
                if doc.get("namespace") != current["namespace"]:
                    raise SyscallError(f"namespace: cannot change from {current['namespace']!r} to "
                                       f"{doc.get('namespace')!r}; delete the document and create it anew")
                doc["id"] = current["id"]
                merged.append(doc)
                expect[doc["id"]] = rev if want is None else want
            valid = await self._prepare(merged)
            batch = Batch(update=valid, expect=expect)
            try:
                await self.collection.commit(batch)
            except RevisionConflict:
                if any(want is not None for want in expected) or attempt == MERGE_ATTEMPTS - 1:
                    raise
                continue  # someone wrote in between: merge onto what they wrote
            out = await self._with_revisions(valid, batch.revisions)
            return out[0] if single else out
        raise AssertionError("unreachable")

    async def _current(self, patch: dict[str, Any]) -> dict[str, Any]:
        """The stored document a patch names, by id, else by namespace and name."""
        if patch.get("id"):
            if not isinstance(patch["id"], str):
                raise SyscallError(f"id: expected a string, got {_type(patch['id'])}")
            found = await self.collection.find({"id": patch["id"]}, limit=1)
            what = f"id {patch['id']!r}"
        elif patch.get("name"):
            namespace = patch.get("namespace") or self.namespace
            found = await self.collection.find({"namespace": namespace, "name": patch["name"]}, limit=1)
            what = f"name {patch['name']!r} in namespace {namespace!r}"
        else:
            raise SyscallError("id: required (or a name, and a namespace unless it is "
                               f"{self.namespace!r}), to say which document to update")
        if not found:
            raise SyscallError(f"{self.topic}: no document with {what}", 404)
        return found[0]

    async def _delete(self, payload: Any) -> list[dict[str, Any]]:
        flt = _filter(payload, required=True)
        want = _take_revision(flt) if "revision" in flt else None
        gone = await self._with_revisions(await self.collection.find(flt))
        if want is not None and not gone:
            raise SyscallError(f"{self.topic}: nothing matches to delete at revision {want}", 404)
        expect = {d["id"]: want for d in gone} if want is not None else {}
        if gone:
            await self.collection.commit(Batch(delete=[d["id"] for d in gone], expect=expect))
        return gone


def store_of(context: Context, spec: Spec) -> Any:
    """The store of the runtime compiling ``spec`` (``context.store``); a CompileError without one."""
    if context.store is None:
        raise spec_error(spec, "", "needs a runtime with a store to run in", error=CompileError)
    return context.store


def compile_syscall(spec: SyscallSpec, context: Context) -> Syscall:
    store = store_of(context, spec)
    admission = admission_context(context.scheme, context.languages, context.hooks, context.settings, store)
    return Syscall(deprecated_secrets(spec.opcode, spec), store, context.scheme, admission=admission)


EXAMPLE = """\
- kind: syscall
  name: create-specs
  opcode: specs.create
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "syscall", SyscallSpec, compile_syscall,
        description="Create, read, update or delete specs, values or charts in the store (opcode specs.*, values.* or charts.*).",
        ports={"in": "documents (create, update) or a filter map (read, delete)",
               "out": "the stored, found or deleted documents",
               "error": "a SyscallError: the message (naming the field) and an HTTP-style status"},
        example=EXAMPLE, plugin="system",
    )
