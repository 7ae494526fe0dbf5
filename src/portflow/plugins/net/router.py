"""The ``router`` kind: HTTP payloads to out-ports by method and path (reference §8).

A matching request goes out on the route's ``out[N]`` with ``params`` added (always a map). An unknown
path answers ``{status: 404, body: "Not Found", header: {}}`` on the error port; a known path under another
method answers 405 (or 204 for ``OPTIONS``) with ``Allow``. Those are plain maps, so with ``error``
unconnected the listener writes them as they are. A payload that is not a map is echoed.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from ...errors import SpecError
from ...node import OneToMany
from ...packet import Packet
from ...port import OUT, parse_port
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from .radix import Tree, normalize

__all__ = ["RouterSpec", "Route", "Router", "compile_router", "register", "ROUTE_KEY", "keep_route"]

#: Process data key of a request's process: the pattern of the first route it took, kept while the router
#: is watched (the metrics label a request by it, never by the client's path).
ROUTE_KEY = "net.route"


def keep_route(proc: Process, pattern: str) -> None:
    """Record ``pattern`` on the request's process (the root of ``proc``), unless a route already is."""
    while proc.parent is not None:
        proc = proc.parent  # a router inside a child process counts for the request that made it
    proc.setdefault(ROUTE_KEY, pattern)


class Route(msgspec.Struct, kw_only=True):
    """One route: requests with ``method`` whose path matches ``path`` go out on ``port`` (``out[N]``)."""

    method: Annotated[str, Meta(min_length=1, description="the HTTP method this route takes (GET, POST, ...)")]
    path: Annotated[str, Meta(description="the path pattern: /literal, /:param, /* catch-all")] = "/"
    port: Annotated[str, Meta(description="the out-port matching requests leave on (out[N])")]


class RouterSpec(Spec, kw_only=True):
    """Routes HTTP payloads by method and path: ``:param``, ``*`` catch-all, 404, 405 and OPTIONS."""

    routes: Annotated[list[Route], Meta(description="the routes, first match wins")] = []


class Router(OneToMany):
    """The live router. ``routes`` are ``(method, path, out index)``."""

    def __init__(self, routes: list[tuple[str, str, int]] | None = None) -> None:
        super().__init__()
        self.tree = Tree()  # (method, path pattern) -> (out index, the pattern)
        for method, path, index in routes or ():
            self.add(method, path, index)

    def add(self, method: str, path: str, index: int) -> None:
        self.tree.add(method.upper(), path, (index, normalize(path)))
        self.out(index)

    async def _receive(self, proc: Process, pck: Packet) -> Packet:
        payload = pck.payload
        if type(payload) is not dict:
            return pck
        method = payload.get("method")
        path = payload.get("path") or "/"
        if not isinstance(method, str) or not isinstance(path, str):
            return pck
        tree = self.tree
        found = tree.exact(method, path)  # a static route: no Match
        if found is not None:
            params: dict[str, str] = {}
        else:
            match = tree.find(method, path)
            if match.params is None:
                if match.allowed is None:
                    answer = Packet({"status": 404, "body": "Not Found", "header": {}})
                elif method == "OPTIONS":
                    answer = Packet({"status": 204, "body": None, "header": {"Allow": [", ".join(match.allowed)]}})
                else:
                    answer = Packet({"status": 405, "body": "Method Not Allowed",
                                     "header": {"Allow": [", ".join(match.allowed)]}})
                return await self.error_port.send(proc, answer, answer)
            found, params = match.value, match.params
        index, pattern = found
        out = self.out_ports[index]
        if out.observer is not None:  # watched: the request is labelled by this route's pattern (metrics)
            keep_route(proc, pattern)
        routed = payload.copy()
        routed["params"] = params
        out_pck = Packet(routed)
        return await out.send(proc, out_pck, out_pck)


def compile_router(spec: RouterSpec, context: Context) -> Router:
    problems = []
    routes = []
    for i, route in enumerate(spec.routes):
        try:
            base, index = parse_port(route.port)
        except ValueError:
            base, index = "", None
        if base != OUT:
            problems.append(f"routes[{i}].port: must be out[N], got {route.port!r}")
            continue
        index = index or 0  # ``out`` is ``out[0]``
        if not route.method:
            problems.append(f"routes[{i}].method: required")
            continue
        routes.append((route.method, route.path, index))
    if problems:
        raise SpecError(spec.subject, problems)
    return Router(routes)


EXAMPLE = """\
- kind: router
  name: router
  routes:
    - method: GET
      path: /users/:id
      port: out[0]
    - method: GET
      path: /static/*
      port: out[1]
  ports:
    out[0]:
      - name: get-user
        port: in
    out[1]:
      - name: static
        port: in
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "router", RouterSpec, compile_router,
        description=RouterSpec.__doc__ or "",
        ports={"in": "an HTTP request payload", "out[N]": "the request, with params, for route N",
               "error": "404/405 answers for unknown paths and methods"},
        example=EXAMPLE, plugin="net",
    )
