"""Load and activate a namespace of 1,000 specs from a SQLite store.

The namespace is 100 chains of 10 `snippet` nodes (text), each chain linked out[0] -> in. Prints the
time from `Runtime.start()` to every symbol being active, and the process's peak RSS. Last line:
``load_ms=X rss_mb=Y``. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time

from portflow.plugin import default_registries
from portflow.runtime import Runtime
from portflow.spec import new_id
from portflow.store import open_store

CHAINS, LENGTH = 100, 10


def specs() -> list[dict]:
    docs = []
    for c in range(CHAINS):
        for i in range(LENGTH):
            doc = {"id": new_id(), "kind": "snippet", "namespace": "default", "name": f"c{c}-n{i}",
                   "language": "text", "code": f"chain {c} node {i}"}
            if i < LENGTH - 1:
                doc["ports"] = {"out": [{"name": f"c{c}-n{i + 1}", "port": "in"}]}
            docs.append(doc)
    return docs


async def main() -> None:
    registries = default_registries()
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/load.db")
        await store.open()
        await store.specs.insert(specs())
        for _ in range(5):
            runtime = Runtime(store, scheme=registries.scheme, languages=registries.languages,
                              hooks=registries.hooks)
            start = time.perf_counter()
            await runtime.start()
            elapsed = (time.perf_counter() - start) * 1000
            active = sum(1 for sb in runtime.table if sb.loaded)
            if active != CHAINS * LENGTH:
                sys.exit(f"only {active} of {CHAINS * LENGTH} specs active: {runtime.problems[:3]}")
            samples.append(elapsed)
            await runtime.close()
        await store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("load runs (ms): " + " ".join(f"{s:.0f}" for s in samples))
    print(f"load_ms={statistics.median(samples):.0f} rss_mb={rss_mb:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
