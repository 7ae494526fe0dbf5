"""watch: the store's changes as server-sent-event chunks, filtered by the request, resumable."""

from __future__ import annotations

import asyncio
import json

from portflow.plugins.system.watch import EventStream, Watch, request_filter

from .conftest import send_to


def events(chunks: list[bytes]) -> list[dict]:
    out = []
    for chunk in chunks:
        text = chunk.decode()
        if text.startswith(":"):
            continue
        lines = dict(line.split(": ", 1) for line in text.strip().splitlines())
        out.append({"seq": int(lines["id"]), **json.loads(lines["data"])})
    return out


async def test_stream_greets_then_sends_each_change(store):
    stream = EventStream(store.specs, {"namespace": "default"})
    assert (await stream.__anext__()).startswith(b": watching specs")
    await store.specs.insert([{"id": "1", "namespace": "default", "name": "a", "kind": "x"},
                              {"id": "2", "namespace": "other", "kind": "x"}])
    await store.specs.delete({"id": "1"})
    chunks = [await stream.__anext__(), await stream.__anext__()]
    assert [(e["op"], e["id"]) for e in events(chunks)] == [("insert", "1"), ("delete", "1")]
    assert chunks[0].endswith(b"\n\n") and chunks[0].startswith(b"id: ")
    await stream.aclose()
    assert [c async for c in stream] == []


async def test_heartbeat_while_idle(store):
    stream = EventStream(store.values, heartbeat=0.02)
    await stream.__anext__()
    assert await stream.__anext__() == b": keep-alive\n\n"
    await stream.aclose()


async def test_last_event_id_resumes(store):
    await store.specs.insert([{"id": "1", "namespace": "default", "kind": "x"}])
    seen = await store.head()
    await store.specs.insert([{"id": "2", "namespace": "default", "kind": "x"}])
    stream = EventStream(store.specs, since=seen - 1)
    await stream.__anext__()
    got = events([await stream.__anext__(), await stream.__anext__()])
    assert [e["id"] for e in got] == ["1", "2"]
    await stream.aclose()


def test_request_filter_reads_query_and_last_event_id():
    assert request_filter({"query": {"namespace": ["default"], "name": [""], "watch": ["true"]}}) == \
        ({"namespace": "default"}, None)
    assert request_filter({"query": {"id": ["a", "b"]}, "header": {"Last-Event-Id": ["42"]}}) == \
        ({"id": ["a", "b"]}, 42)
    assert request_filter({"header": {"Last-Event-Id": ["nope"]}}) == ({}, None)
    assert request_filter("text") == ({}, None)


async def test_node_answers_a_streaming_response_closed_with_the_process(store):
    from portflow.process import Process

    node = Watch(store.specs, heartbeat=5)
    proc = Process()
    answer = await send_to(node, {"method": "GET", "query": {"namespace": ["default"]}}, proc=proc)
    assert answer["status"] == 200
    assert answer["header"]["Content-Type"] == ["text/event-stream; charset=utf-8"]
    stream = answer["body"]
    await stream.__anext__()
    await store.specs.insert([{"id": "1", "namespace": "default", "kind": "x"}])
    assert events([await stream.__anext__()])[0]["id"] == "1"
    await proc.exit()
    async with asyncio.timeout(1):
        assert [c async for c in stream] == []
