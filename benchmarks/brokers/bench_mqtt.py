"""MQTT (Mosquitto at 127.0.0.1:1883): N QoS 1 messages consumed through ``mqtt -> snippet -> nop`` and
acknowledged, next to a bare paho client that acknowledges each message as it arrives.

MQTT keeps no log to fill beforehand: a paho publisher on its own thread publishes while the consumer runs,
at most ``WINDOW`` messages ahead of what was consumed (Mosquitto drops what it queues for a client past
its ``max_queued_messages``, 1000 by default). The clock runs from the first publish to the last message
consumed; the runtime's start and close are outside it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt
from harness import Clock, N, flow, report, rss_mb, until
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST, PORT = "127.0.0.1", 1883
WINDOW = 800


def client(**kw: object) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, **kw)  # type: ignore[arg-type]
    c.max_inflight_messages_set(100)
    return c


def publish(topic: str, consumed: Callable[[], int]) -> threading.Thread:
    """Publish N messages on a thread of its own, WINDOW ahead of ``consumed()`` at most."""

    def run() -> None:
        pub = client()
        pub.connect(HOST, PORT)
        pub.loop_start()
        last = None
        for i in range(N):
            while i - consumed() >= WINDOW:
                threading.Event().wait(0.001)
            last = pub.publish(topic, b'{"n": %d}' % i, qos=1)
        if last is not None:
            last.wait_for_publish(60)
        pub.disconnect()
        pub.loop_stop()

    thread = threading.Thread(target=run, daemon=True)
    return thread


async def through_flow() -> tuple[float, float, float]:
    """Messages/s through the flow, and the RSS (MB) once the runtime is up and once the count is reached."""
    topic = f"bench/{uuid.uuid4().hex}"
    async with flow(f"- kind: mqtt\n  name: sub\n  consume: '{topic}'\n  concurrency: 64\n") as runtime:
        node = runtime.table.lookup("default", "sub").node
        await until(lambda: int(node.not_ready() is None), 1, timeout=10)
        thread = publish(topic, lambda: node.fired)
        rss_start = rss_mb()
        with Clock() as clock:
            thread.start()
            await until(lambda: node.finished, N)
        rss_end = rss_mb()
        thread.join(10)
        return clock.rate(N), rss_start, rss_end


async def bare() -> float:
    topic = f"bench/{uuid.uuid4().hex}"
    count = 0
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, _: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal count
        c.ack(msg.mid, msg.qos)
        count += 1

    sub = client(manual_ack=True)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 64
    sub.connect(HOST, PORT, properties=props)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    await asyncio.to_thread(subscribed.wait, 10)
    thread = publish(topic, lambda: count)
    with Clock() as clock:
        thread.start()
        await until(lambda: count, N)
    thread.join(10)
    sub.disconnect()
    sub.loop_stop()
    return clock.rate(N)


async def main() -> None:
    flow_rate, rss_start, rss_end = await through_flow()
    bare_rate = await bare()
    report("mqtt", flow_rate, bare_rate, rss_start, rss_end)


if __name__ == "__main__":
    asyncio.run(main())
