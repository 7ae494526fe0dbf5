"""Per-hop and per-process cost of the engine core.

Chains of N pass-through OneToOne nodes (N = 1, 10, 100); 10,000 packets, each in its own process.
Prints the median µs per hop per chain length, then µs to create and exit a process. Last line:
``hop_us=X.XX process_us=Y.YY`` (hop_us at N = 100). Prints figures only; asserts nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.port import OutPort
from portflow.process import Process

PACKETS = 10_000
ROUNDS = 5


def chain(n: int) -> OutPort:
    nodes = [OneToOne(lambda proc, pck: pck) for _ in range(n)]
    for a, b in itertools.pairwise(nodes):
        a.out_port.link(b.in_port)
    head = OutPort("bench")
    head.link(nodes[0].in_port)
    return head


async def per_hop(n: int) -> float:
    head = chain(n)
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for i in range(PACKETS):
            proc = Process()
            await head.send(proc, Packet(i))
            await proc.exit()
        samples.append((time.perf_counter() - start) / PACKETS / n * 1e6)
    return statistics.median(samples)


async def per_process() -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(PACKETS):
            proc = Process()
            await proc.exit()
        samples.append((time.perf_counter() - start) / PACKETS * 1e6)
    return statistics.median(samples)


async def main() -> None:
    results = {}
    for n in (1, 10, 100):
        results[n] = await per_hop(n)
        print(f"chain N={n:<3}  {results[n]:6.2f} µs/hop (incl. process create+exit amortised over N)")
    proc_us = await per_process()
    print(f"process create+exit  {proc_us:6.2f} µs")
    print(f"hop_us={results[100]:.2f} process_us={proc_us:.2f}")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
