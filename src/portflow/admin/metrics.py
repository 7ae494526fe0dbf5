"""Prometheus metrics of one runtime, counted by one subscriber of its hop observer.

``Metrics(runtime).attach()`` subscribes (so the observer installs itself on the out-ports; with no
subscriber a hop costs what it did) and follows the runtime's applied changes. Per hop it counts the packet
and the time the target node took to answer (everything downstream of it included), labelled by the
target's namespace, spec name, kind and in-port; an answer that is an error counts in
``portflow_errors_total``. Each HTTP request a listener answered is counted per listener when it reports it
(``request_ended``): its method, the router's path pattern it matched (``route``, which a watched router
keeps in the request's process; empty when no route did) and the status. ``portflow_processes_active``
is the count of running processes (``process.running()``), so no process is tracked for it.

The hot path adds to plain numbers (a hop costs a dictionary lookup and a few additions, no lock); the
numbers become Prometheus families only when scraped (``collect``, prometheus-client's exposition). A
``snapshot()`` is the same numbers as JSON: under ``start --workers`` each worker writes its snapshot into
the run's directory and the supervisor's admin address serves ``merge``-d snapshots of all workers
(counters and histograms summed, ``portflow_processes_active`` summed, ``portflow_symbols`` the most of any
worker), so the address is served once and counts every worker.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..observe import Subscriber
from ..packet import Packet
from ..plugins.net.router import ROUTE_KEY
from ..port import InPort, OutPort
from ..process import Process, running

__all__ = ["Metrics", "Collector", "merge", "exposition", "symbol_state", "METHODS"]

#: Methods counted by name; any other is counted as ``OTHER`` (a client must not grow the label set).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})
HOP_BUCKETS = (.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (.001, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STATES = ("active", "inactive", "failed")

#: name -> (help, labels)
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "portflow_packets": ("Packets delivered to a node's in-port.", ("namespace", "node", "kind", "port")),
    "portflow_errors": ("Answers that were errors, by the node that answered.", ("namespace", "node", "kind")),
    "portflow_reloads": ("Changes applied from the store, by operation.", ("namespace", "op")),
    "portflow_http_requests": ("HTTP requests answered, per listener.", ("listener", "method", "route", "status")),
}
#: name -> (help, labels, bucket bounds)
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "portflow_node_duration_seconds": ("Time from a packet entering a node to its answer (downstream included).",
                                       ("namespace", "node", "kind"), HOP_BUCKETS),
    "portflow_store_lag_seconds": ("Time from a change being written to the store to this runtime applying it.",
                                   ("namespace",), LAG_BUCKETS),
    "portflow_http_request_duration_seconds": ("Time from a request's process starting to its exit, per listener.",
                                               ("listener", "method", "route"), HTTP_BUCKETS),
}
#: name -> (help, labels, how workers' values combine)
GAUGES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "portflow_processes_active": ("Processes running (summed over workers).", (), "sum"),
    "portflow_symbols": ("Specs of the namespace by state (the most of any worker).", ("namespace", "state"), "max"),
}

Labels = tuple[str, ...]


class _Histogram:
    """Counts per bucket (not cumulative; the last is +Inf) and the sum of what was observed."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value: Prometheus' ``le``
        self.sum += value


def symbol_state(sb: Any) -> str:
    """``active`` (loaded), ``failed`` (an error: does not compile, failed to load or later) or ``inactive``."""
    if sb.loaded:
        return "active"
    return "failed" if sb.error is not None else "inactive"


class Metrics(Subscriber):
    """The runtime's metrics, as plain numbers; ``collector()`` exposes them to prometheus-client."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.namespace: str = runtime.namespace
        self.counters: dict[str, dict[Labels, list[float]]] = {name: {} for name in COUNTERS}
        self.histograms: dict[str, dict[Labels, _Histogram]] = {name: {} for name in HISTOGRAMS}
        self._cells: dict[Any, tuple[list[float], list[float], _Histogram]] = {}  # in-port -> its cells
        #: (listener node, method, route, status) -> its cells; the method is one of METHODS or OTHER and the
        #: route a router's pattern, so a client cannot grow it
        self._http: dict[tuple[Any, ...], tuple[list[float], _Histogram]] = {}

    def attach(self) -> Callable[[], None]:
        """Subscribe to the runtime's observer and its applied changes; returns the function that stops."""
        unsubscribe = self.runtime.table.observer.subscribe(self)
        self.runtime.on_applied.append(self.applied)

        def detach() -> None:
            unsubscribe()
            if self.applied in self.runtime.on_applied:
                self.runtime.on_applied.remove(self.applied)

        return detach

    def _counter(self, name: str, labels: Labels) -> list[float]:
        cells = self.counters[name]
        cell = cells.get(labels)
        if cell is None:
            cell = cells[labels] = [0.0]
        return cell

    def _histogram(self, name: str, labels: Labels) -> _Histogram:
        cells = self.histograms[name]
        cell = cells.get(labels)
        if cell is None:
            cell = cells[labels] = _Histogram(HISTOGRAMS[name][2])
        return cell

    # -- changes ----------------------------------------------------------------------------------
    def applied(self, events: list[Any]) -> None:
        now = time.time()
        for event in events:
            self._counter("portflow_reloads", (self.namespace, event.op))[0] += 1
            if event.at is not None:
                self._histogram("portflow_store_lag_seconds", (self.namespace,)).observe(max(0.0, now - event.at))
        self._cells.clear()  # nodes were replaced: their in-ports are new
        self._http.clear()

    # -- hops -------------------------------------------------------------------------------------
    def hop_timed(self, source: OutPort, target: InPort, proc: Process, packet: Packet, answer: Packet,
                  seconds: float) -> None:
        """Counts the hop: its packet, its time, an error answer."""
        cells = self._cells.get(target)
        if cells is None:
            cells = self._cells[target] = self._label(target)
        packets, errors, duration = cells
        packets[0] += 1
        duration.counts[bisect_left(duration.bounds, seconds)] += 1  # _Histogram.observe, inlined: once per hop
        duration.sum += seconds
        if isinstance(answer.payload, BaseException):
            errors[0] += 1

    def _label(self, target: InPort) -> tuple[list[float], list[float], _Histogram]:
        sb = self.runtime.table.observer.symbol_of(target.node)
        namespace, node, kind = (sb.namespace, sb.label, sb.kind) if sb is not None else (self.namespace, "", "")
        return (self._counter("portflow_packets", (namespace, node, kind, target.name)),
                self._counter("portflow_errors", (namespace, node, kind)),
                self._histogram("portflow_node_duration_seconds", (namespace, node, kind)))

    # -- requests ---------------------------------------------------------------------------------
    def request_ended(self, listener: Any, method: str, status: int, seconds: float, proc: Process | None) -> None:
        key = (listener, method if method in METHODS else "OTHER",
               (proc.get(ROUTE_KEY) or "") if proc is not None else "", status)
        cells = self._http.get(key)
        if cells is None:
            sb = self.runtime.table.symbol_of(listener)
            labels = (sb.label if sb is not None else listener.label, key[1], key[2])
            cells = self._http[key] = (self._counter("portflow_http_requests", (*labels, str(status))),
                                       self._histogram("portflow_http_request_duration_seconds", labels))
        cells[0][0] += 1
        duration = cells[1]
        duration.counts[bisect_left(duration.bounds, seconds)] += 1  # _Histogram.observe, inlined
        duration.sum += seconds

    # -- reading ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every number now, as JSON-able lists: ``{name: [[*labels, value]]}`` for counters and gauges,
        ``[[*labels, [counts], sum]]`` for histograms."""
        symbols = dict.fromkeys(STATES, 0)
        for sb in self.runtime.table:
            if sb.namespace == self.namespace:
                symbols[symbol_state(sb)] += 1
        out: dict[str, Any] = {name: [[*k, c[0]] for k, c in cells.items()] for name, cells in self.counters.items()}
        out.update({name: [[*k, list(h.counts), h.sum] for k, h in cells.items()]
                    for name, cells in self.histograms.items()})
        out["portflow_processes_active"] = [[running()]]
        out["portflow_symbols"] = [[self.namespace, state, n] for state, n in symbols.items()]
        return out

    def collector(self) -> Collector:
        return Collector(lambda: [self.snapshot()])


def merge(snapshots: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Snapshots of several workers as one: counters and histograms summed, gauges as ``GAUGES`` says."""
    counters: dict[str, dict[Labels, float]] = {name: {} for name in COUNTERS}
    histograms: dict[str, dict[Labels, tuple[list[int], float]]] = {name: {} for name in HISTOGRAMS}
    gauges: dict[str, dict[Labels, float]] = {name: {} for name in GAUGES}
    for snap in snapshots:
        for name, rows in snap.items():
            if name in COUNTERS:
                for *labels, value in rows:
                    key = tuple(labels)
                    counters[name][key] = counters[name].get(key, 0.0) + value
            elif name in HISTOGRAMS:
                for *labels, counts, total in rows:
                    key = tuple(labels)
                    old = histograms[name].get(key)
                    histograms[name][key] = ((counts, total) if old is None else
                                             ([a + b for a, b in zip(old[0], counts, strict=True)], old[1] + total))
            elif name in GAUGES:
                combine = max if GAUGES[name][2] == "max" else (lambda a, b: a + b)
                for *labels, value in rows:
                    key = tuple(labels)
                    gauges[name][key] = value if key not in gauges[name] else combine(gauges[name][key], value)
    out: dict[str, Any] = {name: [[*k, v] for k, v in cells.items()] for name, cells in counters.items()}
    out.update({name: [[*k, c, s] for k, (c, s) in cells.items()] for name, cells in histograms.items()})
    out.update({name: [[*k, v] for k, v in cells.items()] for name, cells in gauges.items()})
    return out


class Collector:
    """A prometheus-client collector over ``snapshots()`` (merged when there are several)."""

    def __init__(self, snapshots: Callable[[], list[dict[str, Any]]]) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        snaps = self.snapshots()
        snap = snaps[0] if len(snaps) == 1 else merge(snaps)
        for name, (doc, labels) in COUNTERS.items():
            counter = CounterMetricFamily(name, doc, labels=labels)
            for *values, value in snap.get(name, []):
                counter.add_metric(values, value)
            yield counter
        for name, (doc, labels, bounds) in HISTOGRAMS.items():
            histogram = HistogramMetricFamily(name, doc, labels=labels)
            for *values, counts, total in snap.get(name, []):
                cumulative, running = [], 0
                for bound, count in zip([*map(_bound, bounds), "+Inf"], counts, strict=True):
                    running += count
                    cumulative.append((bound, running))
                histogram.add_metric(values, cumulative, total)
            yield histogram
        for name, (doc, labels, _) in GAUGES.items():
            gauge = GaugeMetricFamily(name, doc, labels=labels)
            for *values, value in snap.get(name, []):
                gauge.add_metric(values, value)
            yield gauge


def _bound(value: float) -> str:
    return repr(float(value))


def exposition(collector: Collector) -> tuple[bytes, str]:
    """The Prometheus text of ``collector`` and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST
