"""Charts: uniflow v0.12's reusable composites (Node-RED users know them as subflows).

A chart is stored beside specs and values (``store.charts``): ``{id, namespace, name, annotations, specs,
inbounds, outbounds, env}``. Its ``name`` becomes a kind in its namespace: a spec of that kind is built as
a ``block`` of the chart's ``specs`` behind its ``inbounds`` and ``outbounds``, with the spec's own
``ports``. The chart's ``env`` is given to every child: an entry without ``id`` or ``name`` has its
``data`` rendered with the *using spec* as ``.`` (``{{ .name }}``, ``{{ .url }}``: any field the spec
writes, as uniflow renders it with the spec's document); an entry with ``id`` or ``name`` is bound to that
value as a spec's env is. The children's ``{{ .KEY }}`` templates then render from that env. A real kind
of the same name wins over a chart (as in uniflow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .template import render_fields

__all__ = ["CHART_KEYS", "check_chart", "expand"]

CHART_KEYS = frozenset({"id", "namespace", "name", "annotations", "specs", "inbounds", "outbounds", "env"})


def check_chart(doc: Mapping[str, Any]) -> list[str]:
    """Problems with a chart document, one line each (empty when fine)."""
    bad = [f"{k}: expected a string" for k in ("id", "namespace", "name")
           if doc.get(k) is not None and not isinstance(doc.get(k), str)]
    if not doc.get("name"):
        bad.append("name: required (it is the kind the chart makes)")
    specs = doc.get("specs")
    if not isinstance(specs, list) or not specs:
        bad.append("specs: expected a non-empty list of specs")
    elif not all(isinstance(s, Mapping) and s.get("kind") for s in specs):
        bad.append("specs: every entry needs a kind")
    for key in ("inbounds", "outbounds", "env"):
        if doc.get(key) is not None and not isinstance(doc.get(key), Mapping):
            bad.append(f"{key}: expected a mapping")
    unknown = sorted(set(doc) - CHART_KEYS - {"kind"})
    if unknown:
        bad.append(f"{unknown[0]}: not a chart field (expected {', '.join(sorted(CHART_KEYS))})")
    return bad


def _entries(raw: Any) -> Iterable[Mapping[str, Any]]:
    for entry in raw if isinstance(raw, list) else [raw]:
        if isinstance(entry, Mapping):
            yield entry


def expand(chart: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``block`` document that a spec ``doc`` of the chart's kind stands for (see the module docstring)."""
    env: dict[str, Any] = {}
    for key, raw in (chart.get("env") or {}).items():
        for entry in _entries(raw):
            if entry.get("id") or entry.get("name"):
                env[key] = {k: entry[k] for k in ("id", "name", "data") if k in entry}
            else:
                env[key] = {"data": render_fields(entry.get("data"), dict(doc), keep_type=True)}
            break  # uniflow keeps a list per key; the first entry binds, as for a spec's env
    children = []
    for child in chart.get("specs") or []:
        child = dict(child)
        if env:
            child["env"] = dict(env)
        children.append(child)
    block: dict[str, Any] = {k: doc[k] for k in ("id", "namespace", "name", "annotations", "ports") if k in doc}
    block.update(kind="block", specs=children, inbounds=chart.get("inbounds") or {},
                 outbounds=chart.get("outbounds") or {})
    return block
