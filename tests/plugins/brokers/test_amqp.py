"""The amqp kind against the real RabbitMQ at 127.0.0.1:5672 (guest/guest): consume into processes, ack after
success, retry a failure then dead-letter it (quorum and classic queues), ``concurrency`` as the prefetch,
publish through ``in`` with confirms, competing consumers, reload and unload, a broker cut off by a relay, a URL
bound from a value, and a ``portflow start`` killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest
from aiohttp import web

from portflow.admin.readiness import check
from portflow.apply import apply, prepare_specs
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store
from support.broker_flow import consumer_flow
from support.probe import call
from support.proxy import Proxy
from support.sink import sink

URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
async def channel() -> AsyncIterator[Any]:
    try:
        conn = await aio_pika.connect(URL, timeout=3)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"RabbitMQ is not reachable at 127.0.0.1:5672: {exc} (these tests need the real broker)",
                    pytrace=False)
    ch = await conn.channel()
    yield ch
    await conn.close()


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    """A unique queue name; the queue is deleted afterwards (the node declares it). Ask for it before
    ``flow``, so that the runtimes close first."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    with_conn = await aio_pika.connect(URL, timeout=3)
    async with with_conn:
        ch = await with_conn.channel()
        await ch.queue_delete(name)


async def send(channel: Any, queue: str, bodies: list[Any]) -> None:
    """Publish each body (str) to ``queue`` through the default exchange, a message id each."""
    for body in bodies:
        await channel.default_exchange.publish(
            aio_pika.Message(str(body).encode(), message_id=str(body), content_type="application/json"),
            routing_key=queue)


async def ready(channel: Any, queue: str) -> int:
    """The queue's ready (not yet delivered) message count."""
    return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count


async def until(predicate, timeout: float = 15.0, what: str = "the condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"{what} never held"
        await asyncio.sleep(0.05)


AMQP_DEAD = "  language: cel\n  code: '{\"body\": {\"error\": \"dead\"}}'"


def consumer(fields: str, target: str = "wrap", extra: str = "") -> str:
    """An amqp node ``sub`` (its ``fields``) whose messages go to ``target``; wrap POSTs them to SINK/WHO,
    error to SINK/dead."""
    return consumer_flow("amqp", "sub", fields, target, extra, dead=AMQP_DEAD)


async def test_consumes_into_processes_and_publishes_through_in_with_confirms(queue, channel, flow):
    async with sink() as s:
        runtime = await flow(consumer(f"  queue: {queue}", extra="- kind: amqp\n  name: pub\n"),
                             environment={"SINK": s.url, "WHO": "a"})
        answer = await call(runtime, "sub", {"data": {"id": 1}})
        assert answer["exchange"] == "" and answer["routing_key"] == queue and len(answer["id"]) == 32
        got = await s.wait_for(lambda r: len(r) >= 1)
        path, body = got[0]
        assert path == "/a"
        assert body["queue"] == queue and body["data"] == {"id": 1} and body["id"] == answer["id"]
        assert body["headers"]["Content-Type"].startswith("application/json")
        await until(lambda: _zero(channel, queue), what="the queue empty")
        # a message nobody can receive is an error on in, not a silent loss
        nobody = f"nobody-{uuid.uuid4().hex}"
        lost = await call(runtime, "pub", {"queue": nobody, "data": "x"})
        assert str(lost) == (f"spec 'pub' (kind amqp): publish to {nobody} failed: no queue is bound for routing "
                             f"key {nobody!r} on exchange '' (returned unroutable)")
        await call(runtime, "sub", {"queue": nobody, "data": "x"})
        await s.wait_for(lambda r: ("/dead", {"error": "dead"}) in r)  # a failed publish goes to error


async def _zero(channel: Any, queue: str) -> bool:
    return await ready(channel, queue) == 0


async def test_binds_to_an_exchange_and_publishes_with_a_routing_key(queue, channel, flow):
    key = uuid.uuid4().hex
    async with sink() as s:
        runtime = await flow(consumer(f"  queue: {queue}\n  bind:\n    - exchange: amq.topic\n"
                                      f"      routing_key: '{key}.#'\n  exchange: amq.topic\n"
                                      f"  routing_key: {key}.new",
                                      extra="- kind: amqp\n  name: pub\n  exchange: amq.topic\n"),
                             environment={"SINK": s.url, "WHO": "a"})
        assert str(await call(runtime, "pub", "x")) == ("spec 'pub' (kind amqp): no queue to publish to (set "
                                                        "routing_key or the payload's queue)")
        await call(runtime, "sub", "plain text")
        await call(runtime, "sub", {"routing_key": f"{key}.other", "data": [1, 2]})
        got = await s.wait_for(lambda r: len(r) >= 2)
        assert sorted(str(b["data"]) for _, b in got) == ["[1, 2]", "plain text"]


def node(runtime: Runtime, name: str = "sub") -> Any:
    return runtime.table.lookup(runtime.namespace, name).node


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
async def test_a_failure_is_redelivered_then_dead_lettered_once_and_acknowledged(queue, channel, flow, queue_type):
    async with sink() as s:
        runtime = await flow(consumer(f"  queue: {queue}\n  queue_type: {queue_type}\n  max_deliveries: 3", "boom"),
                             environment={"SINK": s.url, "WHO": "a"})
        await send(channel, queue, ['{"id": 2}'])
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got == [("/dead", {"error": "dead"})]
        await until(lambda: _fired(runtime, 3), what="three deliveries")
        sub = node(runtime)
        await runtime.close()  # anything unacknowledged would return to the queue now
        assert await ready(channel, queue) == 0
        assert sub.fired == 3 and len(s.received) == 1


async def _fired(runtime: Runtime, n: int) -> bool:
    return node(runtime).fired >= n


async def test_a_failure_with_no_error_flow_is_dropped_with_a_log_line(queue, channel, flow, caplog):
    runtime = await flow(f"- kind: amqp\n  name: sub\n  queue: {queue}\n  max_deliveries: 2\n"
                         "  ports:\n    out:\n      - name: boom\n        port: in\n- kind: throw\n  name: boom\n")
    await send(channel, queue, ["7"])
    await until(lambda: _dropped(runtime), what="the message dropped")
    assert node(runtime).fired == 2
    assert any("failed 2 time(s)" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)


async def _dropped(runtime: Runtime) -> bool:
    return node(runtime).dropped == 1


@asynccontextmanager
async def slow_sink(seconds: float) -> AsyncIterator[Any]:
    """A sink that holds each request ``seconds`` and records the most requests it held at once."""
    state = type("State", (), {"active": 0, "most": 0, "bodies": [], "paths": []})()

    async def handle(request: web.Request) -> web.Response:
        state.active += 1
        state.most = max(state.most, state.active)
        try:
            await asyncio.sleep(seconds)
            state.bodies.append(await request.json())
            state.paths.append(request.path)
        finally:
            state.active -= 1
        return web.json_response(None)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_concurrency_bounds_the_processes_in_flight(queue, channel, flow):
    async with slow_sink(0.1) as s:
        await flow(consumer(f"  queue: {queue}\n  concurrency: 3"), environment={"SINK": s.url, "WHO": "a"})
        await send(channel, queue, list(range(12)))
        seen_waiting = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(s.bodies) < 12:
            seen_waiting = max(seen_waiting, await ready(channel, queue))
            assert loop.time() < deadline, s.bodies
            await asyncio.sleep(0.02)
        assert s.most == 3  # three at a time ...
        assert seen_waiting >= 6  # ... while the others wait in the broker, not in the runtime
        assert sorted(b["data"] for b in s.bodies) == list(range(12))


async def respec(store: Any, text: str) -> None:
    docs, problems = prepare_specs(read_documents(text), "default")
    assert not problems, problems
    await apply(store.specs, docs, namespace="default")


async def test_a_reload_mid_stream_loses_nothing_and_repeats_nothing(queue, channel, store, flow):
    async with slow_sink(0.05) as s:
        env = {"SINK": s.url, "WHO": "a"}
        runtime = await flow(consumer(f"  queue: {queue}\n  concurrency: 4"), environment=env)
        before = node(runtime)
        await send(channel, queue, list(range(60)))
        await until(lambda: _count(s, 8), what="eight processed")
        await respec(store, consumer(f"  queue: {queue}\n  concurrency: 2"))
        await until(lambda: _changed(runtime, before), what="the reload")
        await until(lambda: _count(s, 60), timeout=30, what="all processed")
        assert sorted(b["data"] for b in s.bodies) == list(range(60))  # each exactly once
        await runtime.close()
        assert await ready(channel, queue) == 0


async def test_an_unload_mid_stream_finishes_what_runs_and_leaves_the_rest_queued(queue, channel, store, flow):
    async with slow_sink(0.05) as s:
        await flow(consumer(f"  queue: {queue}\n  concurrency: 4"), environment={"SINK": s.url, "WHO": "a"})
        await send(channel, queue, list(range(40)))
        await until(lambda: _count(s, 8), what="eight processed")
        assert await store.specs.delete({"name": "sub"}) == 1
        await until(lambda: _settled(channel, queue, s, 40), what="processed + queued == sent")
        done = [b["data"] for b in s.bodies]
        assert len(done) == len(set(done)) and 8 <= len(done) < 40  # none twice, the rest still queued
        left = []
        rest = await channel.declare_queue(queue, passive=True)
        async with rest.iterator() as messages:
            async for msg in messages:
                left.append(int(msg.body))
                await msg.ack()
                if len(left) == 40 - len(done):
                    break
        assert sorted(done + left) == list(range(40))


async def _count(s: Any, n: int) -> bool:
    return len(s.bodies) >= n


async def _changed(runtime: Runtime, before: Any) -> bool:
    sb = runtime.table.lookup(runtime.namespace, "sub")
    return sb is not None and sb.node is not before and sb.loaded


async def _settled(channel: Any, queue: str, s: Any, n: int) -> bool:
    return s.active == 0 and len(s.bodies) + await ready(channel, queue) == n


async def test_two_runtimes_on_one_queue_split_the_messages(queue, channel):
    async with slow_sink(0.02) as s:
        runtimes = []
        try:
            for who in ("a", "b"):
                st = open_store(f"memory://amqp-{uuid.uuid4().hex}")
                await st.open()
                await respec(st, consumer(f"  queue: {queue}\n  concurrency: 2"))
                runtime = Runtime(st, namespace="default", environment={"SINK": s.url, "WHO": who})
                runtimes.append(runtime)
                await runtime.start()
            await send(channel, queue, list(range(40)))
            await until(lambda: _count(s, 40), what="all processed")
            assert sorted(b["data"] for b in s.bodies) == list(range(40))  # each once
            assert {path for path in s.paths} == {"/a", "/b"}
        finally:
            for runtime in runtimes:
                await runtime.close()
                await runtime.store.close()


async def test_a_broker_cut_off_shows_not_connected_and_messages_resume_when_it_returns(queue, channel, flow,
                                                                                         caplog):
    relay = Proxy("127.0.0.1", 5672)
    port = await relay.start()
    try:
        async with sink() as s:
            url = f"amqp://guest:guest@127.0.0.1:{port}/"
            runtime = await flow(consumer(f"  url: {url}\n  queue: {queue}\n  reconnect: 200ms",
                                          extra=f"- kind: amqp\n  name: pub\n  url: {url}\n  routing_key: {queue}\n"),
                                 environment={"SINK": s.url, "WHO": "a"})
            await send(channel, queue, [1, 2, 3])
            await s.wait_for(lambda r: len(r) >= 3)
            assert check(runtime).ready

            await relay.stop()
            await until(lambda: _not_ready(runtime), what="readiness 'not connected'")
            assert sorted(e["message"] for e in check(runtime).not_ready) == [
                f"spec '{name}' (kind amqp): not connected to amqp://guest:***@127.0.0.1:{port}/" for name in ("pub", "sub")]
            assert str(await call(runtime, "pub", {"data": 0})) == "spec 'pub' (kind amqp): not connected"
            await send(channel, queue, [4, 5, 6])  # kept by the broker meanwhile
            await until(lambda: _backed_off(caplog, 0.2), what="a longer pause between attempts")  # backoff

            await relay.start()
            # at least once: a message whose acknowledgement the cut swallowed comes again
            await s.wait_for(lambda r: {b["data"] for _, b in r} == {1, 2, 3, 4, 5, 6}, timeout=20)
            await until(lambda: _ready(runtime), what="ready again")
            answer = await call(runtime, "pub", {"data": 7})  # publishing works again, confirmed
            assert answer["routing_key"] == queue
            await s.wait_for(lambda r: 7 in {b["data"] for _, b in r})
    finally:
        await relay.stop()


async def _backed_off(caplog: Any, base: float) -> bool:
    """Whether aio-pika logged an attempt to reconnect followed by a pause longer than ``base``."""
    return any(r.name == "aio_pika.robust_connection" and "Reconnecting after" in r.msg and r.args[-1] > base
               for r in caplog.records)


def test_the_pause_between_attempts_grows_with_the_outage_up_to_a_cap():
    from portflow.plugins.brokers.amqp import backoff

    assert [backoff(0.5, t) for t in (0, 0.5, 4, 20, 1000)] == [0.5, 0.5, 2.0, 10.0, 30.0]
    assert backoff(60, 1000) == 60


async def _not_ready(runtime: Runtime) -> bool:
    return not check(runtime).ready


async def _ready(runtime: Runtime) -> bool:
    return check(runtime).ready


async def test_the_url_is_a_template_bound_to_a_value_and_its_password_is_never_shown(queue, flow, caplog):
    spec = f"""
- kind: amqp
  name: good
  url: '{{{{ .RABBIT }}}}'
  queue: {queue}
  env:
    RABBIT:
      name: rabbit
      data: '{{{{ .url }}}}'
- kind: amqp
  name: bad
  url: '{{{{ .RABBIT }}}}'
  queue: {queue}
  env:
    RABBIT:
      name: wrong
      data: '{{{{ .url }}}}'
"""
    values = """
- name: rabbit
  data: {url: 'amqp://guest:guest@127.0.0.1:5672/'}
- name: wrong
  data: {url: 'amqp://guest:Not-The-Password-7@127.0.0.1:5672/'}
"""
    runtime = await flow(spec, values=values)
    assert (await call(runtime, "good", "hello"))["routing_key"] == queue
    [entry] = check(runtime).not_ready
    assert entry["message"].startswith("spec 'bad' (kind amqp): load failed: url: cannot connect to "
                                       "amqp://guest:***@127.0.0.1:5672/: ")
    assert "Not-The-Password-7" not in str(check(runtime).as_json())
    assert not any("Not-The-Password-7" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("fields", "error"), [
    ("url: nats://127.0.0.1:4222", "url: 'nats://127.0.0.1:4222' is not an amqp:// URL"),
    ("queue: q\n  exclusive: true", "exclusive: a quorum queue cannot be exclusive or auto-delete "
                                    "(set queue_type: classic)"),
    ("queue: q\n  max_deliveries: 30\n  arguments: {x-delivery-limit: 20}",
     "arguments: x-delivery-limit 20 must be an integer at least max_deliveries (30): RabbitMQ would drop a "
     "failing message before it goes to error"),
])
async def test_a_bad_spec_is_one_line_naming_the_field(flow, fields, error):
    runtime = await flow(f"- kind: amqp\n  name: sub\n  {fields}\n")
    assert check(runtime).not_ready[0]["message"] == f"spec 'sub' (kind amqp): {error}"


async def test_a_queue_declared_otherwise_is_one_line_naming_the_field(queue, channel, flow):
    await channel.declare_queue(queue, durable=True)  # a classic queue
    runtime = await flow(f"- kind: amqp\n  name: sub\n  queue: {queue}\n")
    message = check(runtime).not_ready[0]["message"]
    assert message.startswith(f"spec 'sub' (kind amqp): load failed: queue: cannot declare {queue!r}: ")
    assert "PRECONDITION_FAILED" in message and "x-queue-type" in message


def start(specs: Any, db: str, sink_url: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = db
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", "--from-specs", str(specs),
                             "-e", f"SINK={sink_url}", "-e", "WHO=a"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_a_runtime_killed_mid_stream_loses_nothing_after_restart(queue, channel, tmp_path):
    total = 300
    specs = tmp_path / "amqp.yaml"
    specs.write_text(consumer(f"  queue: {queue}\n  concurrency: 8"))
    db = f"sqlite:///{tmp_path}/store.db"
    async with slow_sink(0.04) as s:  # 200 messages/s at most: the kill comes mid-stream
        proc = start(specs, db, s.url)
        try:
            await until(lambda: _declared(channel, queue), timeout=30, what="the queue declared")
            sending = asyncio.ensure_future(send(channel, queue, list(range(total))))
            await until(lambda: _count(s, 60), timeout=30, what="60 processed")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            proc.stderr.close()
            killed_at = len(s.bodies)
            proc = start(specs, db, s.url)
            await sending
            await until(lambda: _distinct(s, total), timeout=60, what="every message processed")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            proc.stderr.close()
        seen = [b["data"] for b in s.bodies]
        assert set(seen) == set(range(total))  # none lost; those in flight at the kill came again
        assert await ready(channel, queue) == 0
        print(f"amqp kill -9: sent={total} before_kill={killed_at} processed={len(seen)} lost={total - len(set(seen))} "
              f"duplicates={len(seen) - len(set(seen))}")


async def _declared(channel: Any, queue: str) -> bool:
    """Whether ``queue`` exists (asked on a connection of its own: a passive declare of a missing queue closes
    its channel)."""
    async with await aio_pika.connect(URL, timeout=3) as conn:
        try:
            await ready(await conn.channel(), queue)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
    return True


async def _distinct(s: Any, n: int) -> bool:
    return len({b["data"] for b in s.bodies}) >= n


async def test_the_example_runs(queue, channel, flow, capfd):
    from pathlib import Path

    key = uuid.uuid4().hex
    text = (Path(__file__).parents[3] / "examples" / "amqp.yaml").read_text()
    text = text.replace("queue: orders", f"queue: {queue}").replace("routing_key: orders.#", f"routing_key: {key}.#")
    runtime = await flow(text)
    assert check(runtime).ready
    exchange = await channel.get_exchange("amq.topic")
    await exchange.publish(aio_pika.Message(b'{"order": 1}', content_type="application/json"), routing_key=f"{key}.new")
    await until(lambda: _acked(runtime, 1), what="the order acknowledged")
    out = capfd.readouterr().out
    assert out.startswith("order ") and out.endswith(": map[order:1]\n")


async def _acked(runtime: Runtime, n: int) -> bool:
    return node(runtime, "orders").acked >= n


async def test_declare_false_consumes_a_queue_as_it_is(queue, channel, flow):
    await channel.declare_queue(queue, durable=True)  # classic, made elsewhere
    async with sink() as s:
        await flow(consumer(f"  queue: {queue}\n  declare: false\n  queue_type: classic\n  max_deliveries: 2", "boom"),
                   environment={"SINK": s.url, "WHO": "a"})
        await send(channel, queue, [5])
        assert await s.wait_for(lambda r: len(r) >= 1) == [("/dead", {"error": "dead"})]


async def test_declare_false_on_a_missing_queue_is_one_line_naming_the_field(queue, flow):
    runtime = await flow(f"- kind: amqp\n  name: sub\n  queue: {queue}\n  declare: false\n")
    message = check(runtime).not_ready[0]["message"]
    assert message.startswith(f"spec 'sub' (kind amqp): load failed: queue: cannot declare {queue!r}: ")
    assert "NOT_FOUND" in message


async def test_a_classic_queue_taken_for_a_quorum_one_still_ends_in_error(queue, channel, flow, caplog):
    await channel.declare_queue(queue, durable=True)  # classic, though the spec says nothing of it
    async with sink() as s:
        runtime = await flow(consumer(f"  queue: {queue}\n  declare: false\n  max_deliveries: 3", "boom"),
                             environment={"SINK": s.url, "WHO": "a"})
        await send(channel, queue, [6])
        assert await s.wait_for(lambda r: len(r) >= 1) == [("/dead", {"error": "dead"})]
        assert node(runtime).fired == 4  # the first redelivery, uncounted, told it apart
        assert f"queue {queue!r} redelivers without counting: taken as a classic queue" in caplog.text


async def test_a_process_running_when_the_broker_goes_away_finishes_and_its_message_comes_again(queue, channel,
                                                                                               flow):
    relay = Proxy("127.0.0.1", 5672)
    port = await relay.start()
    try:
        async with slow_sink(0.5) as s:
            await flow(consumer(f"  url: amqp://guest:guest@127.0.0.1:{port}/\n  queue: {queue}\n  reconnect: 100ms"),
                       environment={"SINK": s.url, "WHO": "a"})
            await send(channel, queue, [1])
            await until(lambda: _active(s), what="the process running")
            await relay.stop()
            await until(lambda: _count(s, 1), what="the process finished")  # not cancelled by the cut
            await relay.start()
            await until(lambda: _count(s, 2), what="the message again")  # its ack was lost: redelivered
            assert [b["data"] for b in s.bodies] == [1, 1]
    finally:
        await relay.stop()


async def _active(s: Any) -> bool:
    return s.active == 1


async def test_without_its_client_the_kind_says_which_extra_to_install(flow, monkeypatch):
    monkeypatch.setitem(sys.modules, "aio_pika", None)  # as when aio-pika is not installed: import fails
    runtime = await flow("- kind: amqp\n  name: sub\n  queue: q\n")
    assert check(runtime).not_ready[0]["message"] == \
        "spec 'sub' (kind amqp): the amqp kind needs its client: pip install 'portflow[amqp]'"


async def test_a_broker_away_at_load_is_tried_again_until_it_comes(queue, channel, flow):
    relay = Proxy("127.0.0.1", 5672)
    port = await relay.start()
    await relay.stop()  # nothing listens on the port: the broker is away when the runtime starts
    try:
        async with sink() as s:
            runtime = await flow(consumer(f"  url: amqp://guest:guest@127.0.0.1:{port}/\n  queue: {queue}\n"
                                          "  reconnect: 100ms"), environment={"SINK": s.url, "WHO": "a"})
            assert [e["message"] for e in check(runtime).not_ready] == [
                f"spec 'sub' (kind amqp): not connected to amqp://guest:***@127.0.0.1:{port}/"]
            await relay.start()
            await until(lambda: _ready(runtime), what="connected")
            await send(channel, queue, [1, 2])  # the node declared the queue once it got there
            await s.wait_for(lambda r: len(r) >= 2)
    finally:
        await relay.stop()


async def test_a_broker_that_refuses_once_reached_says_why(queue, flow):
    relay = Proxy("127.0.0.1", 5672)
    port = await relay.start()
    await relay.stop()
    try:
        runtime = await flow(f"- kind: amqp\n  name: sub\n  url: amqp://guest:Wrong-9@127.0.0.1:{port}/\n"
                             f"  queue: {queue}\n  reconnect: 100ms\n")
        await relay.start()
        await until(lambda: _refused(runtime), what="the refusal shown")
        assert "Wrong-9" not in str(check(runtime).as_json())
    finally:
        await relay.stop()


async def _refused(runtime: Runtime) -> bool:
    entries = check(runtime).not_ready
    return bool(entries) and entries[0]["message"].startswith(
        "spec 'sub' (kind amqp): url: cannot connect to amqp://guest:***@") and "ACCESS_REFUSED" in entries[0]["message"]
