"""Readiness and the metrics subscriber in-process, on a runtime with a memory store."""

from __future__ import annotations

import uuid

from prometheus_client.parser import text_string_to_metric_families

from portflow.admin.metrics import Metrics, exposition
from portflow.admin.readiness import check
from portflow.apply import apply, prepare_specs
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store
from portflow.store.memory import forget
from support.probe import call

FLOW = """\
- kind: snippet
  name: first
  language: text
  code: one
  ports:
    out:
      - name: second
        port: in
- kind: snippet
  name: second
  language: text
  code: two
"""


async def runtime_of(text: str):
    url = f"memory://admin-{uuid.uuid4().hex}"
    store = open_store(url)
    await store.open()
    docs, problems = prepare_specs(read_documents(text, "flow.yaml"), "default")
    assert not problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, watch=False)
    await runtime.start()
    return runtime, store, url


async def test_warnings_are_listed_but_do_not_make_the_namespace_unready():
    runtime, store, url = await runtime_of(FLOW)
    try:
        assert check(runtime).ready and check(runtime).warnings == []
        runtime.table.lookup("default", "first").warnings.append("out -> secnd: no such spec; did you mean 'second'?")
        report = check(runtime)
        assert report.ready
        message = "spec 'first' (kind snippet): out -> secnd: no such spec; did you mean 'second'?"
        assert [w["message"] for w in report.warnings] == [message]
        assert report.lines() == [] and report.lines(strict=True) == [message]
    finally:
        await runtime.close()
        await store.close()
        forget(url)


async def test_a_runtime_still_loading_is_not_ready():
    url = f"memory://admin-{uuid.uuid4().hex}"
    async with open_store(url) as store:
        runtime = Runtime(store, watch=False)
        assert [e["reason"] for e in check(runtime).not_ready] == ["loading"]
    forget(url)


async def test_with_no_subscriber_no_port_is_observed_and_detach_restores_that():
    runtime, store, url = await runtime_of(FLOW)
    try:
        port = runtime.table.lookup("default", "first").node.outport("out")
        assert port.observer is None  # metrics off: the hop costs what it did
        metrics = Metrics(runtime)
        detach = metrics.attach()
        assert port.observer is runtime.table.observer
        assert await call(runtime, "first", None) == "two"
        families = {f.name: f for f in text_string_to_metric_families(exposition(metrics.collector())[0].decode())}
        samples = {(s.name, s.labels.get("node")): s.value for s in families["portflow_packets"].samples}
        totals = {k: v for k, v in samples.items() if k[0] == "portflow_packets_total"}
        assert totals == {("portflow_packets_total", "second"): 1}  # first -> second; the probe's port is not linked
        detach()
        assert port.observer is None
        assert await call(runtime, "first", None) == "two"
        families = {f.name: f for f in text_string_to_metric_families(exposition(metrics.collector())[0].decode())}
        samples = {(s.name, s.labels.get("node")): s.value for s in families["portflow_packets"].samples}
        assert samples[("portflow_packets_total", "second")] == 1  # not counted once detached
    finally:
        await runtime.close()
        await store.close()
        forget(url)


def test_merged_snapshots_sum_counters_and_histograms_and_take_the_most_symbols():
    from portflow.admin.metrics import Collector, merge

    one = {"portflow_packets": [["default", "pong", "snippet", "in", 3]],
           "portflow_node_duration_seconds": [["default", "pong", "snippet", [1, 0] + [0] * 15, 0.0001]],
           "portflow_processes_active": [[2]], "portflow_symbols": [["default", "active", 3]]}
    two = {"portflow_packets": [["default", "pong", "snippet", "in", 4]],
           "portflow_node_duration_seconds": [["default", "pong", "snippet", [0, 1] + [0] * 15, 0.0002]],
           "portflow_processes_active": [[1]], "portflow_symbols": [["default", "active", 2]]}
    merged = merge([one, two])
    assert merged["portflow_packets"] == [["default", "pong", "snippet", "in", 7]]
    assert merged["portflow_processes_active"] == [[3]] and merged["portflow_symbols"] == [["default", "active", 3]]
    text = exposition(Collector(lambda: [one, two]))[0].decode()
    samples = {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("portflow_node_duration_seconds_bucket", "0.0001")] == 1  # le is inclusive
    assert samples[("portflow_node_duration_seconds_bucket", "0.00025")] == 2
    assert samples[("portflow_node_duration_seconds_bucket", "+Inf")] == 2
    assert samples[("portflow_node_duration_seconds_count", None)] == 2
    assert abs(samples[("portflow_node_duration_seconds_sum", None)] - 0.0003) < 1e-12
    assert samples[("portflow_packets_total", None)] == 7
