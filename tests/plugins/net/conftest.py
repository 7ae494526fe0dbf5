"""Fixtures for the net plugin: a listener wired to a flow, on each server implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from portflow.node import OneToOne
from portflow.plugins.net.listener import Listener, Listeners
from portflow.plugins.net.router import Router


@pytest.fixture(params=["granian", "uvicorn"])
def server(request) -> str:
    return request.param


@pytest.fixture
async def registry() -> AsyncIterator[Listeners]:
    reg = Listeners()
    try:
        yield reg
    finally:
        await reg.aclose()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_listener(server: str, registry: Listeners) -> Callable[..., Any]:
    """``await make_listener(action, **listener_kwargs)``: a loaded listener whose out goes to
    ``OneToOne(action)`` (or, given ``routes``, through a router to one OneToOne per route)."""
    made: list[Listener] = []

    async def make(action: Callable[..., Any] | None = None, *, routes: list | None = None, **kw: Any) -> Listener:
        kw.setdefault("server", server)
        kw.setdefault("host", "127.0.0.1")
        listener = Listener(registry=registry, **kw)
        if routes is not None:
            router = Router([(m, p, i) for i, (m, p, _) in enumerate(routes)])
            listener.out_port.link(router.in_port)
            for i, (_, _, act) in enumerate(routes):
                router.out(i).link(OneToOne(act).in_port)
        elif action is not None:
            listener.out_port.link(OneToOne(action).in_port)
        await listener.load()
        made.append(listener)
        return listener

    return make


async def raw_request(port: int, data: bytes, *, read: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes (or ``timeout``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if not read:
            return b""
        chunks = []
        try:
            async with asyncio.timeout(timeout):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)
    finally:
        writer.close()
