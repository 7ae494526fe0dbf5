"""cache: repeated inputs answered from an LRU cache (uniflow v0.12 cache, with ttl and capacity)."""

import pytest

from portflow.errors import FlowError, SpecError
from portflow.plugins.ctrl import register
from portflow.plugins.ctrl.cache import LRU, CacheNode, cache_key
from portflow.scheme import Context, Scheme


def counting(reply=lambda p: f"value of {p}"):
    calls = []

    def answer(payload):
        calls.append(payload)
        return reply(payload)

    return answer, calls


async def test_a_hit_is_answered_without_calling_out(send, recorder):
    reply, calls = counting()
    node = CacheNode()
    node.out_port.link(recorder(reply).in_port)
    assert await send(node, "k") == "value of k"
    assert await send(node, "k") == "value of k"
    assert calls == ["k"]


async def test_maps_are_keys_by_content(send, recorder):
    reply, calls = counting(lambda p: len(p))
    node = CacheNode()
    node.out_port.link(recorder(reply).in_port)
    await send(node, {"a": 1, "b": [1, 2]})
    assert await send(node, {"b": [1, 2], "a": 1}) == 2
    await send(node, {"a": 1, "b": [2, 1]})
    assert len(calls) == 2


async def test_errors_are_not_cached(send, recorder):
    reply, calls = counting(lambda p: FlowError("down"))
    node = CacheNode()
    node.out_port.link(recorder(reply).in_port)
    assert isinstance(await send(node, 1), FlowError)
    assert isinstance(await send(node, 1), FlowError)
    assert len(calls) == 2


async def test_capacity_evicts_the_least_recently_used(send, recorder):
    reply, calls = counting()
    node = CacheNode(capacity=2)
    node.out_port.link(recorder(reply).in_port)
    for key in ("a", "b", "a", "c", "a", "b"):
        await send(node, key)
    assert calls == ["a", "b", "c", "b"]


async def test_entries_expire_after_ttl(send, recorder):
    now = [1000.0]
    reply, calls = counting()
    node = CacheNode(ttl=0.05)
    node.lru.clock = lambda: now[0]  # moved by hand: the test does not depend on how fast the machine is
    node.out_port.link(recorder(reply).in_port)
    await send(node, "k")
    now[0] += 0.04
    await send(node, "k")  # 40 ms old: still cached
    now[0] += 0.02
    await send(node, "k")  # 60 ms old: expired, asked again
    assert calls == ["k", "k"]


def test_keys_tell_types_apart():
    assert cache_key(1) != cache_key(True)
    assert cache_key(b"x") != cache_key("x")
    assert cache_key([1, {"a": None}]) == cache_key([1, {"a": None}])


def test_lru_close_clears():
    lru = LRU(capacity=1)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") is None and lru.get("b") == 2 and len(lru) == 1


@pytest.mark.parametrize(("doc", "capacity", "ttl"), [
    ({"capacity": 10, "ttl": "30s"}, 10, 30.0),
    ({"interval": 500}, 0, 0.5),
    ({}, 0, 0.0),
])
def test_codec(doc, capacity, ttl):
    scheme = Scheme()
    register(scheme)
    node = scheme.compile(scheme.decode({"kind": "cache", **doc}), Context(scheme))
    assert node.lru.capacity == capacity and node.lru.ttl == pytest.approx(ttl)


def test_negative_capacity_is_a_spec_error():
    scheme = Scheme()
    register(scheme)
    with pytest.raises(SpecError, match=r"capacity: expected int >= 0, got -1"):
        scheme.decode({"kind": "cache", "name": "c", "capacity": -1})
