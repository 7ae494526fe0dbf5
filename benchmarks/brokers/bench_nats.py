"""NATS JetStream through a flow against the bare client: ``N`` small messages published to a fresh stream, then
consumed and acknowledged by the flow ``nats -> snippet -> nop`` (a durable consumer), and by a bare pull
consumer (``fetch`` a batch of ``concurrency``, ``ack`` each) on a second durable. Only the consuming is timed
(until the server has every ack); what the flow took while the runtime was starting is not counted. Needs
NATS with JetStream at 127.0.0.1:4222.

    .venv/bin/python benchmarks/brokers/bench_nats.py      (or through benchmarks/brokers.py)
"""

from __future__ import annotations

import asyncio
import os
import uuid

import nats
import nats.errors
from harness import Clock, N, flow, report, rss_mb, until

URL = "nats://127.0.0.1:4222"
BATCH = 16  # the kind's default concurrency: what it fetches at a time
#: Rounds of publish, flow, bare; the best rate of each side is reported (the machine is shared: the round
#: least disturbed), the memory at the start of the first and the end of the last (flat: ROUNDS * N messages).
ROUNDS = int(os.environ.get("BROKER_ROUNDS", "3"))


async def publish(nc: nats.NATS, js: object, stream: str) -> None:
    body = b'{"n": 1}'
    headers = {"Content-Type": "application/json"}
    for _ in range(N):
        await nc.publish(f"{stream}.m", body, headers=headers)  # core publish: the stream stores it
    await nc.flush()
    await until(lambda: stored(js, stream), N)


async def stored(js: object, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages  # type: ignore[attr-defined]


async def acked(js: object, stream: str, durable: str) -> int:
    return (await js.consumer_info(stream, durable)).ack_floor.stream_seq  # type: ignore[attr-defined]


async def through_flow(js: object, stream: str) -> tuple[float, float, float]:
    spec = f"""
- kind: nats
  name: orders
  url: {URL}
  stream: {stream}
  consume: '{stream}.>'
  group: flow
  concurrency: {BATCH}
"""
    rss_start = rss_mb()
    async with flow(spec):
        already = await acked(js, stream, "flow")  # taken while the runtime started: not timed
        with Clock() as clock:
            await until(lambda: acked(js, stream, "flow"), N)
        return clock.rate(N - already), rss_start, rss_mb()


async def bare(js: object, stream: str) -> float:
    sub = await js.pull_subscribe(f"{stream}.>", durable="bare", stream=stream)  # type: ignore[attr-defined]
    done = 0
    with Clock() as clock:
        while done < N:
            try:
                msgs = await sub.fetch(BATCH, timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                await msg.ack()
            done += len(msgs)
        await until(lambda: acked(js, stream, "bare"), N)  # as for the flow: until the server has every ack
    return clock.rate(N)


async def main() -> None:
    nc = await nats.connect(URL)
    js = nc.jetstream()
    flows, bares, rss = [], [], []
    for _ in range(ROUNDS):
        stream = f"BENCH{uuid.uuid4().hex[:8]}"
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        try:
            await publish(nc, js, stream)
            flow_rate, rss_start, rss_end = await through_flow(js, stream)
            bares.append(await bare(js, stream))
            flows.append(flow_rate)
            rss += [rss_start, rss_end]
        finally:
            await js.delete_stream(stream)
    await nc.close()
    report("nats", max(flows), max(bares), rss[0], rss[-1])


if __name__ == "__main__":
    asyncio.run(main())
