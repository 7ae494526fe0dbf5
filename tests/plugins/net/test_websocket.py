"""gateway (server side) and websocket (client side), on a real socket."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.net.listener import Listener
from portflow.plugins.net.router import Router
from portflow.plugins.net.websocket import Gateway, WebSocketClient
from portflow.process import Process


@pytest.fixture
async def echo_gateway(registry, server):
    """listener -> router GET /ws -> gateway.io; gateway.out -> upper-case -> gateway.in."""
    listener = Listener("127.0.0.1", 0, server=server, registry=registry)
    router = Router([("GET", "/ws", 0)])
    gateway = Gateway()
    upper = OneToOne(lambda p, k: {"type": 1, "data": str(k.payload["data"]).upper()}
                     if k.payload["data"] != "json" else {"type": 1, "data": {"ok": True}})
    listener.out_port.link(router.in_port)
    router.out(0).link(gateway.io_port)
    gateway.out_port.link(upper.in_port)
    upper.out_port.link(gateway.in_port)
    await listener.load()
    yield listener
    await gateway.close()


async def test_gateway_echo(echo_gateway, client):
    async with client.ws_connect(f"{echo_gateway.url}/ws") as ws:
        await ws.send_str("hello")
        assert await ws.receive_str(timeout=5) == "HELLO"
        await ws.send_str("json")
        assert await ws.receive_json(timeout=5) == {"ok": True}
        await ws.send_bytes(b"abc")
        assert await ws.receive_str(timeout=5) == "ABC"


async def test_gateway_rejects_other_paths(echo_gateway, client):
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with client.ws_connect(f"{echo_gateway.url}/other"):
            pass


async def test_websocket_client(echo_gateway):
    received = []
    done = asyncio.Event()
    ws = WebSocketClient(f"ws://127.0.0.1:{echo_gateway.port}/ws")

    def collect(proc, pck):
        received.append(pck.payload)
        done.set()

    ws.out_port.link(OneToOne(collect).in_port)
    proc = Process()
    answer = await ws.io_port.handler(proc, Packet(None))
    assert answer.payload is None
    child = proc.fork()
    await ws.in_port.handler(child, Packet("hi there"))
    await asyncio.wait_for(done.wait(), 5)
    assert received == [{"type": 1, "data": "HI THERE"}]
    await proc.exit()
    await ws.close()


async def test_websocket_client_connection_failure_goes_to_error():
    ws = WebSocketClient("ws://127.0.0.1:1/ws")
    proc = Process()
    answer = await ws.io_port.handler(proc, Packet(None))
    assert isinstance(answer.payload, Exception) and "cannot connect" in str(answer.payload)
    await proc.exit()


RELAY = """
- kind: listener
  name: front
  protocol: http
  port: 0
  ports:
    out:
      - name: paths
        port: in
- kind: router
  name: paths
  routes:
    - method: GET
      path: /relay
      port: out[0]
  ports:
    out[0]:
      - name: inside
        port: io
      - name: outside
        port: io
- kind: gateway
  name: inside
  protocol: websocket
  ports:
    out:
      - name: outside
        port: in
- kind: websocket
  name: outside
  url: ws://127.0.0.1:{upstream}/ws
  ports:
    out:
      - name: inside
        port: in
"""


async def test_relay_between_a_gateway_and_a_client_opened_by_the_same_request(echo_gateway, flow, server, client):
    # One request feeds both io ports: the gateway accepts at once while the client is still dialling, so
    # the first message must wait for the dial rather than fail. When the browser side leaves, the
    # request's process ends and takes the upstream connection with it.
    runtime = await flow(RELAY.format(upstream=echo_gateway.port), settings={"listener_server": server})
    front = runtime.table.lookup("default", "front").node
    outside = runtime.table.lookup("default", "outside").node
    async with client.ws_connect(f"{front.url}/relay") as ws:
        await ws.send_str("first")
        assert await ws.receive_str(timeout=5) == "FIRST"
        await ws.send_str("second")
        assert await ws.receive_str(timeout=5) == "SECOND"
        assert len(outside._channels) == 1
    for _ in range(100):
        if not outside._channels:
            break
        await asyncio.sleep(0.02)
    assert not outside._channels
