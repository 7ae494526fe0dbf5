"""A node's background task runs in the runtime's task group: when it fails, its symbol is failed."""

from __future__ import annotations

import asyncio

from portflow.plugins.system.internal import Internal

from .conftest import node_of

SIGNAL = """
- kind: signal
  name: changes
  topic: specs
"""


class BrokenWatch:
    """A change stream that fails on its first read (a store that went away for good)."""

    def watch(self, flt):
        return self

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    def __aiter__(self):
        return self

    async def __anext__(self):
        raise RuntimeError("the change stream broke")


async def test_a_failed_background_task_marks_its_symbol_failed_in_the_symbols_table(runtime):
    rt = await runtime(SIGNAL)
    sb = rt.table.lookup("default", "changes")
    assert sb.loaded and sb.error is None
    node = node_of(rt, "changes")
    await node.unload()
    node.collection = BrokenWatch()
    await node.load()  # ready at once: the stream fails afterwards, in the runtime's task group
    async with asyncio.timeout(2):
        while sb.error is None:
            await asyncio.sleep(0.005)
    assert not sb.loaded and sb.error == "failed: the change stream broke"
    [row] = await Internal(rt.context).query("SELECT name, loaded, error FROM symbols WHERE name = 'changes'")
    assert row == {"name": "changes", "loaded": False, "error": "failed: the change stream broke"}
