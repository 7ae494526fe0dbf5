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
