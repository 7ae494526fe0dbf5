"""Serve the ping flow (listener -> router GET /ping -> a node answering "pong") without the CLI.

usage: python benchmarks/ping_server.py PORT [granian|uvicorn] [snippet]
Prints ``ready PORT`` when listening. Used to benchmark the net plugin before/without ``portflow start``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from portflow.node import OneToOne
from portflow.plugins.net.listener import Listener, Listeners
from portflow.plugins.net.router import Router


async def main(port: int, server: str, snippet: bool = False) -> None:
    registry = Listeners()
    listener = Listener("127.0.0.1", port, server=server, registry=registry)
    router = Router([("GET", "/ping", 0)])
    if snippet:  # the ctrl plugin's snippet node with a constant program, as `language: text` compiles to
        from portflow.plugins.ctrl.snippet import SnippetNode

        pong = SnippetNode(lambda payload: "pong")
    else:
        pong = OneToOne(lambda proc, pck: "pong")
    listener.out_port.link(router.in_port)
    router.out(0).link(pong.in_port)
    await listener.load()
    print("ready", listener.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await listener.unload()
    await registry.aclose()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8000, sys.argv[2] if len(sys.argv) > 2 else "granian",
                    "snippet" in sys.argv[3:]))
