"""The listener on a real socket, on both servers (granian and uvicorn)."""

from __future__ import annotations

import asyncio
import gzip
import json

import aiohttp
import pytest

from portflow.config import RuntimeSettings
from portflow.errors import FlowError, UserError
from portflow.node import OneToOne
from portflow.plugins.net.listener import Listener, Listeners, ListenerSpec, compile_listener
from portflow.scheme import Context, Scheme

from .conftest import raw_request


async def test_ping(make_listener, client):
    listener = await make_listener(routes=[("GET", "/ping", lambda p, k: "pong")], port=0)
    assert listener.port > 0
    async with client.get(f"{listener.url}/ping") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await resp.text() == "pong"


async def test_router_404_405_options(make_listener, client):
    listener = await make_listener(routes=[("GET", "/ping", lambda p, k: "pong")], port=0)
    async with client.get(f"{listener.url}/nope") as resp:
        assert resp.status == 404 and await resp.text() == "Not Found"
    async with client.post(f"{listener.url}/ping") as resp:
        assert resp.status == 405 and resp.headers["Allow"] == "OPTIONS, GET"
    async with client.options(f"{listener.url}/ping") as resp:
        assert resp.status == 204 and resp.headers["Allow"] == "OPTIONS, GET"


async def test_request_payload(make_listener, client):
    seen = []

    def echo(proc, pck):
        seen.append(pck.payload)
        return {"body": pck.payload["body"], "status": 201, "header": {"X-Seen": "yes"}}

    listener = await make_listener(echo, port=0)
    async with client.post(f"{listener.url}/a/b?x=1&x=2", json={"k": [1, 2]}) as resp:
        assert resp.status == 201
        assert resp.headers["X-Seen"] == "yes"
        assert await resp.json() == {"k": [1, 2]}
    (payload,) = seen
    assert payload["method"] == "POST" and payload["path"] == "/a/b" and payload["protocol"] == "HTTP/1.1"
    assert payload["query"] == {"x": ["1", "2"]}
    assert payload["header"]["Content-Type"] == ["application/json"]
    assert payload["host"].startswith("127.0.0.1:")
    assert payload["status"] == 0


async def test_negotiation_and_gzip(make_listener, client):
    listener = await make_listener(lambda p, k: {"body": {"a": "x" * 200}}, port=0)
    async with client.get(listener.url, headers={"Accept": "application/json", "Accept-Encoding": "gzip"},
                          auto_decompress=False) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(await resp.read())) == {"a": "x" * 200}


async def test_form_and_multipart_bodies(make_listener, client):
    seen = []
    listener = await make_listener(lambda p, k: seen.append(k.payload["body"]) or "ok", port=0)
    async with client.post(listener.url, data={"a": "1"}) as resp:
        assert resp.status == 200
    form = aiohttp.FormData()
    form.add_field("name", "Ann")
    form.add_field("doc", b"hello", filename="a.txt", content_type="text/plain")
    async with client.post(listener.url, data=form) as resp:
        assert resp.status == 200
    assert seen[0] == {"a": ["1"]}
    assert seen[1]["values"] == {"name": ["Ann"]}
    assert seen[1]["files"]["doc"][0]["data"] == "hello"


async def test_unhandled_error_is_a_500_without_detail(make_listener, client, caplog):
    def boom(proc, pck):
        raise FlowError("secret detail")

    listener = await make_listener(boom, port=0)
    async with client.get(listener.url) as resp:
        assert resp.status == 500
        assert await resp.text() == "Internal Server Error"
    assert "secret detail" in caplog.text


async def test_a_bug_in_a_node_is_a_500(make_listener, client):
    def bug(proc, pck):
        return 1 / 0

    listener = await make_listener(bug, port=0)
    async with client.get(listener.url) as resp:
        assert resp.status == 500 and "Division" not in await resp.text()


async def test_error_port_answers(make_listener, client):
    listener = await make_listener(lambda p, k: FlowError("nope"), port=0)
    listener.error_port.link(OneToOne(lambda p, k: {"status": 418, "body": f"handled: {k.payload}"}).in_port)
    async with client.get(listener.url) as resp:
        assert resp.status == 418 and await resp.text() == "handled: nope"


async def test_none_answer_is_an_empty_200(make_listener, client):
    listener = await make_listener(lambda p, k: None, port=0)
    listener.out_port.unlink_all()
    async with client.get(listener.url) as resp:
        assert resp.status == 200 and await resp.read() == b""


async def test_process_exits_with_an_error_for_4xx(make_listener, client):
    exits = []

    def answer(proc, pck):
        proc.on_exit(lambda p: exits.append(p.error))
        return {"status": int(pck.payload["path"][1:]), "body": "x"}

    listener = await make_listener(answer, port=0)
    for status in (200, 404, 500):
        async with client.get(f"{listener.url}/{status}") as resp:
            assert resp.status == status
    await until(lambda: len(exits) == 3)  # each process exits after its answer is written
    assert exits[0] is None
    assert str(exits[1]) == "Not Found" and str(exits[2]) == "Internal Server Error"


async def test_body_over_max_body_is_413(make_listener, client):
    listener = await make_listener(lambda p, k: "ok", port=0, max_body=1000)
    async with client.post(listener.url, data=b"x" * 1001) as resp:
        assert resp.status == 413
    async with client.post(listener.url, data=b"x" * 1000) as resp:
        assert resp.status == 200

    async def chunked():
        for _ in range(5):
            yield b"x" * 300

    async with client.post(listener.url, data=chunked()) as resp:  # no Content-Length
        assert resp.status == 413


async def test_malformed_requests_are_400_and_harmless(make_listener, client):
    listener = await make_listener(lambda p, k: "ok", port=0)
    for data in (b"NOT A REQUEST\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                 b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"):
        answer = await raw_request(listener.port, data, timeout=2.0)
        assert answer.startswith(b"HTTP/1.1 400") or answer == b"", answer
    async with client.get(listener.url) as resp:
        assert resp.status == 200 and await resp.text() == "ok"


async def test_bad_json_is_400_with_a_reason(make_listener, client):
    listener = await make_listener(lambda p, k: "ok", port=0)
    async with client.post(listener.url, data=b"{nope", headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        text = await resp.text()
        assert text.startswith("invalid JSON body") and len(text) < 200


async def test_text_that_is_not_utf8_arrives_as_bytes(make_listener, client):
    seen = []
    listener = await make_listener(lambda p, k: seen.append(k.payload["body"]) or "ok", port=0)
    async with client.post(listener.url, data=b"\xff\xfe", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 200
    assert seen == [b"\xff\xfe"]


async def test_client_disconnect_cancels_the_process(make_listener):
    started, cancelled, exited = asyncio.Event(), asyncio.Event(), []

    async def slow(proc, pck):
        proc.on_exit(lambda p: exited.append(p.error))
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    listener = await make_listener(slow, port=0)
    _reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.wait_for(started.wait(), 30)
    writer.close()
    await asyncio.wait_for(cancelled.wait(), 30)
    await until(lambda: exited)
    assert exited and "disconnected" in str(exited[0])


async def test_slow_body_times_out(make_listener):
    listener = await make_listener(lambda p, k: "ok", port=0, read_timeout=0.3)
    answer = await raw_request(listener.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
                               timeout=3.0)
    assert answer.startswith(b"HTTP/1.1 408")


async def test_slow_headers_time_out(registry, client, server):
    listener = Listener("127.0.0.1", 0, server=server, registry=registry, read_timeout=1.0)
    listener.out_port.link(OneToOne(lambda p, k: "ok").in_port)
    await listener.load()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finishes headers
        # The listener ends the connection (a 408 or a plain close); 30 s is a safety net, not a budget.
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer


async def test_head_has_headers_but_no_body(make_listener):
    listener = await make_listener(lambda p, k: "pong", port=0)
    answer = await raw_request(listener.port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 4" in head.lower() and body == b""


async def test_two_listeners_on_one_port(make_listener, registry):
    first = await make_listener(lambda p, k: "a", port=0, label="spec 'first' (kind listener)")
    second = Listener("127.0.0.1", first.port, registry=registry, label="spec 'second' (kind listener)")
    with pytest.raises(UserError) as info:
        await second.load()
    message = str(info.value)
    assert "'first'" in message and "'second'" in message and str(first.port) in message


async def test_unload_drains_in_flight_requests(make_listener, client):
    release = asyncio.Event()

    async def slow(proc, pck):
        await release.wait()
        return "done"

    listener = await make_listener(slow, port=0)
    request = asyncio.ensure_future(client.get(listener.url))
    while not listener.running:
        await asyncio.sleep(0.01)
    unloading = asyncio.ensure_future(listener.unload())
    await asyncio.sleep(0.05)
    assert not unloading.done()
    release.set()
    await unloading
    async with await request as resp:
        assert await resp.text() == "done"


async def test_reload_keeps_the_socket_open(make_listener, registry, client, server):
    """A new listener on the same address takes over the server: no refused connection in between."""
    old = await make_listener(lambda p, k: "old", port=0)
    port = old.port
    errors, answers = [], []
    stop = asyncio.Event()

    async def hammer():
        while not stop.is_set():
            try:
                async with client.get(f"http://127.0.0.1:{port}/") as resp:
                    answers.append(await resp.text())
            except aiohttp.ClientError as exc:
                errors.append(exc)

    task = asyncio.ensure_future(hammer())
    await until(lambda: len(answers) >= 5)  # the old listener answers the hammer
    await old.unload()
    await old.close()
    new = Listener("127.0.0.1", port, server=server, registry=registry)
    new.out_port.link(OneToOne(lambda p, k: "new").in_port)
    await new.load()
    await until(lambda: answers.count("new") >= 5)  # and then the new one
    stop.set()
    await task
    assert not errors
    assert answers[0] == "old" and answers[-1] == "new"
    assert new.port == port


async def test_same_node_reloads_on_its_port(make_listener, client):
    listener = await make_listener(lambda p, k: "x", port=0)
    port = listener.port
    await listener.unload()
    await listener.load()
    assert listener.port == port
    async with client.get(listener.url) as resp:
        assert await resp.text() == "x"


async def test_released_server_closes_after_the_handover(make_listener, monkeypatch):
    from portflow.plugins.net import registry as registry_module

    monkeypatch.setattr(registry_module, "HANDOVER", 0.1)
    listener = await make_listener(lambda p, k: "x", port=0)
    port = listener.port
    await listener.unload()

    async def refused() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        writer.close()
        return False

    await until(refused)  # the server closes once the 0.1 s handover has passed with no taker


async def test_tls_from_pem_text(registry, client, server, tmp_path):
    import shutil
    import ssl
    import subprocess

    assert shutil.which("openssl"), "the TLS test makes its certificate with the openssl command"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    from portflow.plugins.net.server import TLS

    # PEM text for the certificate, a path for the key: both forms are accepted.
    listener = Listener("127.0.0.1", 0, server=server, registry=registry, tls=TLS(cert.read_text(), str(key)))
    listener.out_port.link(OneToOne(lambda p, k: "secure").in_port)
    await listener.load()
    assert listener.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    async with client.get(listener.url, ssl=ctx) as resp:
        assert await resp.text() == "secure"


def test_compile_listener_validates():
    from portflow.plugin import default_registries

    scheme = default_registries().scheme
    with pytest.raises(UserError) as info:  # declared on the spec class: checked on decode, all at once
        scheme.decode({"kind": "listener", "name": "l", "port": 70000, "protocol": "tcp", "max_body": 0,
                       "idle_timeout": "0s"})
    assert str(info.value).startswith("spec 'l' (kind listener): ")
    for field in ("protocol: invalid enum value 'tcp'", "port: expected int <= 65535, got 70000",
                  "max_body: expected int >= 1, got 0",
                  "idle_timeout: expected a duration > 0s"):
        assert field in str(info.value)
    ctx = Context(scheme=Scheme())
    node = compile_listener(ListenerSpec(kind="listener", name="l", port=8000), ctx)
    assert node.configured_port == 8000 and node.registry is ctx.services.get(Listeners)
    ctx = Context(scheme=Scheme(), settings=RuntimeSettings(listener_server="uvicorn"))
    assert compile_listener(ListenerSpec(kind="listener", name="l", port=1), ctx).server_name == "uvicorn"


async def test_reuse_port_lets_two_runtimes_share_a_port(server, client):
    """Two registries (two runtimes, as with --workers) may bind one port when reuse_port is set."""
    regs = [Listeners(), Listeners()]
    try:
        first = Listener("127.0.0.1", 0, server=server, registry=regs[0], reuse_port=True)
        first.out_port.link(OneToOne(lambda p, k: "a").in_port)
        await first.load()
        second = Listener("127.0.0.1", first.port, server=server, registry=regs[1], reuse_port=True)
        second.out_port.link(OneToOne(lambda p, k: "b").in_port)
        await second.load()
        async with client.get(first.url) as resp:
            assert await resp.text() in ("a", "b")
    finally:
        for reg in regs:
            await reg.aclose()


async def until(predicate, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (a function or a coroutine function) until it holds; ``timeout`` is a safety net."""
    async def poll() -> None:
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)
