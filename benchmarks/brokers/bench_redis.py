"""Redis streams: ``N`` entries consumed by the flow ``redis -> snippet -> nop`` and acknowledged, next to a
bare redis-py loop (XREADGROUP ``COUNT`` entries, XACK them in one command) over the same entries.

The flow's clock starts once the runtime is started and the entries are published, and counts only what is
acknowledged after that; it stops when the last is acknowledged. The machine is shared, so each side runs
``ROUNDS`` times (``BROKER_ROUNDS``, default 3; the order alternates) and the best round of each is
reported; stderr has each round, with this process's CPU time per message. RSS is taken when a round's
runtime has started and when its last entry is acknowledged; the round that grew most is reported.
``BROKER_CONCURRENCY`` (default 64) is the flow's ``concurrency`` and the bare loop's ``COUNT``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import redis.asyncio as aioredis
from harness import Clock, N, flow, report, rss_mb, until

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
CONCURRENCY = int(os.environ.get("BROKER_CONCURRENCY", "64"))
ROUNDS = int(os.environ.get("BROKER_ROUNDS", "3"))
CPU: dict[str, list[float]] = {"flow": [], "bare": []}  # this process's CPU microseconds per message, by round


async def acked(rc: aioredis.Redis, stream: str, group: str) -> int:
    """Entries the group read and acknowledged."""
    for info in await rc.xinfo_groups(stream):
        if info["name"].decode() == group:
            return int(info["entries-read"] or 0) - int(info["pending"])
    return 0


async def publish(rc: aioredis.Redis) -> str:
    stream = f"bench-{uuid.uuid4().hex[:8]}"
    async with rc.pipeline(transaction=False) as pipe:
        for i in range(N):
            pipe.xadd(stream, {"data": str(i)})
        await pipe.execute()
    return stream


async def through_flow(rc: aioredis.Redis, rss: list[float]) -> float:
    stream = await publish(rc)
    try:
        spec = f"- kind: redis\n  name: bench\n  url: {URL}\n  stream: {stream}\n  group: flow\n" \
               f"  concurrency: {CONCURRENCY}\n"
        async with flow(spec):
            rss.append(rss_mb())
            before = await acked(rc, stream, "flow")
            cpu = time.process_time()
            with Clock() as clock:
                await until(lambda: acked(rc, stream, "flow"), N)
            CPU["flow"].append((time.process_time() - cpu) / (N - before) * 1e6)
            rss.append(rss_mb())
        return clock.rate(N - before)
    finally:
        await rc.delete(stream)


async def bare(rc: aioredis.Redis) -> float:
    stream = await publish(rc)
    try:
        await rc.xgroup_create(stream, "bare", "0")
        cpu = time.process_time()
        with Clock() as clock:
            done = 0
            while done < N:
                reply = await rc.xreadgroup("bare", "me", {stream: ">"}, count=CONCURRENCY, block=1000)
                ids = [ident for _, entries in reply for ident, _ in entries]
                if ids:
                    await rc.xack(stream, "bare", *ids)
                    done += len(ids)
        CPU["bare"].append((time.process_time() - cpu) / N * 1e6)
        return clock.rate(N)
    finally:
        await rc.delete(stream)


async def main() -> None:
    rc = aioredis.Redis.from_url(URL)
    flows: list[float] = []
    bares: list[float] = []
    rss: list[float] = []
    try:
        for round_ in range(ROUNDS):
            if round_ % 2:
                bares.append(await bare(rc))
                flows.append(await through_flow(rc, rss))
            else:
                flows.append(await through_flow(rc, rss))
                bares.append(await bare(rc))
            print(f"round {round_ + 1}: flow {flows[-1]:.0f}/s ({CPU['flow'][-1]:.0f} us CPU each), "
                  f"bare {bares[-1]:.0f}/s ({CPU['bare'][-1]:.0f} us CPU each)", file=sys.stderr)
        print("rss by round (start, end):", " ".join(f"{m:.0f}" for m in rss), file=sys.stderr)
        # Each round is a runtime of its own (the second adds ~10 MB once): the round that grew most is reported.
        start, end = max(zip(rss[::2], rss[1::2], strict=True), key=lambda pair: pair[1] - pair[0])
        report("redis", max(flows), max(bares), start, end)
    finally:
        await rc.aclose()


if __name__ == "__main__":
    asyncio.run(main())
