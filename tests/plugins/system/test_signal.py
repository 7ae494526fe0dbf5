"""signal: the store's change events, in order, each in a fresh process, from load to unload."""

from __future__ import annotations

import asyncio

import pytest

from portflow.errors import FlowError, SpecError
from portflow.packet import Packet
from portflow.plugins.system.signal import Signal

from .conftest import Record, context_for, node_of


async def settle(condition, timeout: float = 30.0) -> None:  # a safety net: each waits on an event
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_emits_insert_update_delete_in_order(store):
    record = Record()
    signal = Signal(store.specs)
    signal.out_port.link(record.in_port)
    await signal.load()
    try:
        await store.specs.insert([{"id": "1", "namespace": "default", "name": "a", "kind": "x"}])
        await store.specs.update([{"id": "1", "namespace": "default", "name": "a", "kind": "y"}])
        await store.specs.insert([{"id": "2", "namespace": "other", "kind": "x"}])
        await store.specs.delete({"id": "1"})
        await settle(lambda: len(record.seen) == 4)
    finally:
        await signal.unload()
    assert record.seen == [
        {"op": "insert", "id": "1", "namespace": "default", "name": "a"},
        {"op": "update", "id": "1", "namespace": "default", "name": "a"},
        {"op": "insert", "id": "2", "namespace": "other"},
        {"op": "delete", "id": "1", "namespace": "default", "name": "a"},
    ]
    assert len({id(p) for p in record.procs}) == 4
    assert all(p.terminated for p in record.procs)


async def test_nothing_before_load_or_after_unload(store):
    record = Record()
    signal = Signal(store.values, {"namespace": "default"})
    signal.out_port.link(record.in_port)
    await store.values.insert([{"id": "0", "namespace": "default", "data": 0}])
    await signal.load()
    await store.values.insert([{"id": "1", "namespace": "default", "data": 1},
                               {"id": "2", "namespace": "elsewhere", "data": 2}])
    await settle(lambda: len(record.seen) == 1)
    await signal.unload()
    await store.values.insert([{"id": "3", "namespace": "default", "data": 3}])
    await asyncio.sleep(0.05)
    assert [e["id"] for e in record.seen] == ["1"]


async def test_one_event_at_a_time(store):
    active, peak, order = 0, 0, []

    class Slow(Record):
        async def action(self, proc, pck):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            order.append(pck.payload["id"])
            active -= 1
            return pck

    slow = Slow()
    signal = Signal(store.specs)
    signal.out_port.link(slow.in_port)
    await signal.load()
    try:
        for i in range(5):
            await store.specs.insert([{"id": str(i), "namespace": "default", "kind": "x"}])
        await settle(lambda: len(order) == 5)
    finally:
        await signal.unload()
    assert order == ["0", "1", "2", "3", "4"] and peak == 1


async def test_an_error_answer_goes_to_error_and_the_process_exits_with_it(store):
    class Fails(Record):
        def action(self, proc, pck):
            super().action(proc, pck)
            return Packet(FlowError("boom"))

    fails, handler = Fails(), Record()
    signal = Signal(store.specs)
    signal.out_port.link(fails.in_port)
    signal.error_port.link(handler.in_port)
    await signal.load()
    try:
        await store.specs.insert([{"id": "1", "namespace": "default", "kind": "x"}])
        await settle(lambda: handler.seen)
    finally:
        await signal.unload()
    assert str(handler.seen[0]) == "boom"
    answer = await signal.emit({"op": "insert", "id": "z", "namespace": "default"})
    assert answer.payload == {"seen": answer.payload["seen"]}


async def test_codec_checks_topic_and_filter(store):
    ctx = context_for(store)
    node = ctx.scheme.compile(ctx.scheme.decode({"kind": "signal", "name": "s", "topic": "values",
                                                 "filter": {"namespace": ["a", "b"]}}), ctx)
    assert isinstance(node, Signal) and node.collection is store.values
    with pytest.raises(SpecError, match="topic"):
        ctx.scheme.decode({"kind": "signal", "name": "s", "topic": "charts"})
    with pytest.raises(SpecError, match=r"spec 's' \(kind signal\).*kind"):
        ctx.scheme.compile(ctx.scheme.decode({"kind": "signal", "name": "s", "topic": "specs",
                                              "filter": {"kind": "x"}}), ctx)


async def test_in_a_runtime_it_runs_while_loaded(runtime, store):
    rt = await runtime("""
- kind: signal
  name: changes
  topic: specs
  filter:
    namespace: watched
  ports:
    out:
      - name: sink
        port: in
- kind: record
  name: sink
""", namespace="system")
    sink = node_of(rt, "sink")
    await store.specs.insert([{"id": "w1", "namespace": "watched", "name": "n", "kind": "x"}])
    await settle(lambda: sink.seen)
    assert sink.seen == [{"op": "insert", "id": "w1", "namespace": "watched", "name": "n"}]
    await store.specs.delete({"namespace": "system", "name": "changes"})
    await settle(lambda: rt.table.lookup("system", "changes") is None)
    await store.specs.insert([{"id": "w2", "namespace": "watched", "kind": "x"}])
    await asyncio.sleep(0.05)
    assert len(sink.seen) == 1
