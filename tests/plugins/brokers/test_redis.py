"""The redis kind against the real Redis at 127.0.0.1:6379: a stream read through a consumer group is
acknowledged after success, a failure is retried and dead-lettered after max_deliveries, concurrency bounds
the entries in flight, two runtimes split a group, reload and unload lose nothing and run nothing twice,
a killed ``portflow start`` loses nothing, a cut connection is retried and shows as not connected; pub/sub
channels and patterns; ``in`` publishes (answered with the entry id or the receivers count)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from portflow.admin.readiness import check
from portflow.apply import apply, prepare_specs
from portflow.errors import SpecError
from portflow.plugin import default_registries
from portflow.plugins.brokers.redis import RedisSpec, compile_redis
from portflow.runtime import Runtime
from portflow.scheme import Context
from portflow.spec import read_documents
from portflow.store import open_store
from support.broker_flow import consumer_flow
from support.probe import call
from support.proxy import Proxy
from support.sink import sink

URL = "redis://127.0.0.1:6379"


@pytest.fixture
async def rc():
    client = aioredis.Redis.from_url(URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Redis is not reachable at {URL}: {exc} (these tests need the real server)", pytrace=False)
    yield client
    await client.aclose()


@pytest.fixture
async def stream(rc):
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    await rc.delete(name)


async def eventually(probe, predicate, what: str, timeout: float = 10.0):
    """``await probe()`` until ``predicate`` holds of it; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await probe()
        if predicate(got):
            return got
        assert loop.time() < deadline, f"{what} never happened: {got!r}"
        await asyncio.sleep(0.02)


async def pending(rc, stream: str, group: str = "g") -> int:
    return (await rc.xpending(stream, group))["pending"]


def consumer(name: str, fields: str, target: str, extra: str = "") -> str:
    return consumer_flow("redis", name, fields, target, extra)


SLOW = """
- kind: sleep
  name: slow
  interval: {interval}
  ports:
    out:
      - name: wrap
        port: in
"""


def node(runtime, name: str):
    sb = runtime.table.lookup(runtime.namespace, name)
    assert sb is not None and sb.node is not None, name
    return sb.node


async def test_a_stream_entry_is_acked_after_success_and_in_publishes_with_xadd(flow, rc, stream):
    async with sink() as s:
        runtime = await flow(consumer("jobs", f"  stream: {stream}\n  group: g\n  publish: {stream}", "wrap"),
                             environment={"SINK": s.url, "WHO": "a"})
        ident = await call(runtime, "jobs", {"data": {"id": 1}})
        assert isinstance(ident, str) and "-" in ident
        await rc.xadd(stream, {"data": "plain", "Content-Type": "text/plain", "trace": "t1"})
        await rc.xadd(stream, {"a": "1", "b": "2"})  # no data field: the fields are the data
        got = await s.wait_for(lambda r: len(r) >= 3)
        # The workers run entries side by side: the order they reach the sink is the entries' only by chance.
        got = sorted(got, key=lambda r: tuple(int(part) for part in r[1]["id"].split("-")))
        first = got[0][1]
        assert first["stream"] == stream and first["data"] == {"id": 1} and first["id"] == ident
        assert first["headers"]["Content-Type"].startswith("application/json")
        assert got[1][1]["data"] == "plain" and got[1][1]["headers"]["trace"] == "t1"
        assert got[2][1]["data"] == {"a": "1", "b": "2"} and got[2][1]["headers"] == {}
        await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the entries")
        assert len(s.received) == 3


async def test_publishing_with_maxlen_trims_the_stream(flow, rc, stream):
    runtime = await flow(f"- kind: redis\n  name: out\n  publish: {stream}\n  maxlen: 1\n")
    for i in range(300):
        await call(runtime, "out", i)
    assert await rc.xlen(stream) < 300  # trimmed by whole nodes (~): about maxlen, never all
    last = await rc.xrevrange(stream, count=1)
    assert last[0][1][b"data"].strip() == b"299" and last[0][1][b"Content-Type"].startswith(b"application/json")


async def test_a_failing_entry_is_retried_then_dead_lettered_once_and_acked(flow, rc, stream):
    async with sink() as s:
        runtime = await flow(consumer("jobs", f"  stream: {stream}\n  group: g\n  max_deliveries: 3", "boom"),
                             environment={"SINK": s.url, "WHO": "a"})
        await rc.xadd(stream, {"data": '{"id": 2}', "Content-Type": "application/json"})
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got == [("/dead", "dead-lettered")]
        assert node(runtime, "jobs").fired == 3  # three deliveries, then the dead letter
        await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the dead letter")
        assert len(s.received) == 1


async def test_an_entry_dropped_after_max_deliveries_without_error_port_is_logged(flow, rc, stream, caplog):
    spec = f"""
- kind: redis
  name: jobs
  stream: {stream}
  group: g
  max_deliveries: 2
  ports:
    out:
      - name: boom
        port: in
- kind: throw
  name: boom
"""
    runtime = await flow(spec)
    with caplog.at_level(logging.ERROR, logger="portflow.brokers"):
        ident = (await rc.xadd(stream, {"data": "x"})).decode()
        await eventually(lambda: asyncio.sleep(0, node(runtime, "jobs").dropped), lambda n: n == 1, "the drop")
    assert any(ident in r.getMessage() and "failed 2 time(s)" in r.getMessage() and "dropped" in r.getMessage()
               for r in caplog.records)
    await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the dropped entry")


async def test_an_entry_a_dead_consumer_held_too_often_is_claimed_and_dead_lettered_unrun(flow, rc, stream):
    await rc.xgroup_create(stream, "g", "0", mkstream=True)
    ok = (await rc.xadd(stream, {"data": "fine"})).decode()
    await rc.xreadgroup("g", "ghost", {stream: ">"}, count=1)  # delivered once to a consumer that then died
    poison = (await rc.xadd(stream, {"data": "poison"})).decode()
    for _ in range(3):  # delivered three times, each time its consumer died
        await rc.xreadgroup("g", "ghost", {stream: ">" if _ == 0 else ok}, count=1)
    rows = await rc.xpending_range(stream, "g", "-", "+", 10)
    assert {r["message_id"].decode(): r["times_delivered"] for r in rows} == {ok: 1, poison: 3}
    async with sink() as s:
        runtime = await flow(consumer("jobs", f"  stream: {stream}\n  group: g\n  max_deliveries: 3\n"
                                              f"  claim_idle: 200ms", "wrap"), environment={"SINK": s.url, "WHO": "a"})
        got = await s.wait_for(lambda r: len(r) >= 2)
        assert sorted(p for p, _ in got) == ["/a", "/dead"]
        assert [b["data"] for p, b in got if p == "/a"] == ["fine"]
        assert node(runtime, "jobs").fired == 1  # the poison was not run a fourth time
        await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging both")


async def test_consumers_that_died_holding_nothing_are_removed_from_the_group(flow, rc, stream):
    await rc.xgroup_create(stream, "g", "0", mkstream=True)
    await rc.xgroup_createconsumer(stream, "g", "gone-empty")
    await rc.xadd(stream, {"data": "1"})
    await rc.xreadgroup("g", "gone-holding", {stream: ">"}, count=1)  # died holding an entry
    async with sink() as s:
        await flow(consumer("jobs", f"  stream: {stream}\n  group: g\n  consumer: me\n  claim_idle: 100ms", "wrap"),
                   environment={"SINK": s.url, "WHO": "a"})
        await s.wait_for(lambda r: len(r) >= 1)  # claimed from gone-holding and run

        async def names():
            return {c["name"].decode() for c in await rc.xinfo_consumers(stream, "g")}

        await eventually(names, lambda n: n == {"me"}, "removing both dead consumers")


async def test_concurrency_bounds_the_entries_in_flight(flow, rc, stream):
    async with sink() as s:
        spec = consumer("jobs", f"  stream: {stream}\n  group: g\n  concurrency: 2", "slow", SLOW.format(interval="200ms"))
        await flow(spec, environment={"SINK": s.url, "WHO": "a"})
        for i in range(6):
            await rc.xadd(stream, {"data": str(i)})
        seen = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(s.received) < 6:
            seen.append(await pending(rc, stream))
            assert loop.time() < deadline, s.received
            await asyncio.sleep(0.02)
        assert max(seen) == 2  # two at a time: the others wait in the stream
        assert sorted(b["data"] for _, b in s.received) == list(range(6))


async def _runtime(url: str, specs: str, environment: dict[str, str]) -> Runtime:
    store = open_store(url)
    await store.open()
    docs, _ = prepare_specs(read_documents(specs), "default")
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, namespace="default", environment=environment)
    await runtime.start()
    return runtime


async def test_two_runtimes_in_one_group_split_the_entries(rc, stream):
    async with sink() as s:
        runtimes = []
        try:
            for who in ("a", "b"):
                spec = consumer("jobs", f"  stream: {stream}\n  group: g\n  consumer: {who}", "slow",
                                SLOW.format(interval="20ms"))
                runtimes.append(await _runtime(f"memory://redis-{uuid.uuid4().hex}", spec,
                                               {"SINK": s.url, "WHO": who}))
            for i in range(40):
                await rc.xadd(stream, {"data": str(i)})
            got = await s.wait_for(lambda r: len(r) >= 40)
            assert sorted(b["data"] for _, b in got) == list(range(40))  # each once
            assert {p for p, _ in got} == {"/a", "/b"}
            await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the entries")
        finally:
            for runtime in runtimes:
                await runtime.close()
                await runtime.store.close()


async def test_reload_and_unload_drain_the_entries_in_flight(flow, store, rc, stream):
    async with sink() as s:
        fields = f"  stream: {stream}\n  group: g\n  consumer: me\n  concurrency: 4"
        runtime = await flow(consumer("jobs", fields, "slow", SLOW.format(interval="300ms")),
                             environment={"SINK": s.url, "WHO": "a"})
        first = node(runtime, "jobs")
        for i in range(12):
            await rc.xadd(stream, {"data": str(i)})
        await eventually(lambda: pending(rc, stream), lambda n: n == 4, "four entries in flight")
        # reload (a changed field) while four run: they finish and are acked by the old node
        docs, _ = prepare_specs(read_documents(consumer("jobs", fields.replace("concurrency: 4", "concurrency: 3"), "slow",
                                                        SLOW.format(interval="300ms"))), "default")
        await apply(store.specs, docs, namespace="default")
        await eventually(lambda: asyncio.sleep(0, node(runtime, "jobs")), lambda n: n is not first, "the reload")
        await eventually(lambda: asyncio.sleep(0, len(s.received)), lambda n: n >= 7, "entries after the reload")
        # unload (the spec deleted) while some run: they finish and are acked; the rest wait in the stream
        await store.specs.delete({"name": "jobs"})
        await eventually(lambda: asyncio.sleep(0, runtime.table.lookup("default", "jobs")), lambda sb: sb is None,
                         "the unload")
        assert await pending(rc, stream) == 0
        done = len(s.received)
        assert done < 12
        await apply(store.specs, docs, namespace="default")  # back: the rest
        got = await s.wait_for(lambda r: len(r) >= 12)
        assert sorted(b["data"] for _, b in got) == list(range(12))  # none lost, none twice
        await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the entries")


async def test_an_entry_cancelled_past_grace_is_run_again_when_the_node_loads_again(flow, rc, stream):
    async with sink() as s:
        spec = consumer("jobs", f"  stream: {stream}\n  group: g\n  consumer: me\n  concurrency: 1", "slow",
                        SLOW.format(interval="1s"))
        runtime = await flow(spec, environment={"SINK": s.url, "WHO": "a"}, settings={"grace": 0.2})
        jobs = node(runtime, "jobs")
        await rc.xadd(stream, {"data": "1"})
        await eventually(lambda: pending(rc, stream), lambda n: n == 1, "the entry in flight")
        await jobs.unload()  # the process outlives grace: cancelled, the entry left pending
        assert s.received == [] and await pending(rc, stream) == 1
        await jobs.load()  # this consumer's history: the entry runs again
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert [b["data"] for _, b in got] == [1]
        await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging it")


async def test_a_cut_connection_is_retried_shown_not_connected_and_resumes(flow, rc, stream):
    proxy = Proxy("127.0.0.1", 6379)
    port = await proxy.start()
    try:
        async with sink() as s:
            spec = consumer("jobs", f"  url: redis://127.0.0.1:{port}\n  stream: {stream}\n  group: g\n"
                                    f"  publish: {stream}", "wrap")
            runtime = await flow(spec, environment={"SINK": s.url, "WHO": "a"})
            await rc.xadd(stream, {"data": "1"})
            await s.wait_for(lambda r: len(r) >= 1)
            assert check(runtime).ready
            await proxy.stop()
            ready = await eventually(lambda: asyncio.sleep(0, check(runtime)), lambda r: not r.ready, "not ready")
            assert ready.not_ready[0]["reason"] == f"not connected to redis://127.0.0.1:{port}"
            await call(runtime, "jobs", "while away")  # publishing fails: the error goes to error
            assert s.received[-1] == ("/dead", "dead-lettered")
            for i in (2, 3):
                await rc.xadd(stream, {"data": str(i)})
            await asyncio.sleep(0.3)
            assert len(s.received) == 2
            await proxy.start()
            got = await s.wait_for(lambda r: len(r) >= 4, timeout=15)
            assert [b["data"] for p, b in got if p == "/a"] == [1, 2, 3]
            await eventually(lambda: asyncio.sleep(0, check(runtime).ready), bool, "ready again")
            await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging the entries")
    finally:
        await proxy.stop()


async def test_a_runtime_started_while_redis_is_away_connects_when_it_comes(flow, rc, stream):
    proxy = Proxy("127.0.0.1", 6379)
    port = await proxy.start()
    await proxy.stop()  # the port is known, nothing listens
    try:
        async with sink() as s:
            spec = consumer("jobs", f"  url: redis://127.0.0.1:{port}\n  stream: {stream}\n  group: g", "wrap")
            runtime = await flow(spec, environment={"SINK": s.url, "WHO": "a"})
            assert check(runtime).not_ready[0]["reason"] == f"not connected to redis://127.0.0.1:{port}"
            await rc.xadd(stream, {"data": "1"})  # before the group exists: start all reads it
            await proxy.start()
            got = await s.wait_for(lambda r: len(r) >= 1, timeout=15)
            assert [b["data"] for _, b in got] == [1]
            assert check(runtime).ready
    finally:
        await proxy.stop()


async def test_pubsub_channel_and_pattern_consume_and_in_publishes(flow, rc):
    channel = f"c-{uuid.uuid4().hex[:8]}"
    async with sink() as s:
        runtime = await flow(consumer("events", f"  mode: pubsub\n  channel: {channel}\n  publish: {channel}", "wrap")
                             + consumer("all", f"  mode: pubsub\n  pattern: '{channel}.*'", "wrap2").split("- kind: snippet")[0]
                             + """
- kind: snippet
  name: wrap2
  language: cel
  code: '{"body": self}'
  ports:
    out:
      - name: post2
        port: in
- kind: http
  name: post2
  url: '{{ .SINK }}/pattern'
  env:
    SINK:
      data: '{{ .SINK }}'
""", environment={"SINK": s.url, "WHO": "a"})
        await eventually(lambda: rc.pubsub_numsub(channel), lambda r: r[0][1] == 1, "the subscription")
        await eventually(lambda: rc.pubsub_numpat(), lambda n: n >= 1, "the pattern subscription")
        assert await call(runtime, "events", {"n": 1}) == 1  # one subscriber received it
        assert await rc.publish(f"{channel}.x", "hello") >= 1
        got = await s.wait_for(lambda r: len(r) >= 2)
        bodies = {p: b for p, b in got}
        assert bodies["/a"] == {"channel": channel, "data": {"n": 1}, "headers": {}, "id": None}
        assert bodies["/pattern"] == {"channel": f"{channel}.x", "data": "hello", "headers": {}, "id": None}


async def test_pubsub_resubscribes_after_a_cut_connection(flow, rc):
    channel = f"c-{uuid.uuid4().hex[:8]}"
    proxy = Proxy("127.0.0.1", 6379)
    port = await proxy.start()
    try:
        async with sink() as s:
            runtime = await flow(consumer("events", f"  url: redis://127.0.0.1:{port}\n  mode: pubsub\n"
                                                    f"  channel: {channel}", "wrap"),
                                 environment={"SINK": s.url, "WHO": "a"})
            await eventually(lambda: rc.pubsub_numsub(channel), lambda r: r[0][1] == 1, "the subscription")
            await proxy.stop()
            await eventually(lambda: asyncio.sleep(0, check(runtime).ready), lambda r: not r, "not ready")
            await eventually(lambda: rc.pubsub_numsub(channel), lambda r: r[0][1] == 0, "the server dropping it")
            await proxy.start()
            await eventually(lambda: rc.pubsub_numsub(channel), lambda r: r[0][1] == 1, "the subscription again",
                             timeout=15)
            await rc.publish(channel, "after")
            got = await s.wait_for(lambda r: len(r) >= 1)
            assert got[0][1]["data"] == "after" and check(runtime).ready
    finally:
        await proxy.stop()


async def test_a_url_bound_to_a_value_never_shows_its_password(flow, stream, caplog):
    spec = f"""
- kind: redis
  name: jobs
  url: '{{{{ .URL }}}}'
  stream: {stream}
  env:
    URL:
      name: redis-secret
      data: 'redis://portflow:{{{{ .password }}}}@127.0.0.1:6379'
  ports:
    out:
      - name: done
        port: in
- kind: nop
  name: done
"""
    with caplog.at_level(logging.INFO):
        runtime = await flow(spec, values="- name: redis-secret\n  data:\n    password: s3cr3t-pw\n")
    why = check(runtime).not_ready[0]
    assert why["message"].startswith("spec 'jobs' (kind redis): load failed: url: cannot use "
                                     "redis://portflow:***@127.0.0.1:6379: ")
    assert "s3cr3t-pw" not in str(check(runtime).as_json()) and "s3cr3t-pw" not in caplog.text


@pytest.mark.parametrize(("fields", "field", "text"), [
    ({"url": "http://x"}, "url", "is not a redis://"),
    ({"channel": "c"}, "channel", "mode pubsub"),
    ({"mode": "pubsub", "stream": "s"}, "stream", "mode stream"),
    ({"mode": "pubsub", "channel": "c", "pattern": "p*"}, "pattern", "not both"),
    ({"mode": "pubsub", "maxlen": 10}, "maxlen", "mode stream"),
])
def test_bad_fields_are_one_line_naming_spec_and_field(fields, field, text):
    spec = RedisSpec(kind="redis", name="jobs", **fields)
    with pytest.raises(SpecError) as err:
        compile_redis(spec, Context(default_registries().scheme))
    assert f"spec 'jobs' (kind redis): {field}: " in str(err.value) and text in str(err.value)


def test_without_its_client_the_kind_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # import redis.asyncio raises ImportError
    with pytest.raises(SpecError) as err:
        compile_redis(RedisSpec(kind="redis", name="jobs"), Context(default_registries().scheme))
    assert str(err.value) == "spec 'jobs' (kind redis): the redis kind needs its client: pip install 'portflow[redis]'"


KILL_FLOW = """
- kind: redis
  name: jobs
  stream: {stream}
  group: g
  concurrency: 8
  claim_idle: 1s
  ports:
    out:
      - name: slow
        port: in
- kind: sleep
  name: slow
  interval: 10ms
  ports:
    out:
      - name: wrap
        port: in
- kind: snippet
  name: wrap
  language: cel
  code: '{{"body": self}}'
  ports:
    out:
      - name: post
        port: in
- kind: http
  name: post
  url: '{{{{ .SINK }}}}/{{{{ .WHO }}}}'
  env:
    SINK:
      data: '{{{{ .SINK }}}}'
    WHO:
      data: '{{{{ .WHO }}}}'
"""


def _start(url: str, who: str, sink_url: str, specs: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = url
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", "--from-specs", str(specs),
                             "-e", f"SINK={sink_url}", "-e", f"WHO={who}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


async def test_a_killed_portflow_start_loses_nothing(rc, stream, tmp_path):
    total = 300
    specs = tmp_path / "redis.yaml"
    specs.write_text(KILL_FLOW.format(stream=stream))
    url = f"sqlite:///{tmp_path}/store.db"
    for i in range(total):
        await rc.xadd(stream, {"data": str(i)})
    async with sink() as s:
        procs = [_start(url, "a", s.url, specs)]
        try:
            await s.wait_for(lambda r: len(r) >= 60, timeout=30)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(10)
            killed_at = len(s.received)
            assert await pending(rc, stream) > 0  # the killed consumer held entries it never acked
            procs.append(_start(url, "b", s.url, specs))
            await s.wait_for(lambda r: len({b["data"] for _, b in r}) >= total, timeout=60)
            await eventually(lambda: pending(rc, stream), lambda n: n == 0, "acknowledging every entry", timeout=20)
            seen = [b["data"] for _, b in s.received]
            lost, duplicates = total - len(set(seen)), len(seen) - len(set(seen))
            print(f"redis kill -9: killed after {killed_at} of {total}; lost={lost} duplicates={duplicates}")
            assert lost == 0 and set(seen) == set(range(total))
            assert duplicates <= 8  # at most what was in flight (concurrency) when the runtime died
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(15)
                proc.stderr.close()
