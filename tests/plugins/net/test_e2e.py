"""examples/ping.yaml through the runtime, with a memory store (needs the ctrl plugin and the languages)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

PING = Path(__file__).resolve().parents[3] / "examples" / "ping.yaml"


@pytest.fixture(params=["granian", "uvicorn"])
async def ping(request, flow):
    runtime = await flow(PING.read_text(), environment={"PORT": "0"},
                         settings={"listener_server": request.param})
    listener = runtime.table.lookup("default", "listener")
    assert listener is not None and listener.loaded, listener
    yield runtime, listener.node
    await runtime.close()


async def test_ping_yaml(ping):
    _, listener = ping
    async with aiohttp.ClientSession() as client, client.get(f"{listener.url}/ping") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert await resp.text() == "pong"


async def test_reloading_the_router_keeps_the_socket(ping, store):
    _runtime, listener = ping
    port = listener.port
    errors, answers = [], []
    stop = asyncio.Event()
    first, changed = asyncio.Event(), asyncio.Event()

    async def hammer(client):
        while not stop.is_set():
            try:
                async with client.get(f"http://127.0.0.1:{port}/ping") as resp:
                    answers.append(await resp.text())
            except aiohttp.ClientError as exc:
                errors.append(exc)
            if len(answers) >= 5:
                first.set()
            if "pong2" in answers[-1:]:
                changed.set()

    async with aiohttp.ClientSession() as client:
        task = asyncio.ensure_future(hammer(client))
        await asyncio.wait_for(first.wait(), 60)  # the hammer is answered before the change
        (doc,) = await store.specs.find({"namespace": "default", "name": "pong"})
        await store.specs.update([{**doc, "code": "pong2"}])
        await asyncio.wait_for(changed.wait(), 60)  # a safety net: the reload is an event
        stop.set()
        await task
    assert not errors
    assert answers[0] == "pong" and answers[-1] == "pong2"
    assert set(answers) == {"pong", "pong2"}
