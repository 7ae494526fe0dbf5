"""A database that is down: statements answer an error naming the node and the database (password
masked), and the node works again once the database is back."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import pytest

from portflow.plugins.sql.drivers import Unavailable, default_drivers
from portflow.plugins.sql.node import SQLNode
from portflow.process import Process
from support.proxy import Proxy

from .conftest import loaded, send


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(driver: str, source: str, name: str = "q") -> SQLNode:
    return SQLNode(default_drivers().get(driver), source, name=name)


async def until_ok(db: SQLNode, query: str, seconds: float = 15.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        answer = await send(db, query)
        if not isinstance(answer, BaseException) or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("driver,template", [
    ("postgres", "postgresql://app:hunter2@127.0.0.1:{port}/app?pool_timeout=1"),
    ("mysql", "mysql://app:hunter2@127.0.0.1:{port}/app?pool_timeout=1"),
])
async def test_unreachable_server_names_node_and_masked_database(driver, template):
    port = free_port()
    async with loaded(node(driver, template.format(port=port))) as db:  # loading does not need the server
        answer = await asyncio.wait_for(send(db, "SELECT 1"), 10)
    assert isinstance(answer, Unavailable), answer
    text = str(answer)
    assert text.startswith("sql node 'q': database ") and "unreachable" in text
    assert f"127.0.0.1:{port}" in text and "***" in text and "hunter2" not in text


async def test_sqlite_file_that_cannot_be_opened_then_can(tmp_path):
    where = tmp_path / "later" / "app.db"
    async with loaded(node("sqlite", str(where))) as db:
        answer = await send(db, "SELECT 1 AS one")
        assert isinstance(answer, Unavailable)
        assert "sql node 'q'" in str(answer) and str(where) in str(answer)
        where.parent.mkdir()
        assert await send(db, "SELECT 1 AS one") == [{"one": 1}]


async def _outage(db: SQLNode, proxy: Proxy) -> None:
    assert await send(db, "SELECT 1 AS one") == [{"one": 1}]
    # A transaction in flight when the server goes away: its next statement fails, its exit is quiet.
    inflight = Process()
    assert await send(db, "SELECT 2 AS two", inflight) == [{"two": 2}]
    await proxy.stop()
    lost = await send(db, "SELECT 3 AS three", inflight)
    assert isinstance(lost, Unavailable), lost
    await inflight.exit(RuntimeError("failed"))
    down = await asyncio.wait_for(send(db, "SELECT 1 AS one"), 10)
    assert isinstance(down, Unavailable), down
    assert "sql node 'q'" in str(down) and f"127.0.0.1:{proxy.port}" in str(down)
    await proxy.start()
    assert await until_ok(db, "SELECT 1 AS one") == [{"one": 1}]


async def test_postgres_recovers_when_the_server_returns(postgres_url):
    target = urlsplit(postgres_url)
    proxy = Proxy(target.hostname, target.port or 5432)
    port = await proxy.start()
    source = f"postgresql://postgres:hunter2@127.0.0.1:{port}{target.path}?pool_timeout=1&pool_max=3"
    try:
        async with loaded(node("postgres", source)) as db:
            await _outage(db, proxy)
    finally:
        await proxy.stop()


async def test_mysql_recovers_when_the_server_returns(mysql_url):
    target = urlsplit(mysql_url)
    proxy = Proxy(target.hostname, target.port or 3306)
    port = await proxy.start()
    netloc = target.netloc.rsplit("@", 1)[0] + "@" if "@" in target.netloc else ""
    source = f"mysql://{netloc}127.0.0.1:{port}{target.path}?pool_timeout=1&pool_max=3"
    try:
        async with loaded(node("mysql", source)) as db:
            await _outage(db, proxy)
    finally:
        await proxy.stop()
