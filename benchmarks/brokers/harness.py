"""What each broker's benchmark shares: a runtime on a memory store running a flow, the process's RSS, the
figures line, and waiting for a count to be reached.

A broker's script (``benchmarks/brokers/bench_<kind>.py``) publishes ``N`` small messages (``BROKER_N``, default
20,000), lets the flow ``<kind> -> snippet -> nop`` consume and acknowledge them, then does the same
receive-and-acknowledge with the bare client in a loop (the ceiling), and prints one ``report`` line.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from portflow.apply import apply, prepare_specs
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store

__all__ = ["N", "CHAIN", "flow", "rss_mb", "report", "until", "Clock"]

N = int(os.environ.get("BROKER_N", "20000"))

#: The work after the consumer: a snippet reading the message, then nop.
CHAIN = """
  ports:
    out:
      - name: work
        port: in
- kind: snippet
  name: work
  language: cel
  code: 'self.data'
  ports:
    out:
      - name: done
        port: in
- kind: nop
  name: done
"""


@asynccontextmanager
async def flow(consumer: str) -> Any:
    """A runtime serving ``consumer`` (a broker spec's YAML lines, without ports) followed by ``CHAIN``."""
    store = open_store(f"memory://bench-{uuid.uuid4().hex}")
    await store.open()
    docs, _ = prepare_specs(read_documents(consumer.rstrip() + CHAIN), "default")
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, namespace="default")
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
        await store.close()


def rss_mb() -> float:
    """This process's resident memory, MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def until(count: Callable[[], Awaitable[int] | int], target: int, timeout: float = 300.0) -> None:
    """Poll ``count()`` until it reaches ``target``; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = count()
        if not isinstance(got, int):
            got = await got
        if got >= target:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {got} of {target} after {timeout:.0f}s")
        await asyncio.sleep(0.02)


class Clock:
    """``with Clock() as c:`` ... ``c.rate(n)``: messages per second over the block."""

    def __enter__(self) -> Clock:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds else float("nan")


def report(broker: str, flow_rate: float, bare_rate: float, rss_start: float, rss_end: float) -> None:
    """The one figures line of a broker's benchmark."""
    print(f"broker={broker} flow_msgs_per_s={flow_rate:.0f} bare_msgs_per_s={bare_rate:.0f} "
          f"ratio={flow_rate / bare_rate:.2f} rss_start_mb={rss_start:.0f} rss_end_mb={rss_end:.0f}", flush=True)
