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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import RuntimeSettings
from .errors import PortflowError, UserError
from .scheme import Context
from .spec import describe

__all__ = ["Admission", "admit", "admission_context"]

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


async def admit(docs: Iterable[dict[str, Any]], context: Context) -> Admission:
    """Compile each prepared document with its kind's codec; see the module docstring."""
    result = Admission()
    scheme = context.scheme
    # A private context: the services a codec creates (pools, listener registries) close with it.
    context = Context(scheme=scheme, languages=context.languages, hooks=context.hooks, settings=context.settings,
                      store=context.store)
    try:
        await _admit_each(docs, context, result)
    finally:
        await context.lifetime.aclose()
    return result


async def _admit_each(docs: Iterable[dict[str, Any]], context: Context, result: Admission) -> None:
    scheme = context.scheme
    for doc in docs:
        if scheme.kind(doc.get("kind") or "") is None:
            result.warnings.append(f"{describe(doc)}: unknown kind {doc.get('kind')!r}; stored, not compiled "
                                   "(its plugin may be installed where the runtime runs)")
            continue
        if doc.get("env"):
            continue
        problem = await _compile(doc, context)
        if problem:
            result.problems.append(problem)


async def _compile(doc: dict[str, Any], context: Context) -> str | None:
    """None when ``doc`` compiles (its node is closed again), else the problem line."""
    try:
        node = context.scheme.compile(context.scheme.decode(doc), context)
    except UserError as exc:  # Scheme.compile names the spec
        return " ".join(str(exc).split("\n"))
    except PortflowError as exc:
        return f"{describe(doc)}: " + " ".join(str(exc).split("\n"))
    except Exception as exc:
        log.debug("%s: codec failed", describe(doc), exc_info=True)
        return f"{describe(doc)}: compile failed: {type(exc).__name__}: {exc}"
    close = getattr(node, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
    return None
