"""Positions for a picture: a layered (Sugiyama) layout, left to right, by igraph.

igraph (a dependency of portflow) assigns layers, breaks cycles, orders each layer to reduce
crossings (long edges pass through a dummy vertex per layer); this module turns its unit grid into boxes
sized by their text, packed so that nothing overlaps. A block or step is laid out inside first and then placed as one box in its parent's
layout, so its children stay together. The result is plain numbers (:class:`Layout`): ``svg.py`` draws
it, and a browser view can draw the same.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .graph import Node, Picture

__all__ = ["Box", "Layout", "layout", "node_lines", "CHAR", "LINE"]

CHAR = 7.0  # px per character at the 12px font svg.py uses
LINE = 16.0  # px per text line
PAD = 10.0
GAP_X = 70.0  # between layers: room for an edge label
GAP_Y = 26.0
HEADER = 22.0  # a group's title bar
ROW = 30.0  # px per unit of igraph's order inside a layer (rows are then packed so that nothing overlaps)
DUMMY = 14.0  # the room a long edge's bend takes in a layer


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class Layout:
    """Boxes by node key (children included, in absolute coordinates), each edge's polyline (in the order
    of ``Picture.all_edges``), and the whole size."""

    boxes: dict[str, Box] = field(default_factory=dict)
    routes: list[list[tuple[float, float]]] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def node_lines(node: Node) -> list[str]:
    """The text lines a node's box shows (``svg.py`` draws the same)."""
    if node.port:
        return [node.label]
    lines = [node.label, node.kind]
    if node.reason:
        lines.append("inactive: " + (node.reason if len(node.reason) <= 48 else node.reason[:47] + "…"))
    return lines


def _size(node: Node) -> tuple[float, float]:
    lines = node_lines(node)
    return max(len(t) for t in lines) * CHAR + 2 * PAD, len(lines) * LINE + PAD


def _igraph() -> Any:
    try:
        import igraph
    except ImportError:
        raise UserError("SVG needs the layout library igraph, which this installation lacks: "
                        "pip install 'igraph>=1.0,<1.1' (or use -o mermaid or -o dot)") from None
    return igraph


@dataclass
class _Placed:
    """A picture laid out at the origin: boxes and routes relative to (0, 0)."""

    boxes: dict[str, Box]
    routes: dict[int, list[tuple[float, float]]]  # id(edge) -> points
    width: float
    height: float


def _place(pic: Picture) -> _Placed:
    igraph = _igraph()
    inner: dict[str, _Placed] = {}
    sizes: list[tuple[float, float]] = []
    for node in pic.nodes:
        if node.children is not None and node.children.nodes:
            sub = inner[node.key] = _place(node.children)
            title_w = (len(node_lines(node)[0]) + len(node.kind) + 3) * CHAR + 2 * PAD
            sizes.append((max(sub.width + 2 * PAD, title_w), sub.height + 2 * PAD + HEADER))
        else:
            sizes.append(_size(node))
    index = {n.key: i for i, n in enumerate(pic.nodes)}
    edge_list = [e for e in pic.edges if e.src in index and e.dst in index]
    pairs = [(index[e.src], index[e.dst]) for e in edge_list]
    n = len(pic.nodes)
    # Pass 1: igraph's layers (cycles broken, longest path). Pass 2: every long edge through a dummy vertex
    # per layer it crosses, laid out with those layers, so each edge's bends are real positions.
    first = igraph.Graph(n=n, edges=[p for p in pairs if p[0] != p[1]], directed=True).layout_sugiyama()
    layer = [round(c[1]) for c in first.coords]
    dummies: list[list[int]] = []
    ext_layers = list(layer)
    ext_edges: list[tuple[int, int]] = []
    for u, v in pairs:
        chain: list[int] = []
        step = 1 if layer[v] > layer[u] else -1
        for lay in range(layer[u] + step, layer[v], step):
            chain.append(len(ext_layers))
            ext_layers.append(lay)
        dummies.append(chain)
        if u != v and layer[u] != layer[v]:
            path = [u, *chain, v]
            ext_edges.extend(itertools.pairwise(path))
    second = igraph.Graph(n=len(ext_layers), edges=ext_edges, directed=True)
    coords = [tuple(c) for c in second.layout_sugiyama(layers=ext_layers, maxiter=200).coords]
    # Layers become columns; the order inside a layer (igraph's x) becomes rows, packed top-down.
    layers = sorted(set(ext_layers))
    col_w = {lay: max((sizes[i][0] for i in range(n) if layer[i] == lay), default=0.0) for lay in layers}
    col_x: dict[int, float] = {}
    x = 0.0
    for lay in layers:
        col_x[lay] = x
        x += col_w[lay] + GAP_X
    width = x - GAP_X if layers else 0.0
    boxes: dict[str, Box] = {}
    points: dict[int, tuple[float, float, float]] = {}  # dummy vertex -> (left, right, y): a level run
    height = 0.0
    for lay in layers:
        members = sorted((i for i in range(len(ext_layers)) if ext_layers[i] == lay), key=lambda i: coords[i][0])
        bottom = -GAP_Y
        for i in members:
            if i < n:
                w, h = sizes[i]
                y = max(coords[i][0] * ROW, bottom + GAP_Y)
                boxes[pic.nodes[i].key] = Box(col_x[lay] + (col_w[lay] - w) / 2, y, w, h)
                bottom = y + h
            else:
                y = max(coords[i][0] * ROW, bottom + DUMMY)
                points[i] = (col_x[lay], col_x[lay] + col_w[lay], y)
                bottom = y
        height = max(height, bottom)
    routes: dict[int, list[tuple[float, float]]] = {}
    for e, chain in zip(edge_list, dummies, strict=True):
        a, b = boxes[e.src], boxes[e.dst]
        forward = a.cx <= b.cx
        start = (a.x + a.w, a.cy) if forward else (a.x, a.cy)
        stop = (b.x, b.cy) if forward else (b.x + b.w, b.cy)
        bends = [((left, y), (right, y)) if forward else ((right, y), (left, y))
                 for left, right, y in (points[d] for d in chain)]
        routes[id(e)] = [start, *(p for pair in bends for p in pair), stop]
    for key, sub in inner.items():
        box = boxes[key]
        dx, dy = box.x + (box.w - sub.width) / 2, box.y + HEADER + PAD
        for child_key, child in sub.boxes.items():
            boxes[child_key] = Box(child.x + dx, child.y + dy, child.w, child.h)
        for edge_id, route in sub.routes.items():
            routes[edge_id] = [(px + dx, py + dy) for px, py in route]
    return _Placed(boxes, routes, width, height)


def layout(pic: Picture, margin: float = 20.0) -> Layout:
    """Place every node of ``pic`` (see the module docstring)."""
    placed = _place(pic)
    out = Layout(width=placed.width + 2 * margin, height=placed.height + 2 * margin)
    for key, box in placed.boxes.items():
        out.boxes[key] = Box(round(box.x + margin, 1), round(box.y + margin, 1), round(box.w, 1), round(box.h, 1))
    for e in pic.all_edges():
        points = placed.routes.get(id(e), [])
        out.routes.append([(round(x + margin, 1), round(y + margin, 1)) for x, y in points])
    return out
