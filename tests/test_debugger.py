"""The debugger's model against a real runtime and real HTTP: a breakpoint holds one process while the
others flow; continue, delete and close resume; frames and processes; nothing is left installed."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from portflow.debugger import Debugger
from portflow.errors import UserError
from support.debugging import SLOW_AND_FAST, held


@pytest.fixture
async def served(flow):
    runtime = await flow(SLOW_AND_FAST)
    listener = runtime.table.lookup("default", "http")
    assert listener is not None and listener.loaded, listener
    debugger = Debugger(runtime.table).attach()
    async with aiohttp.ClientSession() as client:
        yield runtime, debugger, client, listener.node.url
    debugger.close()


def symbol(runtime, name):
    sb = runtime.table.lookup("default", name)
    assert sb is not None
    return sb


async def get(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as resp:
        return resp.status, await resp.text()


async def test_a_breakpoint_holds_only_the_process_that_reaches_it(served):
    runtime, debugger, client, url = served
    bp, new = debugger.add(symbol(runtime, "slow"))
    assert new and bp.row() == {"id": 1, "symbol_id": symbol(runtime, "slow").id, "symbol": "slow", "hits": 0}
    slow = asyncio.ensure_future(get(client, f"{url}/slow"))
    pause = await held(debugger)
    assert pause.breakpoint is bp and pause.where() == "router out[0] -> slow in"
    # Another request flows past while the first one is held.
    assert await get(client, f"{url}/fast") == (200, "fast answer")
    assert not slow.done() and debugger.current is pause and bp.hits == 1
    frame = debugger.frame()
    assert frame["process_id"] == pause.process.id and frame["symbol_id"] == symbol(runtime, "slow").id
    assert frame["port"] == "in" and frame["input"]["path"] == "/slow" and "output" not in frame
    # The held process is listed with the hops it made so far: into the router, then held at slow.
    assert pause.process.id in {row["id"] for row in debugger.agent.process_rows()}
    hops = debugger.agent.frame_rows(pause.process.id)
    assert [(row["symbol_id"], row["port"]) for row in hops] == [
        (symbol(runtime, "router").id, "in"), (symbol(runtime, "slow").id, "in")]
    assert debugger.resume() is pause
    assert await slow == (200, "slow answer")
    assert debugger.current is None and debugger.resume() is None


async def test_held_hops_queue_and_continue_resumes_them_in_arrival_order(served):
    runtime, debugger, client, url = served
    debugger.add(symbol(runtime, "slow"))
    first = asyncio.ensure_future(get(client, f"{url}/slow"))
    one = await held(debugger)
    second = asyncio.ensure_future(get(client, f"{url}/slow"))
    async with asyncio.timeout(10):
        while len(debugger.paused) < 2:
            await debugger.changed()
    two = debugger.paused[1]
    assert one.process is not two.process and debugger.current is one
    debugger.resume()
    assert await first == (200, "slow answer")
    assert debugger.current is two and not second.done()
    debugger.resume()
    assert await second == (200, "slow answer")


async def test_a_port_breakpoint_holds_hops_out_of_that_port_only(served):
    runtime, debugger, client, url = served
    bp, _ = debugger.add(symbol(runtime, "router"), "out[1]")
    assert bp.side == "out"
    assert await get(client, f"{url}/slow") == (200, "slow answer")  # out[0]: not held
    fast = asyncio.ensure_future(get(client, f"{url}/fast"))
    pause = await held(debugger)
    assert pause.where() == "router out[1] -> fast in"
    debugger.resume()
    assert await fast == (200, "fast answer")


async def test_a_symbol_breakpoint_holds_hops_into_and_out_of_it(served):
    runtime, debugger, client, url = served
    debugger.add(symbol(runtime, "router"))
    slow = asyncio.ensure_future(get(client, f"{url}/slow"))
    assert (await held(debugger)).where() == "http out -> router in"
    debugger.resume()
    assert (await held(debugger)).where() == "router out[0] -> slow in"
    debugger.resume()
    assert await slow == (200, "slow answer")


async def test_delete_resumes_the_hops_a_breakpoint_holds_and_stops_holding(served):
    _, debugger, client, url = served
    bp, _ = debugger.add()  # every hop
    assert bp.row() == {"id": 1, "hits": 0}
    slow = asyncio.ensure_future(get(client, f"{url}/slow"))
    await held(debugger)
    debugger.remove(bp)
    assert await slow == (200, "slow answer")
    assert debugger.breakpoints == [] and debugger.current is None
    assert await get(client, f"{url}/fast") == (200, "fast answer")


async def test_breakpoints_are_not_set_twice_and_ports_are_checked(served):
    runtime, debugger, _, _ = served
    router = symbol(runtime, "router")
    first, new = debugger.add(router, "out[0]")
    again, new_again = debugger.add(router, "out[0]")
    assert new and not new_again and again is first
    with pytest.raises(UserError, match=r"symbol 'router' has no port 'nope' \(its ports: in, out\[0\], out\[1\]\)"):
        debugger.add(router, "nope")
    assert debugger.find_symbols(router.id) == [router] and debugger.find_symbols("router") == [router]
    assert debugger.get(first.id) is first and debugger.get(99) is None


async def test_close_resumes_what_is_held_and_uninstalls_the_observer(served):
    runtime, debugger, client, url = served
    debugger.add(symbol(runtime, "slow"))
    slow = asyncio.ensure_future(get(client, f"{url}/slow"))
    await held(debugger)
    assert symbol(runtime, "router").node.outport("out[0]").observer is not None
    debugger.close()
    assert await slow == (200, "slow answer")
    # With no debugger attached, no out-port goes through the observer: a hop costs what it did.
    for sb in runtime.table:
        for name in sb.spec.ports:
            assert sb.node.outport(name).observer is None, (sb.name, name)


async def test_a_held_process_whose_client_leaves_is_let_go(served):
    runtime, debugger, _, url = served
    debugger.add(symbol(runtime, "slow"))
    client = aiohttp.ClientSession()
    leaving = asyncio.ensure_future(get(client, f"{url}/slow"))
    pause = await held(debugger)
    leaving.cancel()
    await client.close()
    async with asyncio.timeout(10):
        while pause in debugger.paused:
            await debugger.changed()
    assert debugger.current is None
