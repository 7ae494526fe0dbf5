"""Driving a node from a test: send a payload into one of its in-ports and read the answer."""

from __future__ import annotations

from typing import Any

from portflow.packet import Packet
from portflow.port import OutPort
from portflow.process import Process


async def send_to(node: Any, payload: Any = None, port: str = "in", proc: Process | None = None) -> Any:
    """Send ``payload`` into ``node``'s in-port ``port`` and return the answer's payload.

    Without ``proc`` it runs in a fresh process, which is joined and exited afterwards.
    """
    owned = proc is None
    proc = proc or Process()
    probe = OutPort("probe")
    probe.link(node.inport(port))
    try:
        return (await probe.send(proc, Packet(payload))).payload
    finally:
        if owned:
            await proc.join()
            await proc.exit()


async def call(runtime: Any, name: str, payload: Any = None, port: str = "in") -> Any:
    """``send_to`` the node of the runtime's spec ``name``, in a fresh process."""
    sb = runtime.table.lookup(runtime.namespace, name)
    assert sb is not None and sb.node is not None, f"{name}: {sb.error if sb else 'missing'}"
    return await send_to(sb.node, payload, port)
