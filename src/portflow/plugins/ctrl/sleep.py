"""sleep (alias wait): wait a while, then pass the packet on unchanged."""

from __future__ import annotations

import asyncio
from typing import Annotated

from msgspec import Meta

from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import PositiveDuration, Spec

__all__ = ["SleepSpec", "SleepNode", "compile_sleep", "register"]


class SleepSpec(Spec, kw_only=True):
    """Waits ``interval`` (``"2s"``, ``"150ms"``, or milliseconds), then outputs the input unchanged."""

    interval: Annotated[PositiveDuration, Meta(description="how long to wait (required, as in uniflow)")]


class SleepNode(OneToOne):
    """in -> (after ``interval`` seconds) -> out."""

    def __init__(self, interval: float = 0.0) -> None:
        self.interval = max(0.0, float(interval))
        super().__init__()

    async def action(self, proc: Process, pck: Packet) -> Packet:
        if self.interval:
            await asyncio.sleep(self.interval)
        return pck


def compile_sleep(spec: SleepSpec, context: Context) -> SleepNode:
    return SleepNode(spec.interval)


def register(scheme: Scheme) -> None:
    scheme.register(
        "sleep", SleepSpec, compile_sleep,
        description="Wait `interval`, then pass the packet on unchanged.",
        ports={"in": "the packet to delay", "out": "the same packet, later", "error": "errors"},
        example=(
            "kind: sleep\n"
            "name: backoff\n"
            "interval: 150ms\n"
        ),
        aliases=("wait",),
        plugin="ctrl",
    )
