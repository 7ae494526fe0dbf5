"""The nats kind against the real NATS server at 127.0.0.1:4222 (JetStream on): core queue groups split
messages between runtimes, JetStream acknowledges after success, retries a failure and dead-letters it
after max_deliveries, and ``in`` publishes (answered with the broker's acknowledgement)."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest

from portflow.runtime import Runtime
from portflow.store import open_store
from support.broker_flow import consumer_flow
from support.probe import call
from support.sink import sink

URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def nc():
    try:
        client = await nats.connect(URL, connect_timeout=3, max_reconnect_attempts=0)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"NATS is not reachable at {URL}: {exc} (these tests need the real server)", pytrace=False)
    yield client
    await client.close()


@pytest.fixture
async def stream(nc):
    name = f"T{uuid.uuid4().hex[:10]}"
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    yield name
    await js.delete_stream(name)


async def settled(js, stream: str, predicate) -> object:
    """The consumer's info once ``predicate(info)`` holds (polled; fails after 10 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        info = await js.consumer_info(stream, "g")
        if predicate(info):
            return info
        assert loop.time() < deadline, f"the consumer never settled: {info}"
        await asyncio.sleep(0.05)


def consumer(name: str, fields: str, target: str) -> str:
    return consumer_flow("nats", name, fields, target)


async def test_jetstream_acks_after_success_and_publishes_through_in(flow, nc, stream):
    async with sink() as s:
        runtime = await flow(consumer("orders", f"  stream: {stream}\n  consume: '{stream}.>'\n  group: g\n"
                                                f"  publish: {stream}.new", "wrap"),
                             environment={"SINK": s.url, "WHO": "a"})
        ack = await call(runtime, "orders", {"data": {"id": 1}})
        assert ack == {"stream": stream, "seq": 1}
        got = await s.wait_for(lambda r: len(r) >= 1)
        body = got[0][1]
        assert body["subject"] == f"{stream}.new" and body["data"] == {"id": 1} and body["id"] == "1"
        assert body["headers"]["Content-Type"].startswith("application/json")
        info = await settled(nc.jetstream(), stream, lambda i: i.ack_floor.stream_seq == 1)
        assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.delivered.consumer_seq == 1


async def test_jetstream_retries_a_failure_then_dead_letters_it_once(flow, nc, stream):
    async with sink() as s:
        await flow(consumer("orders", f"  stream: {stream}\n  consume: '{stream}.>'\n  group: g\n  max_deliveries: 3",
                            "boom"), environment={"SINK": s.url, "WHO": "a"})
        js = nc.jetstream()
        await js.publish(f"{stream}.bad", b'{"id": 2}', headers={"Content-Type": "application/json"})
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got == [("/dead", "dead-lettered")]
        info = await settled(js, stream, lambda i: i.num_ack_pending == 0)
        assert info.delivered.consumer_seq == 3  # three deliveries of the one message, then terminated
        assert len(s.received) == 1


async def test_core_queue_group_splits_messages_between_two_runtimes(nc, tmp_path):
    subject = f"core.{uuid.uuid4().hex}"
    async with sink() as s:
        runtimes = []
        for who in ("a", "b"):
            store = open_store(f"memory://nats-{uuid.uuid4().hex}")
            await store.open()
            from portflow.apply import apply, prepare_specs
            from portflow.spec import read_documents

            docs, _ = prepare_specs(read_documents(consumer("sub", f"  consume: {subject}\n  group: workers", "wrap")),
                                    "default")
            await apply(store.specs, docs, namespace="default")
            runtime = Runtime(store, namespace="default", environment={"SINK": s.url, "WHO": who})
            await runtime.start()
            runtimes.append(runtime)
        try:
            for i in range(40):
                await nc.publish(subject, str(i).encode())
            await nc.flush()
            got = await s.wait_for(lambda r: len(r) >= 40)
            assert sorted(b["data"] for _, b in got) == sorted(range(40))  # each once
            assert {p for p, _ in got} == {"/a", "/b"}
        finally:
            for runtime in runtimes:
                await runtime.close()
                await runtime.store.close()


async def test_concurrency_bounds_the_messages_in_flight(flow, nc, stream):
    async with sink() as s:
        spec = consumer("orders", f"  stream: {stream}\n  consume: '{stream}.>'\n  group: g\n  concurrency: 2", "slow")
        spec += """
- kind: sleep
  name: slow
  interval: 200ms
  ports:
    out:
      - name: wrap
        port: in
"""
        await flow(spec, environment={"SINK": s.url, "WHO": "a"})
        js = nc.jetstream()
        for i in range(6):
            await js.publish(f"{stream}.n", str(i).encode())
        seen = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(s.received) < 6:
            seen.append((await js.consumer_info(stream, "g")).num_ack_pending)
            assert loop.time() < deadline, s.received
            await asyncio.sleep(0.02)
        assert max(seen) == 2  # two at a time: the others wait in the stream
        assert sorted(b["data"] for _, b in s.received) == list(range(6))
