"""test: a workflow test. The runner sends nothing to ``out[0]`` and checks the answer with ``out[1]``."""

from __future__ import annotations

from ...node import Node
from ...packet import NONE, Packet
from ...port import OUT, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from .runner import Runner, runner_for

__all__ = ["TestSpec", "TestNode", "compile_test", "register"]


class TestSpec(Spec, kw_only=True):
    """A test, run by ``portflow test`` as ``NAMESPACE/NAME`` (the id when it has no name).

    In a process of its own, the test sends ``null`` to ``out[0]``. No answer (nothing connected, or
    nothing answered): the test passes. An error: it fails with that error. Any other answer ``A``: the
    test sends ``[A, -1]`` to ``out[1]`` (usually an ``assert``; ``-1`` is the frame index asserts scan
    from) and fails if that answers an error. An unconnected ``out[1]`` passes.
    """

    __test__ = False  # not a pytest class


class TestNode(Node):
    """out[0] -> the flow under test; out[1] -> the checks. Registers with ``runner`` while loaded."""

    __test__ = False
    OUTPORTS = {OUT: "out0", "out[1]": "out1"}

    def __init__(self, name: str = "", runner: Runner | None = None) -> None:
        self.name = name
        self.runner = runner
        self.out0 = OutPort("out[0]", self)
        self.out1 = OutPort("out[1]", self)

    async def run(self, proc: Process) -> BaseException | None:
        """Run the test in ``proc``: the failure, or None when it passed."""
        answer = await self.out0.send(proc, Packet(None), NONE)
        if answer is NONE:
            return None
        if isinstance(answer.payload, BaseException):
            return answer.payload
        check = await self.out1.send(proc, Packet([answer.payload, -1]), NONE)
        if isinstance(check.payload, BaseException):
            return check.payload
        return None

    async def load(self) -> None:
        if self.runner is not None:
            self.runner.register(self.name, self)

    async def unload(self) -> None:
        if self.runner is not None:
            self.runner.unregister(self.name, self)

    async def close(self) -> None:
        await self.unload()


def compile_test(spec: TestSpec, context: Context) -> TestNode:
    return TestNode(f"{spec.namespace}/{spec.name or spec.id}", runner_for(context))


def register(scheme: Scheme) -> None:
    scheme.register(
        "test", TestSpec, compile_test,
        description="A workflow test: drive the flow on out[0], check its answer on out[1].",
        ports={"out[0]": "null, to start the flow under test (also `out`)",
               "out[1]": "[answer of out[0], -1], to the checks (usually an assert)"},
        example=(
            "- kind: test\n"
            "  name: greets\n"
            "  ports:\n"
            "    out[0]:\n"
            "      - name: greet\n"
            "        port: in\n"
            "    out[1]:\n"
            "      - name: is-greeting\n"
            "        port: in\n"
            "- kind: snippet\n"
            "  name: greet\n"
            "  language: cel\n"
            "  code: '\"hello\"'\n"
            "- kind: assert\n"
            "  name: is-greeting\n"
            "  expect: self == \"hello\"\n"
        ),
        plugin="testing",
    )
