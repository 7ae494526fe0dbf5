"""The http client and the proxy, against listeners on real sockets."""

from __future__ import annotations

import pytest

from portflow.errors import FlowError, UserError
from portflow.packet import Packet
from portflow.plugins.net.http import HTTPClient, HTTPSpec, build_request, compile_http
from portflow.plugins.net.proxy import Proxy, ProxySpec, compile_proxy
from portflow.process import Process
from portflow.scheme import Context, Scheme


def echo(proc, pck):
    p = pck.payload
    return {"status": 200, "body": {"method": p["method"], "path": p["path"], "query": p.get("query"),
                                    "body": p.get("body"), "header": p.get("header")}}


async def call(node, payload):
    proc = Process()
    try:
        return (await node.in_port.handler(proc, Packet(payload))).payload
    finally:
        await proc.exit()


def test_build_request_joins_the_spec_url():
    req = build_request({"path": "/users", "query": {"a": ["1"]}, "header": {"X-A": "1"}},
                        "http://example.com/api?key=k")
    assert req.method == "GET"
    assert req.url == "http://example.com/api/users?a=1&key=k"
    assert ("X-A", "1") in req.headers and req.body is None
    post = build_request({"body": {"x": 1}}, "http://example.com")
    assert post.method == "POST" and post.body == b'{"x":1}\n'
    assert ("Content-Type", "application/json; charset=utf-8") in post.headers
    assert build_request("hello", "http://example.com").body == b"hello"
    with pytest.raises(FlowError):
        build_request({"path": "/x"})


async def test_http_client_round_trip(make_listener):
    upstream = await make_listener(echo, port=0)
    client = HTTPClient(upstream.url + "/base")
    try:
        out = await call(client, {"method": "PUT", "path": "/x", "query": {"q": ["1"]}, "body": {"a": 1}})
        assert out["status"] == 200 and out["protocol"] == "HTTP/1.1"
        assert out["body"]["method"] == "PUT" and out["body"]["path"] == "/base/x"
        assert out["body"]["query"] == {"q": ["1"]} and out["body"]["body"] == {"a": 1}
        assert out["header"]["Content-Type"] == ["application/json; charset=utf-8"]
        session = client._session
        await call(client, {})
        assert client._session is session  # one session per node: connections are reused
    finally:
        await client.close()
    assert client._session is None


async def test_non_2xx_is_not_an_error(make_listener):
    upstream = await make_listener(lambda p, k: {"status": 404, "body": "nope"}, port=0)
    client = HTTPClient(upstream.url)
    try:
        out = await call(client, None)
        assert out["status"] == 404 and out["body"] == "nope"
    finally:
        await client.close()


async def test_transport_failure_goes_to_error():
    client = HTTPClient("http://127.0.0.1:1")
    try:
        out = await call(client, None)
        assert isinstance(out, FlowError) and "127.0.0.1:1" in str(out)
    finally:
        await client.close()


def test_compile_http():
    ctx = Context(scheme=Scheme())
    assert compile_http(HTTPSpec(kind="http", url="https://x.org"), ctx).url == "https://x.org"
    with pytest.raises(UserError):
        compile_http(HTTPSpec(kind="http", url="ftp://x"), ctx)


async def test_proxy_round_robin_and_forwarded_headers(make_listener, client):
    a = await make_listener(lambda p, k: {"body": {"who": "a", "header": k.payload["header"]}}, port=0)
    b = await make_listener(lambda p, k: {"body": {"who": "b", "path": k.payload["path"]}}, port=0)
    proxy = Proxy([a.url, b.url + "/prefix"])
    front = await make_listener(None, port=0)
    front.out_port.link(proxy.in_port)
    try:
        async with client.get(f"{front.url}/x?y=1") as resp:
            first = await resp.json()
        async with client.get(f"{front.url}/x?y=1") as resp:
            second = await resp.json()
        assert first["who"] == "a" and second == {"who": "b", "path": "/prefix/x"}
        header = first["header"]
        assert header["X-Forwarded-For"] == ["127.0.0.1"]
        assert header["X-Forwarded-Host"] == [f"127.0.0.1:{front.port}"]
        assert header["X-Forwarded-Proto"] == ["http"]
    finally:
        await proxy.close()


def test_compile_proxy():
    ctx = Context(scheme=Scheme())
    with pytest.raises(UserError):
        compile_proxy(ProxySpec(kind="proxy", urls=["nope"]), ctx)
    with pytest.raises(UserError):
        compile_proxy(ProxySpec(kind="proxy", urls=[]), ctx)


async def test_a_compressed_answer_is_decompressed_and_loses_its_encoding_headers(make_listener):
    import gzip

    def gzipped(proc, pck):
        return {"status": 200, "header": {"Content-Type": ["application/json"], "Content-Encoding": ["gzip"]},
                "body": gzip.compress(b'{"a":1}')}

    upstream = await make_listener(gzipped, port=0)
    client = HTTPClient(upstream.url)
    try:
        out = await call(client, {})
    finally:
        await client.close()
    assert out["body"] == {"a": 1}
    assert "Content-Encoding" not in out["header"] and "Content-Length" not in out["header"]


async def test_a_response_past_max_body_is_an_error(make_listener):
    upstream = await make_listener(lambda proc, pck: {"status": 200, "body": "x" * 5000}, port=0)
    client, roomy = HTTPClient(upstream.url, max_body=4096), HTTPClient(upstream.url, max_body=5000)
    try:
        out = await call(client, {})
        assert isinstance(out, FlowError) and "larger than max_body (4096 bytes)" in str(out)
        assert (await call(roomy, {}))["body"] == "x" * 5000
    finally:
        await client.close()
        await roomy.close()
