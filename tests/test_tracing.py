"""Tracing: the spans of one real HTTP request through a listener -> snippet -> http node -> a second
listener (-> snippet -> sql), collected by the SDK's in-memory exporter and, once, by a real OTLP/HTTP
receiver on loopback that decodes the protobuf the exporter sends."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from portflow import tracing
from support.lines import Lines
from support.otlp import serving, spans_of

BACK = """
- kind: listener
  name: back
  port: 0
  ports:
    out: [{name: query, port: in}]
- kind: snippet
  name: query
  language: cel
  code: '["SELECT ? AS answer", ["s3cr3t-param"]]'
  ports:
    out: [{name: db, port: in}]
- kind: sql
  name: db
  driver: sqlite
  source: ':memory:'
"""

FRONT = """
- kind: listener
  name: front
  port: 0
  ports:
    out: [{name: ask, port: in}]
- kind: snippet
  name: ask
  language: cel
  code: '{"body": "hello", "header": {"Accept-Encoding": "identity"}}'
  ports:
    out: [{name: call, port: in}]
- kind: http
  name: call
  url: 'http://127.0.0.1:{{ .BACK }}/answer'
  env:
    BACK:
      data: '{{ .BACK }}'
"""


def _provider(sampler=ALWAYS_ON):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _trace(runtime, provider):
    observer = runtime.context.observer
    return observer.subscribe(tracing.Tracing(tracing.tracer_of(provider), runtime.namespace, observer.symbol_of))


async def _two_services(flow, provider):
    back = await flow(BACK, namespace="back")
    _trace(back, provider)
    port = back.table.lookup("back", "back").node.port
    front = await flow(FRONT, namespace="front", environment={"BACK": str(port)})
    _trace(front, provider)
    return front.table.lookup("front", "front").node


async def _until(predicate, what):
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_one_request_makes_one_tree_across_two_listeners(flow):
    provider, exporter = _provider()
    front = await _two_services(flow, provider)
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with aiohttp.ClientSession() as client, \
            client.get(f"{front.url}/ask", headers={"traceparent": incoming}) as resp:
        assert resp.status == 200
        assert await resp.json() == [{"answer": "s3cr3t-param"}]
    await _until(lambda: sum(s.name in ("GET", "POST") for s in exporter.get_finished_spans()) == 2, "both roots")
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}

    def parent(span):
        return by_id.get(span.parent.span_id) if span.parent else None

    def named(name):
        (span,) = [s for s in spans if s.name == name]
        return span

    # one trace, continuing the client's
    assert {s.context.trace_id for s in spans} == {0x0AF7651916CD43DD8448EB211C80319C}
    front_root = named("GET")
    assert front_root.parent.span_id == 0xB7AD6B7169203331 and front_root.parent.is_remote
    assert front_root.attributes["http.request.method"] == "GET" and front_root.attributes["url.path"] == "/ask"
    ask, call = named("ask in"), named("call in")
    assert parent(ask) is front_root and parent(call) is ask
    assert {k: v for k, v in call.attributes.items() if k != "portflow.process"} == {
        "portflow.namespace": "front", "portflow.spec": "call", "portflow.kind": "http", "portflow.port": "in",
        "portflow.source.spec": "ask", "portflow.source.port": "out"}
    # the http node sent its hop's traceparent: the back listener's request is a child of the call hop
    back_root = named("POST")
    assert back_root.parent.span_id == call.context.span_id and back_root.parent.is_remote
    query, db = named("query in"), named("db in")
    assert parent(query) is back_root and parent(db) is query
    assert db.attributes["portflow.namespace"] == "back" and db.attributes["portflow.kind"] == "sql"
    # the statement is a child span holding its text, never its parameters
    select = named("SELECT")
    assert parent(select) is db
    assert select.attributes["db.query.text"] == "SELECT ? AS answer"
    assert select.attributes["db.system.name"] == "sqlite"
    assert not any("s3cr3t-param" in str(v) for s in spans for v in s.attributes.values())
    # every hop span ends inside its parent
    for span in spans:
        up = parent(span)
        if up is not None:
            assert up.start_time <= span.start_time and span.end_time <= up.end_time, span.name


ERRORS = """
- kind: listener
  name: web
  port: 0
  ports:
    out: [{name: boom, port: in}]
- kind: snippet
  name: boom
  language: cel
  code: 'int("not a number")'
"""


async def test_an_error_answer_is_recorded_on_its_spans(flow):
    provider, exporter = _provider()
    runtime = await flow(ERRORS)
    _trace(runtime, provider)
    web = runtime.table.lookup("default", "web").node
    async with aiohttp.ClientSession() as client, client.get(f"{web.url}/") as resp:
        assert resp.status == 500
    await _until(lambda: any(s.name == "GET" for s in exporter.get_finished_spans()), "the root span")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    boom = spans["boom in"]
    assert boom.status.status_code.name == "ERROR"
    (event,) = [e for e in boom.events if e.name == "exception"]
    assert event.attributes["exception.message"] == "cannot convert string to int"
    assert spans["GET"].status.status_code.name == "ERROR"  # the request's process exited with the error


async def test_sampled_out_requests_make_no_hop_spans(flow):
    provider, exporter = _provider(ALWAYS_OFF)
    front = await _two_services(flow, provider)
    async with aiohttp.ClientSession() as client, client.get(f"{front.url}/ask") as resp:
        assert resp.status == 200
        assert await resp.json() == [{"answer": "s3cr3t-param"}]
    assert exporter.get_finished_spans() == ()


def test_tracing_is_off_without_an_exporter():
    assert tracing.from_environment({}) is None
    assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}) is None


def test_an_unknown_exporter_is_one_line(caplog):
    with caplog.at_level("ERROR", logger="portflow.tracing"):
        assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "zipkin-nonesuch"}) is None
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin-nonesuch' (known: otlp, console, null, none)"]


@pytest.fixture
def receiver():
    with serving() as server:
        yield server


async def test_spans_reach_a_real_otlp_receiver(flow, receiver, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_address[1]}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "front-door")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    runtime = await flow(FRONT, namespace="front", environment={"BACK": "1"})  # nothing listens on port 1
    close = tracing.install(runtime.context.observer, "front")
    assert close is not None
    front = runtime.table.lookup("front", "front").node
    async with aiohttp.ClientSession() as client, client.get(f"{front.url}/x") as resp:
        assert resp.status == 500  # the http node could not connect
    await asyncio.to_thread(close)  # unsubscribe and flush the batch
    assert receiver.got.is_set()
    spans, services = spans_of(receiver)
    assert services == {"front-door"}
    assert {"GET", "ask in", "call in"} <= set(spans)
    root, ask, call = spans["GET"], spans["ask in"], spans["call in"]
    assert ask.parent_span_id == root.span_id and call.parent_span_id == ask.span_id
    assert len({root.trace_id, ask.trace_id, call.trace_id}) == 1
    assert call.status.code == call.status.STATUS_CODE_ERROR
    kinds = {a.key: a.value.string_value for a in call.attributes}
    assert kinds["portflow.kind"] == "http" and kinds["portflow.spec"] == "call"


def test_otlp_without_the_extra_is_one_line_naming_it(caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)  # not installed
    with caplog.at_level("ERROR", logger="portflow.tracing"):
        assert tracing.from_environment({"OTEL_TRACES_EXPORTER": "otlp"}) is None
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install 'portflow[otlp]'"]


PING = """
- kind: listener
  name: web
  port: 0
  ports:
    out: [{name: pong, port: in}]
- kind: snippet
  name: pong
  language: text
  code: pong
"""


async def test_the_environment_sampler_decides_before_any_span(flow):
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    provider = tracing.from_environment({"OTEL_TRACES_EXPORTER": "null", "OTEL_TRACES_SAMPLER": "traceidratio",
                                         "OTEL_TRACES_SAMPLER_ARG": "0.5"})
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = await flow(PING)
    observer = runtime.context.observer
    observer.subscribe(tracing.Tracing(tracing.tracer_of(provider), "default", observer.symbol_of, provider))
    web = runtime.table.lookup("default", "web").node
    async with aiohttp.ClientSession() as client:
        for _ in range(40):
            async with client.get(f"{web.url}/") as resp:
                assert await resp.text() == "pong"
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.name == "GET"]
    assert 0 < len(roots) < 40  # some sampled, some not (each with probability 1/2)
    assert len([s for s in spans if s.name == "pong in"]) == len(roots)  # a sampled-out request has no hop span
    bound = TraceIdRatioBased(0.5).bound
    assert all(r.context.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound for r in roots)  # the id sampled on
    provider.shutdown()


async def test_parent_based_sampling_follows_the_callers_decision(flow):
    provider = tracing.from_environment({"OTEL_TRACES_EXPORTER": "null",
                                         "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                         "OTEL_TRACES_SAMPLER_ARG": "0"})
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = await flow(PING)
    observer = runtime.context.observer
    observer.subscribe(tracing.Tracing(tracing.tracer_of(provider), "default", observer.symbol_of, provider))
    web = runtime.table.lookup("default", "web").node
    sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    declined = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    async with aiohttp.ClientSession() as client:
        for headers in ({}, {"traceparent": declined}, {"traceparent": sampled}, {"traceparent": "00-junk"}):
            async with client.get(f"{web.url}/", headers=headers) as resp:
                assert await resp.text() == "pong"
    spans = exporter.get_finished_spans()
    # only the request whose caller sampled it is traced (ratio 0 for traces starting here), in the caller's trace
    assert sorted(s.name for s in spans) == ["GET", "pong in"]
    assert {s.context.trace_id for s in spans} == {0x4BF92F3577B34DA6A3CE929D0E0E4736}
    provider.shutdown()


def test_portflow_start_sends_its_spans_to_the_otlp_endpoint(receiver, tmp_path):
    (tmp_path / "specs.yaml").write_text(PING)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFLOW_", "OTEL_"))}
    env.update(PORTFLOW_DATABASE_URL="memory://", OTEL_TRACES_EXPORTER="otlp",
               OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_address[1]}")
    portflow = str(Path(sys.executable).with_name("portflow"))
    server = subprocess.Popen([portflow, "start", "--from-specs", "specs.yaml"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        err = Lines(server.stderr)
        line = err.wait_for(lambda text: "listening on" in text, "the listener bound")
        port = int(re.search(r"listening on \S+:(\d+)", line).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == b"pong"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
    err.thread.join(10)
    spans, services = spans_of(receiver)  # flushed at shutdown
    assert services == {"portflow"}
    assert spans["pong in"].parent_span_id == spans["GET"].span_id
    assert not [line for line in err.lines if "ERROR" in line]


LEAK = """
- kind: listener
  name: web
  port: 0
  ports:
    out: [{name: leak, port: in}]
- kind: snippet
  name: leak
  language: text
  code: 'token {{ .TOKEN }}'
  env:
    TOKEN: {name: creds, data: '{{ . }}'}
  ports:
    out: [{name: fail, port: in}]
- kind: throw
  name: fail
"""


async def test_a_bound_secret_never_reaches_a_span(flow):
    provider, exporter = _provider()
    runtime = await flow(LEAK, values="- name: creds\n  data: pa55word-in-span\n")
    _trace(runtime, provider)
    web = runtime.table.lookup("default", "web").node
    async with aiohttp.ClientSession() as client, client.get(f"{web.url}/") as resp:
        assert resp.status == 500
    await _until(lambda: any(s.name == "GET" for s in exporter.get_finished_spans()), "the root span")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    (event,) = spans["fail in"].events
    assert event.attributes["exception.message"] == "token ***"
    assert spans["fail in"].status.description == "token ***"
    texts = [str(v) for s in spans.values() for v in (*s.attributes.values(), s.status.description,
                                                       *(a for e in s.events for a in e.attributes.values()))]
    assert "token ***" in texts and not any("pa55word-in-span" in t for t in texts)


def test_a_bad_sampler_setting_is_one_line(caplog):
    with caplog.at_level("ERROR", logger="portflow.tracing"):
        provider = tracing.from_environment({"OTEL_TRACES_EXPORTER": "null", "OTEL_TRACES_SAMPLER": "traceidratio",
                                             "OTEL_TRACES_SAMPLER_ARG": "lots"})
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got 'lots'; using 1.0"]
    assert provider.sampler.get_description() == "TraceIdRatioBased{1.0}"
    provider.shutdown()


CLIENTS = """
- kind: listener
  name: front
  port: 0
  ports:
    out: [{name: paths, port: in}]
- kind: router
  name: paths
  routes:
    - {method: GET, path: /p, port: 'out[0]'}
    - {method: GET, path: /ws, port: 'out[1]'}
  ports:
    'out[0]': [{name: up, port: in}]
    'out[1]': [{name: dial, port: io}]
- kind: proxy
  name: up
  urls: ['http://127.0.0.1:{{ .UP }}']
  env:
    UP: {data: '{{ .UP }}'}
- kind: websocket
  name: dial
  url: 'ws://127.0.0.1:{{ .UP }}/ws'
  env:
    UP: {data: '{{ .UP }}'}
"""


async def test_proxy_and_websocket_send_the_hops_traceparent(flow):
    from aiohttp import web

    seen: dict[str, str | None] = {}
    dialled = asyncio.Event()

    async def plain(request):
        seen[request.path] = request.headers.get("traceparent")
        return web.Response(text="upstream")

    async def socket(request):
        seen[request.path] = request.headers.get("traceparent")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        dialled.set()
        await ws.close()  # the request's process (which owns the client connection) can then exit
        return ws

    app = web.Application()
    app.router.add_get("/p", plain)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        provider, exporter = _provider()
        runtime = await flow(CLIENTS, environment={"UP": str(port)})
        _trace(runtime, provider)
        front = runtime.table.lookup("default", "front").node
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{front.url}/p") as resp:
                assert await resp.text() == "upstream"
            async with client.get(f"{front.url}/ws") as resp:
                await resp.read()
            await asyncio.wait_for(dialled.wait(), 10)
        await _until(lambda: len([s for s in exporter.get_finished_spans() if s.name == "GET"]) == 2, "both roots")
        spans = {s.name: s for s in exporter.get_finished_spans()}
        for path, hop in (("/p", "up in"), ("/ws", "dial io")):
            context = spans[hop].context
            head, flags = seen[path].rsplit("-", 1)
            assert head == f"00-{context.trace_id:032x}-{context.span_id:016x}" and int(flags, 16) & 1, path
    finally:
        await runner.cleanup()
