"""Admission: compile the specs about to be written, so that one that would not run is refused, not stored.

``apply`` and the admin API (``syscall`` ``specs.create``/``specs.update``) call :func:`admit` after
``apply.prepare_specs``: each spec of a known kind is decoded and compiled with its kind's codec in a
private context (its languages compile the snippets: CEL, JavaScript, TypeScript, Python), then the node
is closed again. What does not compile is a problem line naming the spec, the field and the reason. A
spec of a kind this process does not know is a warning, not a problem: its plugin may be installed only
where the runtime runs. A spec with ``env`` is compiled by the runtime, once its values are bound.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import RuntimeSettings
from .errors import PortflowError, SpecError, UserError
from .scheme import Context, decode_struct
from .spec import DEFAULT_NAMESPACE, META_KEYS, Spec, describe, new_id
from .symbol import Symbol, SymbolTable

__all__ = ["Admission", "Built", "admit", "admission_context", "compiled", "problem_line"]

log = logging.getLogger("portflow.admission")


@dataclass
class Admission:
    """What admission found: ``problems`` refuse the write; ``warnings`` do not."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def admission_context(scheme: Any, languages: Any = None, hooks: Any = None,
                      settings: RuntimeSettings | Mapping[str, Any] | None = None, store: Any = None) -> Context:
    """The registries and store that specs are admitted with; each ``admit`` compiles in a fresh copy."""
    return Context(scheme=scheme, languages=languages, hooks=hooks, settings=RuntimeSettings.of(settings),
                   store=store)


@dataclass(eq=False)
class Built:
    """One document compiled for a look, not a run: its symbol (``node`` None when it was not compiled) and
    what compiling raised. ``skipped`` says why a document was not compiled: ``kind`` (unknown) or ``env``
    (its values are bound by the runtime)."""

    doc: dict[str, Any]
    symbol: Symbol
    error: BaseException | None = None
    skipped: str = ""

    @property
    def warning(self) -> str | None:
        """Why a document of a kind this process does not know was not compiled; None otherwise."""
        if self.skipped != "kind":
            return None
        return (f"{describe(self.doc)}: unknown kind {self.doc.get('kind')!r}; stored, not compiled "
                "(its plugin may be installed where the runtime runs)")

    @property
    def problem(self) -> str | None:
        """The error as one line naming the spec, None when it compiled (or was skipped)."""
        return None if self.error is None else problem_line(self.doc, self.error)


async def admit(docs: Iterable[dict[str, Any]], context: Context) -> Admission:
    """Compile each prepared document with its kind's codec; see the module docstring."""
    result = Admission()
    async with compiled(docs, context) as built:
        for b in built:
            if b.warning:
                result.warnings.append(b.warning)
            elif b.problem:
                result.problems.append(b.problem)
    return result


@contextlib.asynccontextmanager
async def compiled(docs: Iterable[dict[str, Any]], context: Context,
                   bind: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> AsyncIterator[list[Built]]:
    """Each document decoded and compiled in a fresh context (never loaded: nothing listens or runs); the
    nodes and the services their codecs created are closed on leaving. ``lint``, ``get`` and ``graph``
    look at what this gives; ``admit`` reports its problems. A document with ``env`` is compiled only when
    ``bind`` binds it (returns the bound document, not None)."""
    scheme = context.scheme
    # A private context, as a runtime's (a store, a table) that runs nothing: the services a codec creates
    # (pools, listener registries) close with it. Without a store, an empty private one stands in.
    own_store = None
    if context.store is None:
        from .store.memory import MemoryStore

        own_store = MemoryStore(f"memory://admission-{new_id()}")
        await own_store.open()
    context = Context(scheme=scheme, languages=context.languages, hooks=context.hooks, settings=context.settings,
                      store=context.store or own_store, table=SymbolTable(context.hooks))
    built: list[Built] = []
    try:
        for doc in docs:
            built.append(_build(doc, context, bind))
        yield built
    finally:
        for b in built:
            close = getattr(b.symbol.node, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        await context.lifetime.aclose()
        if own_store is not None:
            from .store.memory import forget

            await own_store.close()
            forget(own_store.url)


def _meta_spec(doc: dict[str, Any]) -> tuple[Spec, list[str]]:
    """The meta fields of ``doc`` alone (its links still count when its own fields are not compiled), and
    their problems; a stub with id, kind and name when they do not decode."""
    from .runtime import _stub_spec

    meta, problems = decode_struct({k: v for k, v in doc.items() if k in META_KEYS}, Spec)
    if problems:
        namespace = doc.get("namespace")
        return _stub_spec(doc, namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE), problems
    return meta, []


def _build(doc: dict[str, Any], context: Context,
           bind: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> Built:
    scheme = context.scheme
    kind = doc.get("kind")
    meta, problems = _meta_spec(doc)
    if scheme.kind(kind if isinstance(kind, str) else "") is None:
        return Built(doc, Symbol(spec=meta, doc=doc), skipped="kind")
    bound = bind(doc) if bind is not None and doc.get("env") and not problems else doc
    if bound is None or (bound is doc and doc.get("env")):  # its fields are templates until bound
        return Built(doc, Symbol(spec=meta, doc=doc), SpecError(describe(doc), problems) if problems else None,
                     skipped="env")
    try:
        spec = scheme.decode(bound)
    except PortflowError as exc:
        return Built(doc, Symbol(spec=meta, doc=doc), exc)
    try:
        node = scheme.compile(spec, context)
    except Exception as exc:  # reported as the document's problem
        log.debug("%s: codec failed", describe(doc), exc_info=True)
        return Built(doc, Symbol(spec=spec, doc=doc), exc)
    return Built(doc, Symbol(spec=spec, node=node, doc=doc))


def problem_line(doc: dict[str, Any], exc: BaseException) -> str:
    """What compiling ``doc`` raised, as one line naming the spec."""
    if isinstance(exc, UserError):  # Scheme.decode/compile name the spec
        return " ".join(str(exc).split("\n"))
    if isinstance(exc, PortflowError):
        return f"{describe(doc)}: " + " ".join(str(exc).split("\n"))
    return f"{describe(doc)}: compile failed: {type(exc).__name__}: {exc}"
