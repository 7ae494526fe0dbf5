"""The ``test`` kind (uniflow-semantics §8, testing): out[0] drives, out[1] checks, the runner runs it."""

from __future__ import annotations

import asyncio

from portflow.errors import FlowTimeout
from portflow.plugins.testing import find_runner
from portflow.plugins.testing.runner import Result, Runner, format_duration, run_one
from portflow.plugins.testing.test import TestNode
from portflow.process import Process

from .conftest import outcomes

FLOW = """
- kind: test
  name: answer
  ports:
    out[0]: [{name: forty-two, port: in}]
    out[1]: [{name: check, port: in}]
- kind: const
  name: forty-two
  value: 42
- kind: assert
  name: check
  expect: self == 42
"""


async def test_passes_when_the_assert_holds(tests):
    runtime = await tests(FLOW)
    assert await outcomes(runtime) == {"default/answer": None}


async def test_fails_with_the_asserts_error(tests):
    runtime = await tests(FLOW.replace("value: 42", "value: 41"))
    (message,) = (await outcomes(runtime)).values()
    assert message.startswith("assert failed: self == 42") and "41" in message


async def test_unconnected_ports_pass():
    assert await TestNode().run(Process()) is None


async def test_answer_without_checks_passes(tests):
    runtime = await tests("""
- kind: test
  name: only-drive
  ports:
    out: [{name: one, port: in}]
- kind: const
  name: one
  value: 1
""")
    assert await outcomes(runtime) == {"default/only-drive": None}


async def test_error_on_out0_fails_without_running_checks(tests):
    runtime = await tests("""
- kind: test
  name: broken
  ports:
    out[0]: [{name: explode, port: in}]
    out[1]: [{name: check, port: in}]
- kind: fail
  name: explode
  message: the flow broke
- kind: assert
  name: check
  expect: "False"
""")
    assert await outcomes(runtime) == {"default/broken": "the flow broke"}


async def test_out1_gets_the_answer_and_minus_one(tests):
    runtime = await tests(FLOW.replace("expect: self == 42", "expect: self == 42"))
    seen = []
    node = runtime.table.lookup("default", "check").node
    original = node.program

    async def spy(payload):
        seen.append(payload)
        return await original(payload)

    node.program = spy
    await outcomes(runtime)
    assert seen == [42]


async def test_named_by_namespace_and_name_or_id_and_filtered_by_regex(tests):
    runtime = await tests("""
- kind: test
  name: alpha
- kind: test
  id: 0190a0e0-0000-7000-8000-000000000001
- kind: test
  name: beta
""", namespace="suite")
    runner = find_runner(runtime.context)
    assert runner.names() == ["suite/0190a0e0-0000-7000-8000-000000000001", "suite/alpha", "suite/beta"]
    assert runner.names("ph") == ["suite/alpha"]  # unanchored search
    assert list(await outcomes(runtime, "^suite/(alpha|beta)$")) == ["suite/alpha", "suite/beta"]


async def test_inactive_test_is_not_registered_and_unload_unregisters(tests):
    runtime = await tests("""
- kind: test
  name: dangling
  ports:
    out[0]: [{name: missing, port: in}]
- kind: test
  name: fine
""")
    runner = find_runner(runtime.context)
    assert runner.names() == ["default/fine"]
    await runtime.table.free(runtime.table.lookup("default", "fine").id)
    assert runner.names() == []


async def test_tests_run_concurrently_each_in_its_own_recording_process():
    started, procs = [], []
    release = asyncio.Event()
    runner = Runner()

    class Slow:
        async def run(self, proc):
            procs.append(proc)
            assert runner.frames(proc) == []
            started.append(1)
            if len(started) == 2:
                release.set()
            await asyncio.wait_for(release.wait(), 2)
            return None

    runner.register("ns/a", Slow())
    runner.register("ns/b", Slow())
    seen: list[Result] = []
    results = await runner.run(on_result=seen.append)
    assert [r.name for r in results] == ["ns/a", "ns/b"] and all(r.passed for r in results)
    assert len(seen) == 2 and procs[0] is not procs[1] and all(p.terminated for p in procs)


async def test_a_crash_or_timeout_fails_only_that_test():
    class Crash:
        async def run(self, proc):
            raise RuntimeError("bug in a node")

    class Hang:
        async def run(self, proc):
            await asyncio.sleep(10)

    class Fine:
        async def run(self, proc):
            return None

    assert (await run_one("x", Crash())).message == "bug in a node"
    result = await run_one("y", Hang(), timeout=0.05)
    assert isinstance(result.error, FlowTimeout) and result.message == "timeout after 50ms"
    assert (await run_one("z", Fine())).passed


def test_durations_print_like_go():
    assert format_duration(0) == "0s"
    assert format_duration(0.000812) == "812µs"
    assert format_duration(0.012345) == "12.345ms"
    assert format_duration(0.5) == "500ms"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(90) == "1m30s"
    assert format_duration(3723.25) == "1h2m3.25s"
