"""Property-based fuzzing of the listener's request -> payload conversion (issue 12, "Also").

Any request a client can send — method, path, query, headers, a body in any content type and encoding,
split into any chunks — becomes a payload of the documented shape, or a 4xx answer with a reason; never a
500 or an exception. Runs ``PORTFLOW_FUZZ_EXAMPLES`` examples (150 in the suite; ``make fuzz`` runs more).
"""

from __future__ import annotations

import asyncio
import gzip
import os
import zlib

import brotli
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portflow.node import OneToOne
from portflow.plugins.net.listener import Listener
from portflow.plugins.net.payload import HTTP_KEYS

EXAMPLES = int(os.environ.get("PORTFLOW_FUZZ_EXAMPLES", "150"))

_token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz-ABCXYZ0123456789"), min_size=1, max_size=20)
_value = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_ctypes = st.one_of(st.sampled_from([
    "application/json", "text/plain; charset=utf-8", "text/plain; charset=nope", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=B", "multipart/form-data", "application/xml", "application/vnd.x+json", "",
]), _token.map(lambda t: f"{t}/{t}"))
_encodings = st.lists(st.sampled_from(["gzip", "deflate", "br", "identity", "x-gzip", "zstd"]), max_size=3)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=20)
_raw = st.one_of(
    st.binary(max_size=300), _json.map(msgspec.json.encode),
    st.text(max_size=100).map(str.encode), st.just(b"[" * 300 + b"]" * 300),
    st.lists(st.tuples(_token, st.binary(max_size=30)), max_size=4).map(
        lambda parts: b"".join(b"--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (n.encode(), v)
                               for n, v in parts) + b"--B--\r\n"),
)
_COMPRESS = {"gzip": gzip.compress, "x-gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}


def _encode(body: bytes, encodings: list[str], corrupt: bool) -> bytes:
    for name in encodings:
        body = _COMPRESS.get(name, lambda b: b)(body)
    return body[: len(body) // 2] if corrupt else body


def _chunks(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


async def _serve(listener: Listener, scope: dict, chunks: list[bytes]) -> tuple[int, bytes]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client stays: nothing more to read

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(listener.handle(scope, receive, send), 10)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "PATCH"]), path=st.text(max_size=30),
       query=st.binary(max_size=40), headers=st.lists(st.tuples(_token, _value), max_size=6),
       ctype=_ctypes, encodings=_encodings, raw=_raw, corrupt=st.booleans(),
       cuts=st.lists(st.integers(0, 10_000), max_size=4), length=st.sampled_from(["exact", "none", "junk"]))
def test_any_request_becomes_a_payload_or_a_4xx(method, path, query, headers, ctype, encodings, raw, corrupt, cuts,
                                                length):
    body = _encode(raw, encodings, corrupt)
    head = [(n.lower().encode(), v) for n, v in headers if n.lower() not in ("content-length", "transfer-encoding")]
    head += [(b"content-type", ctype.encode())] if ctype else []
    head += [(b"content-encoding", ", ".join(reversed(encodings)).encode())] if encodings else []
    head += {"exact": [(b"content-length", str(len(body)).encode())], "none": [(b"transfer-encoding", b"chunked")],
             "junk": [(b"content-length", b"12x")]}[length]
    scope = {"type": "http", "method": method, "path": path, "query_string": query, "http_version": "1.1",
             "headers": head, "client": ("127.0.0.1", 1)}
    seen: list = []
    listener = Listener(max_body=64 * 1024)
    listener.out_port.link(OneToOne(lambda p, k: seen.append(k.payload) or "ok").in_port)
    status, answer = asyncio.run(_serve(listener, scope, _chunks(body, cuts)))
    assert status in (200, 400, 413, 415), (status, answer)
    if status == 200:
        (payload,) = seen
        assert set(payload) <= HTTP_KEYS and payload["method"] == method and payload["status"] == 0
        assert all(isinstance(v, list) for v in payload.get("header", {}).values())
    else:
        assert answer and not seen  # a reason, and the flow never saw the request
