"""The router's path tree: an Echo-style radix tree with ``:param`` and ``*`` catch-all (reference §8).

- Static text is stored in a radix tree (shared prefixes split into nodes).
- ``:name`` matches up to the next ``/`` (possibly nothing); it may start mid-segment (``/v:version``).
- ``*`` matches the rest of the path, slashes included, and is captured as the param ``"*"``; text after
  ``*`` in a pattern is ignored. ``\\:`` is a literal colon (``\\*`` a literal star).
- Priority: static, then param, then catch-all, with backtracking: a static branch that leads nowhere gives
  way to the param branch, and so on.

``find(method, path)`` returns a ``Match``: the route's value and its params, or the methods allowed on a
path that exists under other methods (for 405), or nothing (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Tree", "Match", "normalize"]

# Echo lists allowed methods in this order after OPTIONS.
_METHOD_ORDER = ("CONNECT", "DELETE", "GET", "HEAD", "PATCH", "POST", "PROPFIND", "PUT", "TRACE", "REPORT")


def normalize(pattern: str) -> str:
    """An empty pattern is ``/``; a missing leading slash is added."""
    if not pattern:
        return "/"
    return pattern if pattern.startswith("/") else "/" + pattern


def _tokens(pattern: str) -> list[tuple[str, str]]:
    """``/users/:id/*`` -> ``[('static', '/users/'), ('param', 'id'), ('static', '/'), ('any', '*')]``."""
    out: list[tuple[str, str]] = []
    text: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n and pattern[i + 1] in ":*":
            text.append(pattern[i + 1])
            i += 2
            continue
        if c == ":":
            if text:
                out.append(("static", "".join(text)))
                text = []
            j = pattern.find("/", i)
            j = n if j < 0 else j
            out.append(("param", pattern[i + 1:j]))
            i = j
            continue
        if c == "*":
            if text:
                out.append(("static", "".join(text)))
                text = []
            out.append(("any", "*"))
            return out
        text.append(c)
        i += 1
    if text:
        out.append(("static", "".join(text)))
    return out


@dataclass(slots=True)
class _Route:
    value: Any
    names: tuple[str, ...]


class _Node:
    __slots__ = ("prefix", "static", "param", "any", "routes")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.static: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.any: _Node | None = None
        self.routes: dict[str, _Route] = {}

    def allowed(self) -> list[str]:
        methods = [m for m in _METHOD_ORDER if m in self.routes]
        methods += sorted(m for m in self.routes if m not in _METHOD_ORDER and m != "OPTIONS")
        return ["OPTIONS", *methods]


@dataclass(slots=True)
class Match:
    """A lookup result: ``value`` and ``params`` when found; ``allowed`` (with OPTIONS first) when the
    path exists only under other methods; both empty when nothing matches."""

    value: Any = None
    params: dict[str, str] | None = None
    allowed: list[str] | None = None

    @property
    def found(self) -> bool:
        return self.params is not None


class Tree:
    """Routes by method and path pattern."""

    def __init__(self) -> None:
        self._root = _Node()
        self._exact: dict[tuple[str, str], Any] = {}  # fully static routes: one dict lookup

    def add(self, method: str, pattern: str, value: Any) -> None:
        pattern = normalize(pattern)
        tokens = _tokens(pattern)
        node = self._root
        names: list[str] = []
        for kind, text in tokens:
            if kind == "static":
                node = self._insert_static(node, text)
            elif kind == "param":
                if node.param is None:
                    node.param = _Node()
                node = node.param
                names.append(text)
            else:
                if node.any is None:
                    node.any = _Node()
                node = node.any
                names.append("*")
        method = method.upper()
        node.routes[method] = _Route(value, tuple(names))
        if all(kind == "static" for kind, _ in tokens):
            self._exact[(method, "".join(text for _, text in tokens) or "/")] = value
        else:
            self._exact.pop((method, pattern), None)

    @staticmethod
    def _insert_static(node: _Node, text: str) -> _Node:
        while text:
            child = node.static.get(text[0])
            if child is None:
                child = _Node(text)
                node.static[text[0]] = child
                return child
            prefix = child.prefix
            common, limit = 0, min(len(prefix), len(text))
            while common < limit and prefix[common] == text[common]:
                common += 1
            if common < len(prefix):
                split = _Node(prefix[:common])
                child.prefix = prefix[common:]
                split.static[child.prefix[0]] = child
                node.static[text[0]] = split
                child = split
            text = text[common:]
            node = child
        return node

    def exact(self, method: str, path: str) -> Any:
        """The value of the fully static route of ``method`` at exactly ``path`` (one lookup), else None;
        ``find`` answers the rest."""
        return self._exact.get((method, path))

    def find(self, method: str, path: str) -> Match:
        value = self._exact.get((method, path))
        if value is not None:
            return Match(value, {})
        values: list[str] = []
        first: list[Any] = [None]
        route = self._find(self._root, path, 0, method, values, first)
        if route is not None:
            r, captured = route
            return Match(r.value, dict(zip(r.names, captured, strict=False)))
        if first[0] is not None:
            return Match(allowed=first[0].allowed())
        return Match()

    def _find(self, node: _Node, path: str, i: int, method: str, values: list[str],
              first: list[Any]) -> tuple[_Route, list[str]] | None:
        n = len(path)
        if i == n and node.routes:
            route = node.routes.get(method)
            if route is not None:
                return route, list(values)
            if first[0] is None:
                first[0] = node
        if i < n:
            child = node.static.get(path[i])
            if child is not None and path.startswith(child.prefix, i):
                found = self._find(child, path, i + len(child.prefix), method, values, first)
                if found is not None:
                    return found
        param = node.param
        if param is not None:
            j = path.find("/", i)
            if j < 0:
                j = n
            values.append(path[i:j])
            found = self._find(param, path, j, method, values, first)
            values.pop()
            if found is not None:
                return found
        anynode = node.any
        if anynode is not None and anynode.routes:
            route = anynode.routes.get(method)
            if route is not None:
                return route, [*values, path[i:]]
            if first[0] is None:
                first[0] = anynode
        return None
