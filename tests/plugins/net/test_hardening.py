"""What one hostile request must not do to a listener (issue 12, items 3, 4, 10): bombs, deep JSON,
broken chunked bodies, oversized multipart bodies, idle and slowloris connection floods."""

from __future__ import annotations

import asyncio
import gzip
import logging
import resource

import brotli
import pytest

from portflow.plugins.net import multipart
from portflow.plugins.net.server import Limits

from .conftest import raw_request

MAX_BODY = 1024 * 1024


def _post(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n{head}\r\n"
            ).encode() + body


@pytest.mark.parametrize("encoding", ["br", "gzip", "deflate", "gzip, br", "br, br"])
async def test_a_decompression_bomb_answers_413_within_max_body(make_listener, encoding):
    seen = []
    listener = await make_listener(lambda p, k: seen.append(k.payload) or "ok", port=0, max_body=MAX_BODY)
    body = b"\0" * (256 * MAX_BODY)  # 256 MiB once decoded
    for name in [e.strip() for e in encoding.split(",")]:  # applied in order, undone in reverse
        body = brotli.compress(body, quality=5) if name == "br" else (
            gzip.compress(body, 9) if name == "gzip" else __import__("zlib").compress(body, 9))
    assert len(body) < MAX_BODY
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answer = await raw_request(listener.port, _post(body, f"Content-Encoding: {encoding}"))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert grown_mb < 64, f"decoding grew the process by {grown_mb:.0f} MB"
    assert not seen  # the flow (and any auth node in it) never saw the body


async def test_json_nested_900_deep_is_a_400_with_a_reason(make_listener, caplog):
    listener = await make_listener(lambda p, k: k.payload, port=0)
    deep = b"[" * 900 + b"]" * 900
    with caplog.at_level(logging.DEBUG, logger="portflow"):
        answer = await raw_request(listener.port, _post(deep, "Content-Type: application/json"))
    assert answer.startswith(b"HTTP/1.1 400") and b"nested deeper than" in answer
    assert not any(r.exc_info for r in caplog.records)


async def test_a_malformed_chunked_body_is_a_400(make_listener):
    listener = await make_listener(lambda p, k: "ok", port=0)
    answer = await raw_request(listener.port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                              b"Connection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", timeout=3.0)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


async def _short_body(port: int, head: bytes, body: bytes) -> bytes:
    """Send a head promising more body than is sent, then stop writing; what the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        writer.write_eof()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "gzip"])
async def test_a_body_that_stops_short_never_reaches_the_flow(make_listener, encoded):
    """A client promising 100 bytes and sending 30 before it stops writing: the flow never sees a body
    cut short (on granian, whose body reader reports the break only by an extra empty chunk, and uvicorn)."""
    seen = []
    listener = await make_listener(lambda p, k: seen.append(k.payload["body"]) or "ok", port=0)
    body = gzip.compress(b"x" * 5000) if encoded else b"y" * 100
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            + ("Content-Encoding: gzip\r\n" if encoded else "") + "\r\n").encode()
    answer = await _short_body(listener.port, head, body[:30])
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert not seen
    # the listener still serves whole requests afterwards
    whole = await raw_request(listener.port, _post(b"hello", "Content-Type: text/plain"))
    assert whole.startswith(b"HTTP/1.1 200") and seen == ["hello"]


def _multipart(parts: list[tuple[str, bytes]]) -> bytes:
    out = b"".join(b"--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (n.encode(), v)
                   for n, v in parts)
    return out + b"--B--\r\n"


async def test_multipart_limits(make_listener, monkeypatch):
    monkeypatch.setattr(multipart, "MAX_FIELDS", 10)
    monkeypatch.setattr(multipart, "MAX_PART_SIZE", 1000)
    listener = await make_listener(lambda p, k: k.payload["body"]["values"]["a"][0], port=0)
    ctype = "Content-Type: multipart/form-data; boundary=B"
    ok = await raw_request(listener.port, _post(_multipart([("a", b"x")]), ctype))
    assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"x")
    many = await raw_request(listener.port, _post(_multipart([("a", b"x")] * 11), ctype))
    assert many.startswith(b"HTTP/1.1 413") and b"more than 10 fields" in many
    big = await raw_request(listener.port, _post(_multipart([("a", b"x" * 1001)]), ctype))
    assert big.startswith(b"HTTP/1.1 413") and b"larger than 1000 bytes" in big
    broken = await raw_request(listener.port, _post(b"--B\r\nno headers end", ctype))
    assert broken.startswith(b"HTTP/1.1 400")


# -- connection floods (bounded: each opens its connections, probes, and closes them) --------------------

def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed, "raise the open-files limit for this test"


async def _ping(port: int) -> bool:
    """Whether a request is answered. The 30 s is a safety net below every timeout of the flood's listener
    (600 s), so an answer means the listener served it beside the flood, not that a timeout made room."""
    answer = await raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=30.0)
    return answer.endswith(b"pong")


async def _flood(port: int, count: int, trickle: bool) -> list[bool]:
    conns = []
    try:
        for _ in range(count):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        pings = []
        for round_ in range(10):
            if trickle:  # slowloris: every connection sends one more header line, never the end of the head
                for _, writer in conns:
                    writer.write(b"GET / HTTP/1.1\r\n" if round_ == 0 else b"X-a: b\r\n")
            pings.append(await _ping(port))
            await asyncio.sleep(0.3)
        return pings
    finally:
        for _, writer in conns:
            writer.close()


@pytest.mark.parametrize("count,trickle", [(1100, False), (1500, True)], ids=["idle-1100", "slowloris-1500"])
async def test_a_connection_flood_leaves_ping_answering(make_listener, count, trickle):
    _raise_nofile(2 * count + 512)
    limits = Limits(max_connections=1000, header_timeout=600.0, idle_timeout=600.0)
    listener = await make_listener(lambda p, k: "pong", port=0, limits=limits, read_timeout=600.0)
    pings = await _flood(listener.port, count, trickle)
    assert all(pings), f"pings answered beside the flood: {pings}"


async def test_an_idle_keep_alive_connection_is_closed(make_listener):
    listener = await make_listener(lambda p, k: "pong", port=0, limits=Limits(idle_timeout=1.0))
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"pong")
        assert await asyncio.wait_for(reader.read(100), 30.0) == b""  # closed by the listener (30 s: a net)
    finally:
        writer.close()
