"""Readiness: whether every spec of a namespace is active and every listener is bound, and why not.

One function, ``check(runtime)``, answers for ``/readyz`` and ``start --strict``. Each entry that is not
ready names the spec, its kind and the reason: the symbol's error (what ``get`` and the load log show, such
as ``load failed: cannot listen on 127.0.0.1:8000: Address already in use``), its missing targets, or what
its node reports through ``not_ready()`` (a listener whose socket is gone). The wiring warnings of every
symbol (``Symbol.warnings``) are listed too; they do not make a namespace unready, but ``--strict`` refuses
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..runtime import missing_targets
from ..symbol import Symbol, SymbolTable

__all__ = ["Readiness", "check", "reason"]


@dataclass
class Readiness:
    """``ready`` when nothing is in ``not_ready``; ``warnings`` are the symbols' wiring warnings."""

    not_ready: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.not_ready

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "not_ready": self.not_ready, "warnings": self.warnings}

    def lines(self, strict: bool = False) -> list[str]:
        """One line per entry not ready (and, ``strict``, per warning), for a terminal."""
        out = [entry["message"] for entry in self.not_ready]
        if strict:
            out += [entry["message"] for entry in self.warnings]
        return out


def reason(table: SymbolTable, sb: Symbol) -> str | None:
    """Why ``sb`` is not ready, or None when it is active (and its node, if it can say, is ready)."""
    if sb.error is not None and not (sb.loaded and sb.error.startswith("stale: ")):
        return sb.error
    if sb.node is None:
        return "not compiled"
    missing = missing_targets(table, sb)
    if missing:  # the wiring warning says the same with the field and a did-you-mean: show what was logged
        prefix = f"{sb.describe()}: "
        named = [w.removeprefix(prefix) for w in sb.warnings if "no spec" in w]
        return "; ".join(named) if named else missing
    if not sb.loaded:
        broken = [t.label for _, _, t in table.targets(sb) if t is not None and not t.loaded]
        return f"inactive: target {', '.join(repr(b) for b in broken)} is not active" if broken else "not loaded"
    probe = getattr(sb.node, "not_ready", None)
    return probe() if probe is not None else None


def _entry(sb: Symbol, why: str) -> dict[str, Any]:
    subject = sb.describe()
    message = why if why.startswith(subject) else f"{subject}: {why}"
    return {"spec": sb.label, "kind": sb.kind, "reason": why, "message": message}


def check(runtime: Any) -> Readiness:
    """The readiness of ``runtime``'s namespace (a runtime that has not finished loading is not ready)."""
    result = Readiness()
    if not getattr(runtime, "loaded", True):
        result.not_ready.append({"spec": None, "kind": None, "reason": "loading",
                                 "message": f"namespace {runtime.namespace!r}: loading"})
        return result
    for sb in runtime.table:
        if sb.namespace != runtime.namespace:
            continue
        why = reason(runtime.table, sb)
        if why is not None:
            result.not_ready.append(_entry(sb, why))
        for warning in sb.warnings:
            result.warnings.append(_entry(sb, warning))
    return result
