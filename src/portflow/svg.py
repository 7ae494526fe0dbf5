"""Drawing a laid-out picture as SVG (positions from ``layout.py``; no layout here)."""

from __future__ import annotations

import itertools
import math
from xml.sax.saxutils import escape

from .graph import Node, Picture
from .layout import HEADER, LINE, PAD, Layout, node_lines

__all__ = ["svg"]

_STYLE = """
    text { font: 12px Helvetica, Arial, sans-serif; fill: #263238; }
    .kind { fill: #607d8b; font-size: 11px; }
    .reason { fill: #c62828; font-size: 11px; }
    .node { fill: #ffffff; stroke: #455a64; stroke-width: 1.2; }
    .node.inactive { fill: #fdecea; stroke: #c62828; stroke-width: 2; stroke-dasharray: 5 3; }
    .node.missing { fill: #ffffff; stroke: #c62828; stroke-dasharray: 2 2; }
    .node.port { fill: #eceff1; stroke: #607d8b; }
    .group { fill: #f5f7f8; stroke: #90a4ae; }
    .group.inactive { stroke: #c62828; stroke-dasharray: 5 3; }
    .edge { fill: none; stroke: #546e7a; stroke-width: 1.2; marker-end: url(#arrow); }
    .edge.error { stroke-dasharray: 6 4; }
    .edge.broken { stroke: #c62828; }
    .label { fill: #37474f; font-size: 10px; }
"""


def _classes(node: Node) -> str:
    if node.port:
        return "node port"
    if node.missing:
        return "node missing"
    return "node inactive" if node.reason else "node"


def _halfway(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The point halfway along a polyline (where its label goes)."""
    segments = list(itertools.pairwise(points))
    lengths = [math.dist(a, b) for a, b in segments]
    left = sum(lengths) / 2
    for (a, b), length in zip(segments, lengths, strict=True):
        if left <= length and length > 0:
            t = left / length
            return round(a[0] + (b[0] - a[0]) * t, 1), round(a[1] + (b[1] - a[1]) * t, 1)
        left -= length
    return points[-1]


def svg(pic: Picture, placed: Layout) -> str:
    """``pic`` drawn at ``placed``'s positions."""
    w, h = round(placed.width), round(placed.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
           f"  <title>{escape(pic.title)}</title>",
           f"  <style>{_STYLE}  </style>",
           '  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#546e7a"/></marker></defs>']
    for node in pic.walk():  # parents first: a group's box lies under its children
        box = placed.boxes.get(node.key)
        if box is None:
            continue
        if node.children is not None and node.children.nodes:
            cls = "group inactive" if node.reason else "group"
            title = f"{node.label} ({node.kind})" + (" — inactive" if node.reason else "")
            out.append(f'  <g id="{node.key}"><title>{escape(node.reason or title)}</title>'
                       f'<rect class="{cls}" x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="8"/>'
                       f'<text x="{box.x + PAD}" y="{box.y + HEADER - 6}">{escape(title)}</text></g>')
            continue
        lines = node_lines(node)
        radius = box.h / 2 if node.port else 6
        parts = [f'  <g id="{node.key}">']
        if node.reason:
            parts.append(f"<title>{escape(node.reason)}</title>")
        parts.append(f'<rect class="{_classes(node)}" x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" '
                     f'rx="{radius}"/>')
        for i, text in enumerate(lines):
            cls = "" if i == 0 else (' class="kind"' if i == 1 else ' class="reason"')
            y = round(box.y + PAD / 2 + LINE * (i + 1) - 4, 1)
            parts.append(f'<text x="{box.cx}" y="{y}" text-anchor="middle"{cls}>{escape(text)}</text>')
        parts.append("</g>")
        out.append("".join(parts))
    for edge, points in zip(pic.all_edges(), placed.routes, strict=True):
        if len(points) < 2:
            continue
        cls = "edge" + (" error" if edge.error else "") + (" broken" if edge.broken else "")
        path = " ".join(f"{x},{y}" for x, y in points)
        lx, ly = _halfway(points)
        label = edge.label + (" (ignored)" if edge.broken else "")
        out.append(f'  <polyline class="{cls}" points="{path}"/>'
                   f'<text class="label" x="{lx}" y="{round(ly - 4, 1)}" text-anchor="middle">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
