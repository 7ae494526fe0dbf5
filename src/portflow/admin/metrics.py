"""Prometheus metrics of one runtime, counted by one subscriber of its hop observer.

``Metrics(runtime).attach()`` subscribes (so the observer installs itself on the out-ports; with no
subscriber a hop costs what it did) and follows the runtime's applied changes. Per hop it counts the packet
and the time the target node took to answer (everything downstream of it included), labelled by the
target's namespace, spec name, kind and in-port; an answer that is an error counts in
``portflow_errors_total``. A process the net plugin's listener started is an HTTP request: its method, the
router's path pattern it matched (``route``; empty when no route did) and the status the listener answered
are counted per listener when the process exits.

Under ``start --workers`` each worker counts into prometheus-client's multiprocess files in the run's
directory (``PROMETHEUS_MULTIPROC_DIR``), and the supervisor's admin address reads them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..observe import Hop, Subscriber
from ..plugins.net.exchange import STATUS_KEY
from ..plugins.net.listener import Listener
from ..plugins.net.router import Router
from ..process import Process

__all__ = ["Metrics", "symbol_state", "METHODS"]

#: Methods counted by name; any other is counted as ``OTHER`` (a client must not grow the label set).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
HOP_BUCKETS = (.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (.001, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STATES = ("active", "inactive", "failed")


def symbol_state(sb: Any) -> str:
    """``active`` (loaded), ``failed`` (an error: does not compile, failed to load or later) or ``inactive``."""
    if sb.loaded:
        return "active"
    return "failed" if sb.error is not None else "inactive"


class _Request:
    __slots__ = ("listener", "method", "route")

    def __init__(self, listener: str, method: str) -> None:
        self.listener = listener
        self.method = method
        self.route = ""


class Metrics(Subscriber):
    """The runtime's Prometheus metrics, in ``registry`` (a private one by default)."""

    def __init__(self, runtime: Any, registry: CollectorRegistry | None = None) -> None:
        self.runtime = runtime
        self.namespace: str = runtime.namespace
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.packets = Counter("portflow_packets", "Packets delivered to a node's in-port.",
                               ["namespace", "node", "kind", "port"], registry=r)
        self.errors = Counter("portflow_errors", "Answers that were errors, by the node that answered.",
                              ["namespace", "node", "kind"], registry=r)
        self.duration = Histogram("portflow_node_duration_seconds",
                                  "Time from a packet entering a node to its answer (downstream included).",
                                  ["namespace", "node", "kind"], buckets=HOP_BUCKETS, registry=r)
        self.processes = Gauge("portflow_processes_active", "Processes running that have hopped.",
                               registry=r, multiprocess_mode="livesum")
        self.symbols = Gauge("portflow_symbols", "Specs of the namespace by state (the most of any worker).",
                             ["namespace", "state"], registry=r, multiprocess_mode="livemax")
        self.reloads = Counter("portflow_reloads", "Changes applied from the store, by operation.",
                               ["namespace", "op"], registry=r)
        self.store_lag = Histogram("portflow_store_lag_seconds",
                                   "Time from a change being written to the store to this runtime applying it.",
                                   ["namespace"], buckets=LAG_BUCKETS, registry=r)
        self.http_requests = Counter("portflow_http_requests", "HTTP requests answered, per listener.",
                                     ["listener", "method", "route", "status"], registry=r)
        self.http_duration = Histogram("portflow_http_request_duration_seconds",
                                       "Time from a request's process starting to its exit, per listener.",
                                       ["listener", "method", "route"], buckets=HTTP_BUCKETS, registry=r)
        self._children: dict[Any, tuple[Any, Any, Any]] = {}  # in-port -> (packets, errors, duration)
        self._requests: dict[Process, _Request] = {}
        self.refresh()

    def attach(self) -> Callable[[], None]:
        """Subscribe to the runtime's observer and its applied changes; returns the function that stops."""
        unsubscribe = self.runtime.table.observer.subscribe(self)
        self.runtime.on_applied.append(self.applied)

        def detach() -> None:
            unsubscribe()
            if self.applied in self.runtime.on_applied:
                self.runtime.on_applied.remove(self.applied)

        return detach

    # -- gauges read from the table -----------------------------------------------------------------
    def refresh(self) -> None:
        """Set ``portflow_symbols`` from the table (before a scrape, or before a worker reports)."""
        counts = dict.fromkeys(STATES, 0)
        for sb in self.runtime.table:
            if sb.namespace == self.namespace:
                counts[symbol_state(sb)] += 1
        for state, n in counts.items():
            self.symbols.labels(self.namespace, state).set(n)

    # -- changes ----------------------------------------------------------------------------------
    def applied(self, events: list[Any]) -> None:
        now = time.time()
        for event in events:
            self.reloads.labels(self.namespace, event.op).inc()
            if event.at is not None:
                self.store_lag.labels(self.namespace).observe(max(0.0, now - event.at))
        self._children.clear()  # nodes were replaced: their in-ports are new

    # -- hops -------------------------------------------------------------------------------------
    def hop_started(self, hop: Hop) -> None:
        source = hop.source
        node = source.node
        kind = type(node)
        if kind is Listener:  # a request's first hop (out, or error for a body that did not decode)
            self._start_request(hop, node)
        elif kind is Router:
            request = self._request_of(hop.process)
            if request is not None and not request.route:
                request.route = node.route(source.name, request.method) or ""
        return None

    def _start_request(self, hop: Hop, node: Listener) -> None:
        if hop.process in self._requests:
            return
        payload = hop.packet.payload
        method = payload.get("method") if type(payload) is dict else None
        sb = self.runtime.table.symbol_of(node)
        self._requests[hop.process] = _Request(sb.label if sb is not None else node.label,
                                               method if method in METHODS else "OTHER")

    def _request_of(self, proc: Process | None) -> _Request | None:
        while proc is not None:
            request = self._requests.get(proc)
            if request is not None:
                return request
            proc = proc.parent
        return None

    def hop_ended(self, hop: Hop) -> None:
        children = self._children.get(hop.target)
        if children is None:
            children = self._children[hop.target] = self._label(hop)
        packets, errors, duration = children
        packets.inc()
        duration.observe(hop.end - hop.start)  # type: ignore[operator]
        if isinstance(hop.answer.payload, BaseException):  # type: ignore[union-attr]
            errors.inc()

    def _label(self, hop: Hop) -> tuple[Any, Any, Any]:
        sb = hop.symbol
        namespace, node, kind = (sb.namespace, sb.label, sb.kind) if sb is not None else (self.namespace, "", "")
        return (self.packets.labels(namespace, node, kind, hop.target.name),
                self.errors.labels(namespace, node, kind), self.duration.labels(namespace, node, kind))

    # -- processes --------------------------------------------------------------------------------
    def process_started(self, proc: Process) -> None:
        self.processes.inc()

    def process_exited(self, proc: Process) -> None:
        self.processes.dec()
        request = self._requests.pop(proc, None)
        if request is not None:
            status = str(proc.get(STATUS_KEY, 499))
            self.http_requests.labels(request.listener, request.method, request.route, status).inc()
            elapsed = (proc.end_time or time.time()) - proc.start_time
            self.http_duration.labels(request.listener, request.method, request.route).observe(elapsed)
