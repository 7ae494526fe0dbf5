"""split: spread a list over out[0], out[1], ..."""

from __future__ import annotations

from ...node import OneToMany
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["SplitSpec", "SplitNode", "compile_split", "register"]


class SplitSpec(Spec, kw_only=True):
    """Sends element i of a list payload to ``out[i]`` (elements past the connected ports are dropped);
    any other payload goes whole to ``out[0]``. The answers are joined (a list when several)."""


class SplitNode(OneToMany):
    """in -> element i -> out[i]."""

    def action(self, proc: Process, pck: Packet) -> list[Packet]:
        payload = pck.payload
        if isinstance(payload, list):
            return [Packet(item) for item in payload]
        return [pck]


def compile_split(spec: SplitSpec, context: Context) -> SplitNode:
    return SplitNode()


def register(scheme: Scheme) -> None:
    scheme.register(
        "split", SplitSpec, compile_split,
        description="Spread a list payload over out[0], out[1], ...",
        ports={"in": "a list (or any payload, which goes to out[0])", "out[N]": "element N of the list",
               "error": "errors"},
        example=(
            "kind: split\n"
            "name: pair\n"
            "ports:\n"
            "  out[0]:\n"
            "    - name: first\n"
            "      port: in\n"
            "  out[1]:\n"
            "    - name: second\n"
            "      port: in\n"
        ),
        plugin="ctrl",
    )
