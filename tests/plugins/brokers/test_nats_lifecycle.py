"""The nats kind's life against the real NATS+JetStream at 127.0.0.1:4222: a reload and an unload drain the
messages in flight (none lost, none twice) and a reload applies a changed ``concurrency``; two runtimes on one
durable consumer split the messages; a cut TCP relay in front of the server shows as "not connected", is
logged once and retried every ``RECONNECT_WAIT``, and the messages resume when it returns (a core subscription
too); a durable consumer deleted on the server shows in readiness; a ``portflow start`` killed with SIGKILL
mid-stream loses nothing once restarted; the example consumes and acknowledges."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from portflow.admin import readiness
from portflow.apply import apply, prepare_specs
from portflow.plugins.brokers.nats import CHECK_EVERY, RECONNECT_WAIT
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store
from support.proxy import Proxy
from support.sink import Sink, sink

from . import test_nats as base
from .test_nats import consumer, settled

nc = base.nc  # the fixtures: a client of the real server, and a fresh stream T<hex> on subjects T<hex>.>
stream = base.stream

#: A step that holds each message, so that some are in flight when the test acts.
SLOW = """
- kind: sleep
  name: slow
  interval: {interval}
  ports:
    out:
      - name: wrap
        port: in
"""


def slow_consumer(stream: str, concurrency: int, interval: str = "300ms", url: str = base.URL,
                  extra: str = "") -> str:
    fields = (f"  url: {url}\n  stream: {stream}\n  consume: '{stream}.>'\n  group: g\n"
              f"  concurrency: {concurrency}\n{extra}")
    return consumer("orders", fields.rstrip("\n"), "slow") + SLOW.format(interval=interval)


async def apply_specs(store: Any, text: str) -> None:
    docs, problems = prepare_specs(read_documents(text), "default")
    assert not problems, problems
    await apply(store.specs, docs, namespace="default")


async def eventually(predicate: Any, timeout: float = 15.0, what: str = "the condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"{what} did not hold within {timeout}s"
        await asyncio.sleep(0.02)


async def reloaded(runtime: Runtime, old: Any) -> None:
    """Wait until the spec ``orders`` runs a new node (the runtime reloaded it)."""
    def fresh() -> bool:
        sb = runtime.table.lookup("default", "orders")
        return sb is not None and sb.node is not old and sb.loaded
    await eventually(fresh, what="the reload")


def node(runtime: Runtime) -> Any:
    sb = runtime.table.lookup("default", "orders")
    assert sb is not None and sb.node is not None
    return sb.node


def ids(s: Sink) -> list[str]:
    return [body["id"] for path, body in s.received if path != "/dead"]


async def publish(js: Any, stream: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await js.publish(f"{stream}.n", str(i).encode())


def warnings(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("portflow")]


async def test_a_reload_drains_the_messages_in_flight_none_lost_none_twice(flow, store, nc, stream, caplog):
    caplog.set_level(logging.INFO)
    js = nc.jetstream()
    async with sink() as s:
        runtime = await flow(slow_consumer(stream, 4), environment={"SINK": s.url, "WHO": "a"})
        await publish(js, stream, 30)
        await s.wait_for(lambda r: len(r) >= 6)
        await settled(js, stream, lambda i: i.num_ack_pending > 0)  # messages are in flight now
        old = node(runtime)
        await apply_specs(store, slow_consumer(stream, 4, extra="  ack_wait: 20s\n"))  # a changed spec: reload
        await reloaded(runtime, old)
        await s.wait_for(lambda r: len(r) >= 30, timeout=20)
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, 31)]  # each once: none lost, none twice
        info = await settled(js, stream, lambda i: i.ack_floor.stream_seq == 30 and i.num_ack_pending == 0)
        assert info.num_redelivered == 0 and info.config.ack_wait == 20
    assert warnings(caplog) == []


async def test_eight_reloads_while_messages_flow_lose_none_and_repeat_none(flow, store, nc, stream):
    js = nc.jetstream()
    async with sink() as s:
        runtime = await flow(slow_consumer(stream, 4, interval="5ms"), environment={"SINK": s.url, "WHO": "a"})
        await publish(js, stream, 400)
        for k in range(8):
            await s.wait_for(lambda r, k=k: len(r) >= 40 * (k + 1), timeout=20)
            old = node(runtime)
            await apply_specs(store, slow_consumer(stream, 5 - k % 2, interval="5ms"))  # 5, 4, 5...: a change
            await reloaded(runtime, old)
        await s.wait_for(lambda r: len(r) >= 400, timeout=30)
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, 401)]
        info = await settled(js, stream, lambda i: i.ack_floor.stream_seq == 400 and i.num_ack_pending == 0)
        assert info.num_redelivered == 0  # no message was left fetched but unprocessed by a reload


async def test_a_reload_applies_a_changed_concurrency(flow, store, nc, stream):
    js = nc.jetstream()
    async with sink() as s:
        runtime = await flow(slow_consumer(stream, 2), environment={"SINK": s.url, "WHO": "a"})
        await publish(js, stream, 40)
        before: list[int] = []
        while len(s.received) < 6:
            before.append((await js.consumer_info(stream, "g")).num_ack_pending)
            await asyncio.sleep(0.02)
        old = node(runtime)
        await apply_specs(store, slow_consumer(stream, 5))
        await reloaded(runtime, old)
        after: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(s.received) < 40:
            info = await js.consumer_info(stream, "g")
            after.append(info.num_ack_pending)
            assert loop.time() < deadline, s.received
            await asyncio.sleep(0.02)
        assert max(before) == 2 and max(after) == 5  # the broker hands out five at a time after the reload
        assert info.config.max_ack_pending == 5
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, 41)]


async def test_an_unload_drains_the_messages_in_flight_and_leaves_the_rest_in_the_stream(flow, store, nc, stream,
                                                                                         caplog):
    caplog.set_level(logging.INFO)
    js = nc.jetstream()
    async with sink() as s:
        runtime = await flow(slow_consumer(stream, 4), environment={"SINK": s.url, "WHO": "a"})
        await publish(js, stream, 30)
        await s.wait_for(lambda r: len(r) >= 4)
        await settled(js, stream, lambda i: i.num_ack_pending > 0)
        await store.specs.delete({"name": "orders"})
        await eventually(lambda: runtime.table.lookup("default", "orders") is None, what="the unload")
        done = len(s.received)
        assert done < 30
        info = await settled(js, stream, lambda i: i.num_ack_pending == 0)
        # every message handed to this runtime was processed and acknowledged; the rest wait in the stream
        assert info.ack_floor.stream_seq == done and info.num_pending == 30 - done and info.num_redelivered == 0
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, done + 1)]
        await asyncio.sleep(0.3)
        assert len(s.received) == done  # and nothing arrives after the unload
    assert warnings(caplog) == []  # a clean close logs nothing
    assert [r.getMessage() for r in caplog.records if r.name.startswith("portflow.brokers")] == []


@asynccontextmanager
async def runtimes(spec: str, sink_url: str, *who: str) -> AsyncIterator[list[Runtime]]:
    """A runtime per name in ``who``, each on a store of its own, all serving ``spec``."""
    started: list[Runtime] = []
    try:
        for name in who:
            st = open_store(f"memory://nats-{uuid.uuid4().hex}")
            await st.open()
            await apply_specs(st, spec)
            runtime = Runtime(st, namespace="default", environment={"SINK": sink_url, "WHO": name})
            started.append(runtime)
            await runtime.start()
        yield started
    finally:
        for runtime in started:
            await runtime.close()
            await runtime.store.close()


async def test_two_runtimes_on_one_durable_consumer_split_the_messages(nc, stream):
    js = nc.jetstream()
    async with sink() as s, runtimes(slow_consumer(stream, 4, interval="20ms"), s.url, "a", "b"):
        await publish(js, stream, 60)
        await s.wait_for(lambda r: len(r) >= 60, timeout=20)
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, 61)]  # each once
        assert {path for path, _ in s.received} == {"/a", "/b"}  # both took some
        info = await settled(js, stream, lambda i: i.ack_floor.stream_seq == 60)
        assert info.num_redelivered == 0


class Relay(Proxy):
    """The test's TCP relay in front of NATS. ``cut()`` drops its connections, then takes each new one and
    drops it at once (noting when, so the reconnect attempts can be counted); ``mend()`` forwards again."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 4222)
        self.cutting = False
        self.attempts: list[float] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cutting:
            self.attempts.append(asyncio.get_running_loop().time())
            writer.transport.abort()
            return
        await super()._handle(reader, writer)

    def cut(self) -> None:
        self.cutting = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def mend(self) -> None:
        self.cutting = False


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    """A relay to the server, stopped after the test's runtimes closed (request it before ``flow``)."""
    relay = Relay()
    await relay.start()
    yield relay
    await relay.stop()


async def test_a_cut_connection_shows_not_connected_is_retried_and_the_messages_resume(relay, flow, nc, stream,
                                                                                      caplog):
    caplog.set_level(logging.DEBUG, logger="portflow")
    js = nc.jetstream()
    async with sink() as s:
        secret = f"nats://bob:s3cret@127.0.0.1:{relay.port}"  # (a server without auth takes any)
        runtime = await flow(slow_consumer(stream, 4, interval="10ms", url=secret),
                             environment={"SINK": s.url, "WHO": "a"})
        label = node(runtime).label
        await publish(js, stream, 10)
        await s.wait_for(lambda r: len(r) >= 10)
        await settled(js, stream, lambda i: i.ack_floor.stream_seq == 10)  # (an ack the cut drops: redelivered)
        assert readiness.check(runtime).ready

        relay.cut()
        await eventually(lambda: not readiness.check(runtime).ready, what="not ready")
        [entry] = readiness.check(runtime).not_ready
        assert entry["spec"] == "orders" and entry["reason"] == f"not connected to nats://bob:***@127.0.0.1:{relay.port}"
        await publish(js, stream, 10, start=10)  # published while the runtime cannot reach the server
        await eventually(lambda: len(relay.attempts) >= 4, what="four reconnect attempts")
        gaps = [b - a for a, b in zip(relay.attempts, relay.attempts[1:], strict=False)]
        assert min(gaps) >= RECONNECT_WAIT * 0.9, gaps  # retried at a steady pace, not in a tight loop
        assert len(s.received) == 10

        relay.mend()
        await s.wait_for(lambda r: len(r) >= 20, timeout=15)
        await eventually(lambda: readiness.check(runtime).ready, what="ready again")
        assert sorted(ids(s), key=int) == [str(i) for i in range(1, 21)]
        await settled(js, stream, lambda i: i.ack_floor.stream_seq == 20 and i.num_ack_pending == 0)
    # one warning for the one lost connection; the failed attempts are debug lines
    assert warnings(caplog) == [f"{label}: disconnected from nats://bob:***@127.0.0.1:{relay.port} (reconnecting)"]
    assert not [r for r in caplog.records if "s3cret" in r.getMessage()]
    assert sum("reconnected" in r.getMessage() for r in caplog.records) == 1


async def test_a_core_subscription_comes_back_after_a_cut(relay, flow, nc):
    subject = f"core.{uuid.uuid4().hex}"
    async with sink() as s:
        fields = f"  url: nats://127.0.0.1:{relay.port}\n  consume: {subject}\n  group: workers"
        runtime = await flow(consumer("orders", fields, "wrap"), environment={"SINK": s.url, "WHO": "a"})
        await nc.publish(subject, b"1")
        await s.wait_for(lambda r: len(r) >= 1)
        relay.cut()
        await eventually(lambda: not readiness.check(runtime).ready, what="not ready")
        relay.mend()
        await eventually(lambda: readiness.check(runtime).ready, what="ready again")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while len(s.received) < 2:  # core NATS keeps nothing for a client away: publish until it is subscribed again
            assert loop.time() < deadline, s.received
            await nc.publish(subject, b"2")
            await asyncio.sleep(0.1)
        assert [body["data"] for _, body in s.received][:2] == [1, 2]


def _start(specs: Path, store_url: str, sink_url: str, who: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = store_url
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", "--from-specs", str(specs),
                             "-e", f"SINK={sink_url}", "-e", f"WHO={who}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_a_runtime_killed_mid_stream_loses_nothing_after_a_restart(nc, stream, tmp_path):
    total = 200
    specs = tmp_path / "orders.yaml"
    specs.write_text(slow_consumer(stream, 8, interval="20ms", extra="  ack_wait: 2s\n"))
    store_url = f"sqlite:///{tmp_path}/portflow.db"
    expected = {str(i) for i in range(1, total + 1)}
    js = nc.jetstream()
    await publish(js, stream, total)
    async with sink() as s:
        first = _start(specs, store_url, s.url, "a")
        try:
            await s.wait_for(lambda r: len(r) >= 40, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            _stop(first)
        killed_at = len(s.received)
        assert killed_at < total
        second = _start(specs, store_url, s.url, "b")
        try:
            await s.wait_for(lambda r: set(ids(s)) >= expected, timeout=60)
            await settled(js, stream, lambda i: i.ack_floor.stream_seq == total and i.num_ack_pending == 0)
        finally:
            _stop(second)
        got = ids(s)
        lost = total - len(set(got))
        twice = len(got) - len(set(got))
        print(f"kill -9 after {killed_at} of {total}: lost={lost} processed_twice={twice}")
        assert lost == 0
        assert twice <= 8  # at most what was in flight (unacknowledged) when the runtime died


async def test_the_example_prints_each_order_and_acknowledges_it(flow, nc, capsys):
    name = f"ORDERS{uuid.uuid4().hex[:8]}"  # the example's stream, under a name of this test's own
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    try:
        text = (Path(__file__).parents[3] / "examples" / "nats.yaml").read_text()
        await flow(text.replace("ORDERS", name).replace("orders.>", f"{name}.>"))
        await js.publish(f"{name}.new", b'{"id": 1}', headers={"Content-Type": "application/json"})
        await js.publish(f"{name}.new", b"two")
        info = await js.consumer_info(name, "portflow")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while info.ack_floor.stream_seq < 2:
            assert loop.time() < deadline, info
            await asyncio.sleep(0.02)
            info = await js.consumer_info(name, "portflow")
        assert info.num_redelivered == 0 and info.num_ack_pending == 0
        lines = sorted(capsys.readouterr().out.splitlines())
        assert lines == [f"order map[id:1] on {name}.new", f"order two on {name}.new"]
    finally:
        await js.delete_stream(name)


async def test_a_consumer_deleted_on_the_server_shows_in_readiness_until_it_is_back(flow, store, nc, stream, caplog):
    js = nc.jetstream()
    async with sink() as s:
        runtime = await flow(slow_consumer(stream, 2, interval="10ms"), environment={"SINK": s.url, "WHO": "a"})
        await js.delete_consumer(stream, "g")  # fetching from it now only times out
        await eventually(lambda: not readiness.check(runtime).ready, timeout=CHECK_EVERY * 3, what="not ready")
        [entry] = readiness.check(runtime).not_ready
        assert entry["reason"] == f"the consumer 'g' of stream {stream!r} is gone from the server " \
                                  "(reload the spec to create it again)"
        old = node(runtime)
        await apply_specs(store, slow_consumer(stream, 3, interval="10ms"))  # a reload creates it again
        await reloaded(runtime, old)
        assert readiness.check(runtime).ready
        await publish(js, stream, 3)
        await s.wait_for(lambda r: len(r) >= 3)
    assert [m for m in warnings(caplog) if "is gone" in m] == [f"{old.label}: {entry['reason']}"]  # once
