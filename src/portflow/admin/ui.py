"""The browser view at ``/ui/`` of the admin address: the namespace as a picture, with live counts.

The page (``static/``: our own small HTML, CSS and JavaScript, no front-end packages) asks for JSON:

- ``GET /ui/api/graph``: the picture ``portflow graph`` draws (``graph.namespace_picture``), laid out by
  the same ``layout.py``, as boxes and routes; a spec the runtime reports not ready carries its reason.
- ``GET /ui/api/events``: server-sent events, one a second: per node packets/s, errors/s and p50/p99
  duration, worked out from two snapshots of the same ``Metrics`` numbers ``/metrics`` serves (the
  quantiles from the histogram buckets' growth, as Prometheus' ``histogram_quantile`` does); the specs not
  ready and why, as the runtime says now; the errors since the last event and the packets each link
  carried (``recent.py``, which watches only while a stream is open; under ``--workers`` each worker's,
  merged through the run's directory) and the packets delivered to each in-port (what its links carried,
  from the metrics). ``GET /ui/api/frames?node=NAME``: a node's errors and frames (kept from its first ask).
- ``GET /ui/api/specs/NAME``: the spec's YAML (as ``get -o yaml``), revision, state and reason, compile
  warnings, recent errors and last frames; ``GET .../history``: its revisions; ``GET /ui/api/errors``.
- Writes (``edit.py``, the CLI's code paths): ``PUT /ui/api/specs/NAME`` ``{"yaml", "revision"}`` saves an
  edit as ``apply`` does; ``POST .../rollback`` ``{"to"}`` is ``rollback``; ``GET /ui/api/tests`` lists the
  namespace's ``test`` specs and ``POST /ui/api/tests/run`` ``{"pattern"}`` runs them.

Protection: with ``admin.token`` set every API call needs ``Authorization: Bearer TOKEN`` (compared in
constant time); without it the view answers only clients on loopback and is read-only (a write is 403).
Running tests counts as a write. The static files hold nothing of the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import re
import time
import urllib.parse
from collections.abc import Callable
from importlib import resources
from typing import Any

from ..errors import PortflowError
from ..plugins.net.writer import respond

__all__ = ["UI", "quantile", "rates", "in_ports"]

STATIC = {"": ("index.html", b"text/html; charset=utf-8"), "app.js": ("app.js", b"text/javascript"),
          "app.css": ("app.css", b"text/css")}
TICK = 1.0
BODY_LIMIT = 1 << 20
TEST_TIMEOUT = 60.0
OPENED = 30.0  # seconds a node's frames are kept after a page last asked (recent.OPENED)


def quantile(q: float, bounds: tuple[float, ...], counts: list[float]) -> float | None:
    """The ``q`` quantile of bucket ``counts`` (not cumulative, the last +Inf), interpolated in its bucket."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, running = q * total, 0.0
    for i, count in enumerate(counts):
        if running + count >= rank and count > 0:
            low = bounds[i - 1] if i > 0 else 0.0
            high = bounds[i] if i < len(bounds) else bounds[-1]
            return low + (high - low) * (rank - running) / count
        running += count
    return bounds[-1]


def _per_node(snap: dict[str, Any]) -> dict[str, tuple[float, float, list[float]]]:
    nodes: dict[str, list[Any]] = {}
    for _, node, _, _, value in snap.get("portflow_packets", []):
        nodes.setdefault(node, [0.0, 0.0, None])[0] += value
    for _, node, _, value in snap.get("portflow_errors", []):
        nodes.setdefault(node, [0.0, 0.0, None])[1] += value
    for _, node, _, counts, _ in snap.get("portflow_node_duration_seconds", []):
        nodes.setdefault(node, [0.0, 0.0, None])[2] = list(counts)
    return {k: (p, e, c or []) for k, (p, e, c) in nodes.items()}


def rates(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, dict[str, Any]]:
    """Per node: totals and, between two snapshots ``seconds`` apart, packets/s, errors/s, p50 and p99."""
    from .metrics import HOP_BUCKETS

    old, new = _per_node(before), _per_node(after)
    out: dict[str, dict[str, Any]] = {}
    for node, (packets, errors, counts) in new.items():
        p0, e0, c0 = old.get(node, (0.0, 0.0, []))
        grown = [a - (c0[i] if i < len(c0) else 0) for i, a in enumerate(counts)]
        span = max(seconds, 1e-9)
        out[node] = {"packets": packets, "errors": errors, "pps": round((packets - p0) / span, 2),
                     "eps": round((errors - e0) / span, 2), "p50": quantile(.5, HOP_BUCKETS, grown),
                     "p99": quantile(.99, HOP_BUCKETS, grown)}
    return out


def in_ports(snap: dict[str, Any]) -> dict[str, float]:
    """``node.port`` -> packets delivered to that in-port (the metrics' ``portflow_packets``): what the links
    into it carried."""
    out: dict[str, float] = {}
    for _, node, _, port, value in snap.get("portflow_packets", []):
        key = f"{node}.{port}"
        out[key] = out.get(key, 0) + value
    return out


def _client_is_loopback(scope: dict[str, Any]) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(str(client[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


class UI:
    """The ``/ui/`` routes. ``ready()`` gives the readiness report, ``snapshot()`` the metrics' numbers
    (one runtime's, or the workers' merged); both work for one runtime and for ``--workers``."""

    def __init__(self, settings: Any, namespace: str, token: str, ready: Callable[[], dict[str, Any]],
                 snapshot: Callable[[], dict[str, Any]], runtime: Any = None, workers: Any = None) -> None:
        from .recent import Recent

        self.settings = settings
        self.namespace = namespace
        self._token = token.encode()
        self.ready = ready
        self.snapshot = snapshot
        #: The runtime (one runtime; None under ``--workers``): its frames and errors, its test runner.
        self.runtime = runtime
        self.recent = Recent(runtime) if runtime is not None else None
        #: Under ``--workers`` (``run.Workers``): tests run in a worker; the workers' traffic, merged.
        self.workers = workers
        self._opened: dict[str, float] = {}  # under --workers: nodes a page opened -> when
        self.closing = asyncio.Event()

    def set_token(self, token: str) -> None:
        """A new bearer token (``admin.token`` re-rendered after its value changed)."""
        self._token = token.encode()

    def close(self) -> None:
        """Ends the event streams (the admin address is stopping)."""
        self.closing.set()

    def _allowed(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """None when the request may be answered, else (status, why)."""
        if not self._token:
            return None if _client_is_loopback(scope) else (
                403, "the view is served off loopback only with a token: set admin.token")
        for key, value in scope.get("headers", []):
            if key.lower() == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token):
                    return None
                break
        return 401, "Unauthorized"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/ui":
            await respond(send, 308, [(b"location", b"/ui/"), (b"content-length", b"0")], b"")
            return
        rest = path[len("/ui/"):]
        if not self._token and not _client_is_loopback(scope):
            await self._json(send, 403, {"error": "the view is served off loopback only with a token: "
                                                  "set admin.token"})
            return
        if rest in STATIC:
            name, content_type = STATIC[rest]
            body = resources.files("portflow.admin").joinpath("static", name).read_bytes()
            await respond(send, 200, [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                                      (b"cache-control", b"no-cache")], b"" if method == "HEAD" else body)
            return
        if not rest.startswith("api/"):
            await self._json(send, 404, {"error": f"no such page: {path}"})
            return
        denied = self._allowed(scope)
        if denied is not None:
            extra = [(b"www-authenticate", b"Bearer")] if denied[0] == 401 else []
            await self._json(send, denied[0], {"error": denied[1]}, extra)
            return
        writes = method in ("PUT", "POST") and (rest.startswith("api/specs/") or rest == "api/tests/run")
        if method != "GET" and not self._token:
            await self._json(send, 403, {"error": "read-only: set admin.token to change specs from the view"})
            return
        if method != "GET" and not writes:
            await self._json(send, 405, {"error": "method not allowed"}, [(b"allow", b"GET")])
            return
        try:
            await self._route(rest, method, scope, receive, send)
        except ValueError as exc:
            await self._json(send, 400, {"error": str(exc)})
        except TimeoutError as exc:  # no worker answered
            await self._json(send, 504, {"error": str(exc)})
        except PortflowError as exc:  # the store is not there, say
            await self._json(send, 503, {"error": " ".join(str(exc).split())})

    async def _route(self, rest: str, method: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from . import edit

        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        spec = re.fullmatch(r"api/specs/([^/]+)(/history|/rollback)?", rest)
        if rest == "api/graph":
            await self._json(send, 200, await self.graph())
        elif rest == "api/events":
            await self.events(receive, send)
        elif rest == "api/errors":
            since = float(query.get("since", ["0"])[-1])
            await self._json(send, 200, {"errors": self.errors(since)})
        elif rest == "api/frames":
            node = query.get("node", [""])[-1]
            await self._json(send, 200, self.traffic(node) if node else {"error": "give ?node=NAME"})
        elif rest == "api/tests" and method == "GET":
            from ..cli.graph import stored_docs

            await self._json(send, 200, {"tests": edit.test_names(await stored_docs(self.settings, self.namespace),
                                                                  self.namespace)})
        elif rest == "api/tests/run" and method == "POST":
            body = await _body(receive)
            await self._json(send, 200, {"results": await self.run_tests(str(body.get("pattern") or ""))})
        elif spec is None:
            await self._json(send, 404, {"error": f"no such API: /ui/{rest}"})
        else:
            name, what = urllib.parse.unquote(spec.group(1)), spec.group(2)
            if what == "/history" and method == "GET":
                revs = await edit.spec_history(self.settings, self.namespace, name)
                await self._json(send, 200 if revs else 404, {"history": revs} if revs else
                                 {"error": f"no spec named {name!r} in namespace {self.namespace!r} has a history"})
            elif what == "/rollback" and method == "POST":
                body = await _body(receive)
                to = body.get("to")
                if to is not None and (not isinstance(to, int) or isinstance(to, bool)):
                    raise ValueError("to: expected a revision number")
                done = await edit.rollback(self.settings, self.namespace, name, to)
                await self._json(send, 200 if done["ok"] else 422, done)
            elif what is None and method == "PUT":
                body = await _body(receive)
                revision = body.get("revision")
                done = await edit.save(self.settings, self.namespace, name, str(body.get("yaml") or ""),
                                       revision if isinstance(revision, int) else None)
                await self._json(send, 200 if done["ok"] else 422, done)
            elif what is None and method == "GET":
                detail = await self.spec(name)
                await self._json(send, 200 if detail else 404, detail or
                                 {"error": f"no spec named {name!r} in namespace {self.namespace!r}"})
            else:
                await self._json(send, 405, {"error": "method not allowed"})

    def _not_ready(self) -> dict[str, str]:
        """spec name -> why it is not ready, as the runtime (or the workers) reports now."""
        out: dict[str, str] = {}
        for entry in self.ready().get("not_ready", []):
            if entry.get("spec"):
                out.setdefault(str(entry["spec"]), str(entry["reason"]))
        return out

    def errors(self, since: float = 0.0) -> list[dict[str, Any]] | None:
        """Recent errors after ``since``, newest first (None: no traffic is watched here)."""
        if self.recent is not None:
            return self.recent.errors(since=since)
        if self.workers is not None:
            return [e for e in self.workers.recent()["errors"] if e["time"] > since]
        return None

    async def spec(self, name: str) -> dict[str, Any] | None:
        """A spec, opened: its YAML and revision, state and reason, compile warnings, errors and frames."""
        from .edit import spec_detail

        detail = await spec_detail(self.settings, self.namespace, name)
        if detail is None:
            return None
        label = detail["name"]
        reasons = [e["reason"] for e in self.ready().get("not_ready", []) if e.get("spec") == label]
        detail["state"] = "inactive" if reasons else "active"
        detail["reason"] = "; ".join(dict.fromkeys(str(r) for r in reasons))
        detail.update(self.traffic(label))
        return detail

    def traffic(self, node: str) -> dict[str, Any]:
        """A node's recent errors and last frames (None when nothing watches traffic: no runtime nor workers)
        and whether a page watches (frames are kept only then)."""
        if self.recent is not None:
            self.recent.open([node])  # its frames are kept from now on, while a page asks
            return {"errors": self.recent.errors(node), "frames": self.recent.frames(node),
                    "watching": bool(self.recent.watchers)}
        if self.workers is None:
            return {"errors": None, "frames": None, "watching": False}
        now = time.time()
        self._opened = {n: t for n, t in self._opened.items() if now - t < OPENED}
        self._opened[node] = now
        merged = self.workers.recent()
        return {"errors": [e for e in merged["errors"] if e["node"] == node], "frames": merged["frames"].get(node, []),
                "watching": merged["watching"]}

    async def run_tests(self, pattern: str) -> list[dict[str, Any]]:
        """Run the namespace's tests matching ``pattern`` in the running flow, as ``portflow test`` runs them
        (``edit.run_live_tests``): with one runtime, by its runner; under ``--workers``, by one worker's
        (asked through the run's directory, ``run.RunDirectory.run_tests``)."""
        from .edit import run_live_tests

        if self.runtime is not None:
            return await run_live_tests(self.runtime, pattern, TEST_TIMEOUT)
        if self.workers is None:
            raise ValueError("no runtime to run the tests in")
        return list(await self.workers.run_tests(pattern, TEST_TIMEOUT))

    async def _json(self, send: Any, status: int, data: Any, extra: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
        body = json.dumps(data, ensure_ascii=False).encode()
        await respond(send, status, [(b"content-type", b"application/json"),
                                     (b"content-length", str(len(body)).encode()), *extra], body)

    async def graph(self) -> dict[str, Any]:
        """The namespace's picture with positions (see the module docstring)."""
        from ..cli.graph import namespace_picture, stored_docs
        from ..errors import UserError
        from ..layout import layout

        docs = await stored_docs(self.settings, self.namespace)
        pic = await namespace_picture(self.settings, docs, self.namespace, f"namespace {self.namespace}")
        try:
            placed = layout(pic)  # sized by what the specs say, not by a reload's passing state
        except UserError as exc:
            return {"error": str(exc), "nodes": [], "edges": []}
        not_ready = self._not_ready()
        live = set()
        for node in pic.nodes:
            if not node.reason and node.label in not_ready:
                node.reason = not_ready[node.label]
                live.add(node.key)
        top = {id(n) for n in pic.nodes}
        labels = {n.key: n.label for n in pic.walk()}
        nodes = []
        for node in pic.walk():
            box = placed.boxes.get(node.key)
            if box is None:
                continue
            nodes.append({"key": node.key, "label": node.label, "kind": node.kind, "reason": node.reason,
                          "live_reason": node.key in live,
                          "missing": node.missing, "port": node.port, "top": id(node) in top,
                          "group": node.children is not None and bool(node.children.nodes),
                          "x": box.x, "y": box.y, "w": box.w, "h": box.h})
        edges = [{"src": e.src, "dst": e.dst, "label": e.label, "error": e.error, "broken": e.broken,
                  "link": f"{labels.get(e.src)}.{e.out}->{labels.get(e.dst)}.{e.inp}",
                  "target": f"{labels.get(e.dst)}.{e.inp}", "points": points}
                 for e, points in zip(pic.all_edges(), placed.routes, strict=True)]
        return {"title": pic.title, "namespace": self.namespace, "width": placed.width, "height": placed.height,
                "nodes": nodes, "edges": edges, "writable": bool(self._token)}

    async def events(self, receive: Any, send: Any) -> None:
        """Server-sent events: ``{"time", "nodes": {name: {...}}}`` every ``TICK`` seconds until the client
        leaves or the address stops."""
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        gone = asyncio.ensure_future(self._disconnected(receive))
        stop = asyncio.ensure_future(self.closing.wait())
        before, at = self.snapshot(), time.monotonic()
        unwatch = self.recent.watch() if self.recent is not None else None
        seen = 0.0
        try:
            while True:
                now = time.monotonic()
                snap = self.snapshot()
                data: dict[str, Any] = {"time": time.time(), "nodes": rates(before, snap, now - at) if now > at
                                        else rates({}, snap, 1.0), "not_ready": self._not_ready()}
                if self.workers is not None:
                    self.workers.watch(self._opened)  # the workers watch while a stream is open
                if self.recent is not None:
                    self.recent.open(())  # forgets the nodes no page asked about lately
                errors = self.errors(since=seen)
                if errors is not None:
                    seen = errors[0]["time"] if errors else seen
                    data["errors"] = errors
                data["ports"] = in_ports(snap)
                if now > at:
                    before, at = snap, now
                await send({"type": "http.response.body", "body": f"data: {json.dumps(data)}\n\n".encode(),
                            "more_body": True})
                done, _ = await asyncio.wait({gone, stop}, timeout=TICK)
                if done:
                    break
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass
        finally:
            if unwatch is not None:
                unwatch()
            gone.cancel()
            stop.cancel()

    @staticmethod
    async def _disconnected(receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


async def _body(receive: Any) -> dict[str, Any]:
    """The request's JSON object (at most ``BODY_LIMIT`` bytes); a bad one is a ``ValueError``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise ValueError(f"the request body is over {BODY_LIMIT} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        data = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise ValueError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the request body must be a JSON object")
    return data
