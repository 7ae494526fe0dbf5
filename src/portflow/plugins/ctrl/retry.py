"""retry: resend the input to out while the answer is an error, up to a threshold."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ...node import Relay
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["RetrySpec", "RetryNode", "compile_retry", "register"]


class RetrySpec(Spec, kw_only=True):
    """Sends the input to ``out``; while the answer is an error and fewer than ``threshold`` retries
    were made, sends the same input again (``threshold + 1`` attempts in all). The caller gets the
    first success or the last error. There is no ``error`` port."""

    threshold: Annotated[int, Meta(ge=0, description="the most retries after the first attempt")] = 0


class RetryNode(Relay):
    """in -> out, again on error, at most ``threshold`` more times."""

    def __init__(self, threshold: int = 0) -> None:
        self.threshold = max(0, threshold)
        super().__init__(error=False)

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        answer = await self.out_port.send(proc, pck, pck)
        for _ in range(self.threshold):
            if not answer.is_error:
                break
            answer = await self.out_port.send(proc, pck, pck)
        return answer



def compile_retry(spec: RetrySpec, context: Context) -> RetryNode:
    return RetryNode(spec.threshold)


def register(scheme: Scheme) -> None:
    scheme.register(
        "retry", RetrySpec, compile_retry,
        description="Resend the input to out while the answer is an error, at most `threshold` more times.",
        ports={"in": "the packet to deliver", "out": "the packet, once per attempt"},
        example=(
            "kind: retry\n"
            "name: three-tries\n"
            "threshold: 2\n"
            "ports:\n"
            "  out:\n"
            "    - name: flaky-call\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
