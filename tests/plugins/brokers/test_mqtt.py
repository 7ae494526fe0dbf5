"""The mqtt kind against the real Mosquitto at 127.0.0.1:1883: messages become processes (acknowledged after
success), a failure is retried then dead-lettered, ``concurrency`` bounds what is in flight, a shared
subscription splits messages between runtimes, reload drains, a cut connection is retried, and ``in``
publishes (answered when the broker confirms)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from portflow.admin.readiness import check
from portflow.apply import apply, prepare_specs
from portflow.errors import SpecError
from portflow.plugin import default_registries
from portflow.plugins.brokers.mqtt import MqttSpec, compile_mqtt
from portflow.runtime import Runtime
from portflow.scheme import Context
from portflow.spec import read_documents
from portflow.store import open_store
from support.broker_flow import consumer_flow
from support.probe import call
from support.proxy import Proxy
from support.sink import sink

HOST, PORT = "127.0.0.1", 1883
URL = f"mqtt://{HOST}:{PORT}"


class Publisher:
    """A bare paho client that publishes at QoS 1 and waits for each PUBACK."""

    def __init__(self) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        try:
            self.client.connect(HOST, PORT)
        except OSError as exc:
            pytest.fail(f"Mosquitto is not reachable at {URL}: {exc} (these tests need the real broker)",
                        pytrace=False)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str, content_type: str | None = None, **user: str) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if content_type:
            props.ContentType = content_type
        if user:
            props.UserProperty = list(user.items())
        self.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def pub():
    p = Publisher()
    yield p
    p.close()


@pytest.fixture
def topic() -> str:
    return f"test/{uuid.uuid4().hex}"


def consumer(fields: str, target: str = "wrap", name: str = "sub") -> str:
    return consumer_flow("mqtt", name, fields, target)


async def until(predicate, what: str, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def ready(runtime: Runtime) -> bool:
    return check(runtime).ready


def datas(received, who=None) -> list:
    return [b["data"] for p, b in received if who is None or p == f"/{who}"]


async def test_consumes_into_processes_and_publishes_through_in(flow, topic, pub):
    async with sink() as s:
        runtime = await flow(consumer(f"  consume: '{topic}/#'\n  publish: {topic}/new"),
                             environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to connect")
        answer = await call(runtime, "sub", {"data": {"id": 1}, "headers": {"trace": "t1"}})
        assert answer["topic"] == f"{topic}/new" and isinstance(answer["id"], int)
        await asyncio.to_thread(pub.send, f"{topic}/x", b"plain words", "text/plain", who="me")
        got = await s.wait_for(lambda r: len(r) >= 2)
        first, second = got[0][1], got[1][1]
        assert first["topic"] == f"{topic}/new" and first["data"] == {"id": 1} and first["headers"]["trace"] == "t1"
        assert first["headers"]["Content-Type"].startswith("application/json") and isinstance(first["id"], int)
        assert second == {"topic": f"{topic}/x", "data": "plain words", "id": second["id"],
                          "headers": {"Content-Type": "text/plain", "who": "me"}}


async def test_a_failure_is_retried_then_dead_lettered_once_and_acknowledged(flow, topic, pub, tmp_path):
    async with sink() as s:
        spec = consumer(f"  consume: '{topic}'\n  max_deliveries: 3\n  client_id: c-{uuid.uuid4().hex}", "count")
        spec += """
- kind: snippet
  name: count
  language: cel
  code: '{"body": self.data}'
  ports:
    out:
      - name: post
        port: in
"""
        # every try reaches the sink, then fails: post's answer goes on to boom
        spec = spec.replace("- kind: http\n  name: post\n", "- kind: http\n  name: post\n  ports:\n    out:\n"
                                                             "      - name: boom\n        port: in\n", 1)
        runtime = await flow(spec, environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to connect")
        await asyncio.to_thread(pub.send, topic, b'{"id": 2}', "application/json")
        got = await s.wait_for(lambda r: any(p == "/dead" for p, _ in r))
        assert got == [("/a", {"id": 2})] * 3 + [("/dead", "dead-lettered")]
        await runtime.close()
        # acknowledged: the persistent session does not get it again (it would come before the next one)
        runtime2 = await flow(spec, environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime2), "the consumer to reconnect")
        await asyncio.to_thread(pub.send, topic, b"after")
        got = await s.wait_for(lambda r: len(r) >= 8)
        assert got[4:] == [("/a", "after")] * 3 + [("/dead", "dead-lettered")]


async def test_concurrency_bounds_the_processes_in_flight(flow, topic, pub):
    """A slow flow (each process waits 200 ms on an HTTP call) never has more than concurrency in flight."""
    inflight = peak = 0
    done: list[int] = []

    async def slow(request: web.Request) -> web.Response:
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        await asyncio.sleep(0.2)
        inflight -= 1
        done.append((await request.json())["data"])
        return web.json_response(None)

    app = web.Application()
    app.router.add_post("/{tail:.*}", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    url = f"http://{HOST}:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        runtime = await flow(consumer(f"  consume: '{topic}'\n  concurrency: 2"), environment={"SINK": url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to connect")
        for i in range(8):
            await asyncio.to_thread(pub.send, topic, str(i))
        await until(lambda: len(done) == 8, "8 messages through the slow flow")
        assert peak == 2
        assert sorted(done) == list(range(8))
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("fields", "field", "text"), [
    ({"url": "http://x"}, "url", "is not an mqtt:// URL"),
    ({"consume": "$share/g/t"}, "consume", "set group"),
    ({"consume": "t", "group": "a/b"}, "group", "share name"),
    ({"publish": "a/#"}, "publish", "no wildcards"),
])
def test_bad_specs_are_one_line_naming_the_field(fields, field, text):
    spec = MqttSpec(kind="mqtt", name="m", **fields)
    with pytest.raises(SpecError) as info:
        compile_mqtt(spec, Context(default_registries().scheme))
    message = str(info.value)
    assert f"{field}: " in message and text in message and "\n" not in message


async def _runtime(spec: str, environment: dict[str, str], values: str | None = None) -> Runtime:
    store = open_store(f"memory://mqtt-{uuid.uuid4().hex}")
    await store.open()
    docs, problems = prepare_specs(read_documents(spec), "default")
    assert not problems, problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, namespace="default", environment=environment)
    await runtime.start()
    return runtime


async def test_a_shared_subscription_splits_messages_between_two_runtimes(topic, pub):
    group = f"g{uuid.uuid4().hex[:8]}"
    async with sink() as s:
        runtimes = [await _runtime(consumer(f"  consume: '{topic}'\n  group: {group}"), {"SINK": s.url, "WHO": who})
                    for who in ("a", "b")]
        try:
            await until(lambda: all(ready(r) for r in runtimes), "both consumers to connect")
            for i in range(40):
                await asyncio.to_thread(pub.send, topic, str(i))
            got = await s.wait_for(lambda r: len(r) >= 40)
            assert sorted(datas(got)) == list(range(40))  # each once
            assert datas(got, "a") and datas(got, "b")
        finally:
            for runtime in runtimes:
                await runtime.close()
                await runtime.store.close()


SLOW = """
- kind: sleep
  name: slow
  interval: 50ms
  ports:
    out:
      - name: wrap
        port: in
"""


async def test_a_reload_mid_stream_loses_nothing_and_processes_nothing_twice(flow, store, topic, pub):
    client_id = f"c-{uuid.uuid4().hex}"
    async with sink() as s:
        spec = consumer(f"  consume: '{topic}'\n  client_id: {client_id}\n  concurrency: 4", "slow") + SLOW
        runtime = await flow(spec, environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to connect")
        for i in range(30):
            await asyncio.to_thread(pub.send, topic, str(i))
        await s.wait_for(lambda r: len(r) >= 5)
        docs, _ = prepare_specs(read_documents(spec.replace("concurrency: 4", "concurrency: 3")), "default")
        await apply(store.specs, docs, namespace="default")  # the runtime watches: sub reloads
        await until(lambda: runtime.table.lookup("default", "sub").node.concurrency == 3, "the reload")
        got = await s.wait_for(lambda r: len(r) >= 30)
        assert sorted(datas(got)) == list(range(30))  # none lost, none twice


async def test_a_cut_connection_is_retried_and_messages_resume(flow, topic, pub, caplog):
    """The broker behind a relay of our own goes away: the node is "not connected" (the URL's password, bound
    from a value, hidden), and the messages published meanwhile arrive once it is back."""
    proxy = Proxy(HOST, PORT)
    port = await proxy.start()
    secret = f"s3cret{uuid.uuid4().hex[:6]}"
    values = f"- name: broker\n  data:\n    password: {secret}\n    port: {port}\n"
    fields = (f"  url: '{{{{ .URL }}}}'\n  consume: '{topic}'\n  client_id: c-{uuid.uuid4().hex}\n"
              "  env:\n    URL:\n      name: broker\n"
              "      data: 'mqtt://portflow:{{ .password }}@127.0.0.1:{{ .port }}'")
    try:
        async with sink() as s:
            runtime = await flow(consumer(fields), environment={"SINK": s.url, "WHO": "a"}, values=values)
            await until(lambda: ready(runtime), "the consumer to connect")
            await asyncio.to_thread(pub.send, topic, "0")
            await s.wait_for(lambda r: len(r) >= 1)
            await proxy.stop()
            await until(lambda: not ready(runtime), "the node to notice")
            (entry,) = check(runtime).not_ready
            assert entry["reason"] == f"not connected to mqtt://portflow:***@127.0.0.1:{port}"
            for i in (1, 2, 3):
                await asyncio.to_thread(pub.send, topic, str(i))
            await proxy.start()
            got = await s.wait_for(lambda r: {1, 2, 3} <= set(datas(r)), timeout=30)
            # at least once: 0 comes again when the cut took its acknowledgement with it
            assert sorted(set(datas(got))) == [0, 1, 2, 3] and datas(got).count(0) <= 2 and len(got) <= 5
            await until(lambda: ready(runtime), "the node to be ready again")
            assert secret not in caplog.text and "disconnected from mqtt://portflow:***@" in caplog.text
    finally:
        await proxy.stop()


def _start(url: str, sink_url: str, specs: Path | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = url
    args = ["--from-specs", str(specs)] if specs else []
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", *args, "-e", f"SINK={sink_url}",
                             "-e", "WHO=a"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _session(client_id: str, topic: str | None) -> None:
    """Open the persistent session ``client_id`` subscribed to ``topic``; without a topic, end it."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600 if topic else 0
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect(HOST, PORT, clean_start=topic is None, properties=props)
    c.loop_start()
    if topic:
        c.subscribe(topic, qos=1)
        assert subscribed.wait(10), "no SUBACK"
    c.disconnect()
    c.loop_stop()


async def test_a_kill_9_mid_stream_loses_nothing(pub, topic, tmp_path):
    """300 messages wait in a persistent session; ``portflow start`` consumes them (four at a time, 40 ms
    each) and is killed with SIGKILL mid-stream; 50 more are published while it is down; after a restart
    every message was processed at least once (the ones in flight at the kill may come twice)."""
    client_id = f"kill-{uuid.uuid4().hex}"
    total = 300
    specs = tmp_path / "mqtt.yaml"
    specs.write_text(consumer(f"  consume: '{topic}'\n  client_id: {client_id}\n  concurrency: 4", "slow")
                     + SLOW.replace("50ms", "40ms"))
    await asyncio.to_thread(_session, client_id, topic)
    for i in range(total):
        await asyncio.to_thread(pub.send, topic, str(i))
    url = f"sqlite:///{tmp_path}/store.db"
    procs: list[subprocess.Popen] = []
    try:
        async with sink() as s:
            procs.append(_start(url, s.url, specs))
            await s.wait_for(lambda r: len(r) >= 80, timeout=30)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(10)
            killed_at = len(s.received)
            assert killed_at < total
            for i in range(total, total + 50):  # published while it is down: kept in the session
                await asyncio.to_thread(pub.send, topic, str(i))
            total += 50
            procs.append(_start(url, s.url, None))
            got = await s.wait_for(lambda r: set(datas(r)) >= set(range(total)), timeout=60)
            lost = total - len(set(datas(got)))
            duplicates = len(got) - len(set(datas(got)))
            print(f"mqtt kill -9: total={total} killed_at={killed_at} lost={lost} duplicates={duplicates}")
            assert lost == 0 and duplicates <= 8  # at most what was in flight (4) and being acknowledged
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)
            proc.stderr.close()
        await asyncio.to_thread(_session, client_id, None)


async def test_qos_0_consumes_and_publishes_without_acknowledgements(flow, topic):
    async with sink() as s:
        runtime = await flow(consumer(f"  consume: '{topic}'\n  qos: 0\n  publish: '{topic}'"),
                             environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to subscribe")
        assert await call(runtime, "sub", "hello") == {"topic": topic, "id": None}
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got[0][1]["data"] == "hello" and got[0][1]["id"] is None


async def test_a_broker_down_at_start_is_retried_and_shutdown_is_quiet(flow, topic, pub, caplog):
    """The spec loads while the broker is unreachable (not connected, retried with backoff), connects when it
    comes, and closing logs nothing about a client that is not connected."""
    proxy = Proxy(HOST, PORT)
    port = await proxy.start()
    await proxy.stop()
    try:
        async with sink() as s:
            runtime = await flow(consumer(f"  url: mqtt://127.0.0.1:{port}\n  consume: '{topic}'"),
                                 environment={"SINK": s.url, "WHO": "a"})
            (entry,) = check(runtime).not_ready
            assert entry["reason"] == f"not connected to mqtt://127.0.0.1:{port}"
            await call(runtime, "sub", "too early")  # publishing meanwhile fails, to error
            await proxy.start()
            await until(lambda: ready(runtime), "the consumer to connect", timeout=30)
            await asyncio.to_thread(pub.send, topic, "late")
            got = await s.wait_for(lambda r: any(isinstance(b, dict) and b["data"] == "late" for _, b in r))
            assert ("/dead", "dead-lettered") in got
            await runtime.close()
        assert "not connected" not in caplog.text.replace(f"not connected to mqtt://127.0.0.1:{port}", "")
    finally:
        await proxy.stop()


def test_a_missing_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # import fails as if paho were not installed
    with pytest.raises(SpecError) as info:
        compile_mqtt(MqttSpec(kind="mqtt", name="m"), Context(default_registries().scheme))
    assert "pip install 'portflow[mqtt]'" in str(info.value) and "\n" not in str(info.value)


async def test_unload_without_a_session_finishes_what_it_took(flow, topic, pub, caplog):
    """Closing mid-stream unsubscribes, then lets every message already taken finish (none cancelled, none
    twice); without client_id what the broker still held for the connection is not kept."""
    async with sink() as s:
        runtime = await flow(consumer(f"  consume: '{topic}'\n  concurrency: 2", "slow") + SLOW,
                             environment={"SINK": s.url, "WHO": "a"})
        await until(lambda: ready(runtime), "the consumer to subscribe")
        for i in range(20):
            await asyncio.to_thread(pub.send, topic, str(i))
        await s.wait_for(lambda r: len(r) >= 3)
        node = runtime.table.lookup("default", "sub").node
        await runtime.close()
        assert node.finished == node.fired == len(s.received)  # each one it took ran to its end
        assert sorted(datas(s.received)) == list(range(len(s.received)))
        assert "cancelling" not in caplog.text


async def test_the_example_prints_each_reading(flow, topic, pub, capfd):
    text = (Path(__file__).parents[3] / "examples" / "mqtt.yaml").read_text()
    own = uuid.uuid4().hex[:8]  # the example's topic, group and session under names of this test's own
    text = (text.replace("sensors/+/temperature", f"{topic}/+/temperature").replace("group: portflow", f"group: g{own}")
            .replace("client_id: portflow-sensors", f"client_id: example-{own}"))
    runtime = await flow(text)
    await until(lambda: ready(runtime), "the consumer to connect")
    await asyncio.to_thread(pub.send, f"{topic}/kitchen/temperature", b'{"celsius": 21.5}', "application/json")
    loop = asyncio.get_running_loop()
    deadline, out = loop.time() + 10, ""
    while f"{topic}/kitchen/temperature: map[celsius:21.5]" not in out:
        assert loop.time() < deadline, out
        await asyncio.sleep(0.05)
        out += capfd.readouterr().out
    assert "dead letter" not in out
