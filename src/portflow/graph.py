"""The picture of a namespace: its specs as nodes, their links as edges, as Mermaid or Graphviz DOT text.

:func:`picture` turns documents into a :class:`Picture`: a node per spec (name and kind, and the reason
when it cannot be active), an edge per link labelled ``out-port → in-port`` (``error`` links dashed, links
the wiring check refuses marked broken, a target that does not exist drawn as a missing node), and a
nested picture inside each ``block`` and ``step`` (its children, with the block's ports as small port
nodes). Text formats need no positions; ``layout.py`` places the nodes for SVG (and the browser view) and
``svg.py`` draws them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .port import ERROR, IN, OUT, parse_port

__all__ = ["Picture", "Node", "Edge", "picture", "mermaid", "dot"]


@dataclass
class Node:
    key: str
    label: str
    kind: str
    #: Why the spec cannot be active; empty when it can (or nobody can tell: its values bind at start).
    reason: str = ""
    #: A link's target that does not exist.
    missing: bool = False
    #: A block's in- or out-port, drawn small at the edge of its group.
    port: bool = False
    #: The children of a block or step.
    children: Picture | None = None


@dataclass
class Edge:
    src: str
    dst: str
    out: str
    inp: str
    error: bool = False
    #: The wiring check refuses this link (a port the target lacks): it is ignored at run time.
    broken: bool = False

    @property
    def label(self) -> str:
        return f"{self.out} → {self.inp}"


@dataclass
class Picture:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def all_edges(self) -> list[Edge]:
        """Every edge, this picture's first, then each child picture's (depth first)."""
        out = list(self.edges)
        for node in self.nodes:
            if node.children is not None:
                out.extend(node.children.all_edges())
        return out

    def walk(self) -> Iterable[Node]:
        """Every node, children included, parents first."""
        for node in self.nodes:
            yield node
            if node.children is not None:
                yield from node.children.walk()


def _is_error(port: str) -> bool:
    try:
        return parse_port(port)[0] == ERROR
    except ValueError:
        return False


class _Builder:
    def __init__(self, reasons: Mapping[str, str], broken: set[tuple[str, str, int]]) -> None:
        self.reasons = reasons
        self.broken = broken
        self.count = 0

    def key(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def build(self, title: str, docs: list[dict[str, Any]], namespace: str, step: bool = False) -> Picture:
        pic = Picture(title)
        by_id: dict[str, Node] = {}
        by_name: dict[tuple[str, str], Node] = {}
        children_docs: list[tuple[dict[str, Any], Node]] = []
        for i, doc in enumerate(docs):
            ns = doc.get("namespace") or namespace
            name = doc.get("name") or (f"${i}" if namespace.count("/") else "")
            node = Node(self.key(), str(name or str(doc.get("id", ""))[:8] or "?"), str(doc.get("kind") or "?"),
                        self.reasons.get(str(doc.get("id") or ""), ""))
            pic.nodes.append(node)
            if doc.get("id"):
                by_id[str(doc["id"])] = node
            if name:
                by_name[(ns, str(name))] = node
            children_docs.append((doc, node))
        missing: dict[str, Node] = {}
        for doc, node in children_docs:
            ns = doc.get("namespace") or namespace
            if isinstance(doc.get("specs"), list) and doc.get("kind") in ("block", "step"):
                node.children = self.children(doc, f"{ns}/{doc.get('name') or doc.get('id') or doc.get('kind')}")
            if step:
                continue
            for out, refs in (doc.get("ports") or {}).items() if isinstance(doc.get("ports"), dict) else ():
                for j, ref in enumerate(refs if isinstance(refs, list) else [refs]):
                    if not isinstance(ref, dict):
                        continue
                    target = by_id.get(str(ref.get("id"))) if ref.get("id") else by_name.get((ns, str(ref.get("name"))))
                    if target is None:
                        label = str(ref.get("name") or ref.get("id"))
                        target = missing.get(label)
                        if target is None:
                            target = missing[label] = Node(self.key(), label, "missing", "does not exist",
                                                           missing=True)
                            pic.nodes.append(target)
                    pic.edges.append(Edge(node.key, target.key, str(out), str(ref.get("port")), _is_error(str(out)),
                                          (str(doc.get("id") or ""), str(out), j) in self.broken))
        if step:
            pic.edges.extend(Edge(a.key, b.key, OUT, IN) for a, b in itertools.pairwise(pic.nodes))
        return pic

    def children(self, doc: dict[str, Any], namespace: str) -> Picture:
        specs = [dict(d) for d in doc["specs"] if isinstance(d, dict)]
        step = doc.get("kind") == "step"
        pic = self.build(f"{doc.get('name') or doc.get('kind')} ({doc.get('kind')})", specs, namespace, step)
        children = [n for n in pic.nodes if not n.missing]

        def find(ref: Any) -> Node | None:
            if not isinstance(ref, dict):
                return None
            for child_doc, child in zip(specs, children, strict=False):
                if (ref.get("id") and ref["id"] == child_doc.get("id")) or (
                        ref.get("name") and ref["name"] == child.label):
                    return child
            return None

        def stub(name: str) -> Node:
            node = Node(self.key(), name, "port", port=True)
            pic.nodes.append(node)
            return node

        if step:
            if children:
                pic.edges.insert(0, Edge(stub(IN).key, children[0].key, IN, IN))
                pic.edges.append(Edge(children[-1].key, stub(OUT).key, OUT, OUT))
            return pic
        for port, refs in (doc.get("inbounds") or {}).items():
            entry = stub(str(port))
            for ref in refs if isinstance(refs, list) else []:
                child = find(ref)
                if child is not None:
                    pic.edges.append(Edge(entry.key, child.key, str(port), str(ref.get("port"))))
        for port, refs in (doc.get("outbounds") or {}).items():
            exit_ = stub(str(port))
            for ref in refs if isinstance(refs, list) else []:
                child = find(ref)
                if child is not None:
                    pic.edges.append(Edge(child.key, exit_.key, str(ref.get("port")), str(port),
                                          _is_error(str(port))))
        return pic


def picture(docs: Iterable[dict[str, Any]], title: str, namespace: str, reasons: Mapping[str, str] | None = None,
            broken: Iterable[tuple[str, str, int]] = ()) -> Picture:
    """The picture of ``docs`` (one namespace, ids filled in). ``reasons``: spec id -> why it cannot be
    active; ``broken``: (spec id, out-port, index) of each link the wiring check refuses."""
    return _Builder(reasons or {}, set(broken)).build(title, list(docs), namespace)


# -- text formats -----------------------------------------------------------------------------------

def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def mermaid(pic: Picture) -> str:
    """A Mermaid flowchart (GitHub and most editors draw it)."""
    lines = ["flowchart LR", f"  %% {_mermaid_text(pic.title)}"]
    classes: dict[str, list[str]] = {"inactive": [], "missing": [], "port": []}

    def nodes(p: Picture, indent: str) -> None:
        for n in p.nodes:
            if n.children is not None:
                title = f"{n.label} ({n.kind})" + (f": inactive: {_short(n.reason)}" if n.reason else "")
                lines.append(f'{indent}subgraph {n.key}["{_mermaid_text(title)}"]')
                lines.append(f"{indent}  direction LR")
                nodes(n.children, indent + "  ")
                lines.append(f"{indent}end")
                if n.reason:
                    classes["inactive"].append(n.key)
                continue
            if n.port:
                lines.append(f'{indent}{n.key}(["{_mermaid_text(n.label)}"])')
                classes["port"].append(n.key)
                continue
            text = f"<b>{_mermaid_text(n.label)}</b><br/>{_mermaid_text(n.kind)}"
            if n.reason:
                text += f"<br/><i>inactive: {_mermaid_text(_short(n.reason))}</i>"
                classes["missing" if n.missing else "inactive"].append(n.key)
            lines.append(f'{indent}{n.key}["{text}"]')

    nodes(pic, "  ")
    for e in pic.all_edges():
        arrow = "-.->" if e.error else "-->"
        label = e.label + (" (ignored: no such port)" if e.broken else "")
        lines.append(f'  {e.src} {arrow}|"{_mermaid_text(label)}"| {e.dst}')
    styles = {"inactive": "fill:#fdecea,stroke:#c62828,stroke-width:2px,stroke-dasharray:5 3",
              "missing": "fill:#fff,stroke:#c62828,stroke-dasharray:2 2,color:#c62828",
              "port": "fill:#eceff1,stroke:#607d8b"}
    for name, keys in classes.items():
        if keys:
            lines.append(f"  classDef {name} {styles[name]}")
            lines.append(f"  class {','.join(keys)} {name}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dot(pic: Picture) -> str:
    """Graphviz DOT text (``dot -Tsvg`` draws it, where Graphviz is installed)."""
    lines = ["digraph portflow {", f'  label="{_dot_text(pic.title)}"; labelloc=t; rankdir=LR;',
             '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']

    def nodes(p: Picture, indent: str) -> None:
        for n in p.nodes:
            if n.children is not None:
                title = f"{n.label} ({n.kind})" + (f"\ninactive: {_short(n.reason)}" if n.reason else "")
                lines.append(f"{indent}subgraph cluster_{n.key} {{")
                style = ' style="dashed"; color="#c62828";' if n.reason else ' style="rounded"; color="#607d8b";'
                lines.append(f'{indent}  label="{_dot_text(title)}";{style}')
                nodes(n.children, indent + "  ")
                lines.append(f"{indent}}}")
                continue
            if n.port:
                lines.append(f'{indent}{n.key} [label="{_dot_text(n.label)}", shape=ellipse, fillcolor="#eceff1"];')
                continue
            label = f"{n.label}\n{n.kind}" + (f"\ninactive: {_short(n.reason)}" if n.reason else "")
            extra = ', color="#c62828", style="rounded,dashed,filled", fillcolor="#fdecea"' if n.reason else ""
            lines.append(f'{indent}{n.key} [label="{_dot_text(label)}"{extra}];')

    blocks = {n.key: n.children for n in pic.walk() if n.children is not None}

    def end(key: str, port: str, inbound: bool) -> str:
        """An edge to or from a block ends at its port node of that name (DOT links nodes, not clusters)."""
        inner = blocks.get(key)
        if inner is None:
            return key
        stubs = [n for n in inner.nodes if n.port]
        sources = {e.src for e in inner.edges}
        for n in stubs:
            if n.label == port and ((n.key in sources) == inbound):
                return n.key
        plain = [n for n in inner.nodes if not n.port and not n.missing]
        return end(plain[0].key, port, inbound) if plain else key

    nodes(pic, "  ")
    for e in pic.all_edges():
        src, dst = end(e.src, e.out, False), end(e.dst, e.inp, True)
        attrs = [f'label="{_dot_text(e.label)}"']
        if e.error:
            attrs.append("style=dashed")
        if e.broken:
            attrs.append('color="#c62828", fontcolor="#c62828"')
        lines.append(f"  {src} -> {dst} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
