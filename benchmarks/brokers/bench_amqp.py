"""AMQP (RabbitMQ) through a flow against the bare client: ``N`` small messages published to each of two fresh
quorum queues, one consumed and acknowledged by the flow ``amqp -> snippet -> nop`` (prefetch = the kind's
default concurrency), the other by a bare aio-pika consumer with the same prefetch (``ack`` in its callback).
Only the consuming is timed; what the flow took while the runtime was starting is not counted. Needs RabbitMQ
at 127.0.0.1:5672 (guest/guest).

    .venv/bin/python benchmarks/brokers/bench_amqp.py      (or through benchmarks/brokers.py)
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aio_pika
from harness import Clock, N, flow, report, rss_mb, until

from portflow.plugins.brokers.amqp import DELIVERY_LIMIT

URL = "amqp://guest:guest@127.0.0.1:5672/"
PREFETCH = 16  # the kind's default concurrency
ARGUMENTS = {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT}  # as the kind declares it


async def publish(channel: Any, queue: str) -> None:
    body = b'{"n": 1}'
    for start in range(0, N, 1000):
        await asyncio.gather(*(channel.default_exchange.publish(
            aio_pika.Message(body, content_type="application/json"), routing_key=queue)
            for _ in range(start, min(start + 1000, N))))


async def waiting(channel: Any, queue: str) -> int:
    return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count


async def through_flow(channel: Any, queue: str) -> tuple[float, float, float]:
    spec = f"""
- kind: amqp
  name: orders
  url: {URL}
  queue: {queue}
  concurrency: {PREFETCH}
"""
    rss_start = rss_mb()
    async with flow(spec) as runtime:
        node = runtime.table.lookup(runtime.namespace, "orders").node
        already = node.acked  # taken while the runtime started: not timed
        with Clock() as clock:
            await until(lambda: node.acked, N)
        assert await waiting(channel, queue) == 0
        return clock.rate(N - already), rss_start, rss_mb()


async def bare(conn: Any, queue: str) -> float:
    channel = await conn.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    q = await channel.declare_queue(queue, passive=True)
    done = 0
    finished = asyncio.Event()

    async def received(msg: Any) -> None:
        nonlocal done
        await msg.ack()
        done += 1
        if done == N:
            finished.set()

    with Clock() as clock:
        tag = await q.consume(received)
        await finished.wait()
    await q.cancel(tag)
    return clock.rate(N)


async def main() -> None:
    conn = await aio_pika.connect(URL)
    channel = await conn.channel()
    queues = [f"bench-{name}-{uuid.uuid4().hex[:8]}" for name in ("flow", "bare")]
    try:
        for queue in queues:
            await channel.declare_queue(queue, durable=True, arguments=ARGUMENTS)
            await publish(channel, queue)
        flow_rate, rss_start, rss_end = await through_flow(channel, queues[0])
        bare_rate = await bare(conn, queues[1])
    finally:
        for queue in queues:
            await channel.queue_delete(queue)
        await conn.close()
    report("amqp", flow_rate, bare_rate, rss_start, rss_end)


if __name__ == "__main__":
    asyncio.run(main())
