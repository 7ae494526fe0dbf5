"""Per-packet cost of each ctrl kind, in microseconds: a fresh process per packet, one packet sent into
the node's ``in`` and its answer awaited (like uniflow's ``*_SendAndReceive`` Go benchmarks).

    .venv/bin/python benchmarks/nodes.py [--n 20000]

Prints figures, asserts nothing. The last line is ``snippet_cel_us=… snippet_python_us=… snippet_js_us=…``
(``x + 1`` in each language; ``nan`` when a language is not available).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from portflow.node import Node, OneToOne
from portflow.packet import Packet
from portflow.plugins.ctrl import register
from portflow.port import OutPort
from portflow.process import Process
from portflow.scheme import Context, Scheme
from portflow.symbol import Hooks

#: ``x + 1`` in every language the snippet kind runs.
SNIPPETS: dict[str, tuple[str, Any]] = {
    "text": ("pong", None),
    "json": ("1", None),
    "yaml": ("1", None),
    "cel": ("self + 1", 1),
    "javascript": ("export default function (x) { return x + 1 }", 1),
    "typescript": ("export default function (x: number): number { return x + 1 }", 1),
    "python": ("self + 1", 1),
}


async def per_packet_us(node: Node, payload: Any, n: int, port: str = "in") -> float:
    """Mean microseconds to send one packet in a fresh process and get its answer."""
    probe = OutPort("probe")
    probe.link(node.inport(port))
    await node.load()
    try:
        for _ in range(min(200, n)):  # warm up
            proc = Process()
            await probe.send(proc, Packet(payload))
            await proc.join()
            await proc.exit()
        start = time.perf_counter()
        for _ in range(n):
            proc = Process()
            await probe.send(proc, Packet(payload))
            await proc.join()
            await proc.exit()
        return (time.perf_counter() - start) / n * 1e6
    finally:
        await node.unload()
        await node.close()


def context() -> Context:
    scheme = Scheme()
    try:
        from portflow.lang import builtin_languages

        languages = builtin_languages()
    except ImportError:
        languages = None
    register(scheme, languages, Hooks())
    return Context(scheme=scheme, languages=languages, hooks=Hooks())


def build(ctx: Context, doc: dict[str, Any]) -> Node:
    return ctx.scheme.compile(ctx.scheme.decode(doc), ctx)


def echo() -> OneToOne:
    return OneToOne(lambda proc, pck: pck)


def wired(node: Node, **ports: Node) -> Node:
    """Link ``node``'s out-ports (``out0`` means ``out[0]``) to echo-like nodes' ``in``."""
    for name, target in ports.items():
        port_name = name if not name[-1].isdigit() else f"{name[:-1]}[{name[-1]}]"
        node.outport(port_name).link(target.inport("in"))
    return node


def cases(ctx: Context) -> list[tuple[str, Callable[[], Node], Any, str]]:
    """(label, node factory, payload, in-port) for every kind, the language-free ones first."""
    two_step = {"kind": "step", "name": "s", "specs": [{"kind": "sleep"}, {"kind": "sleep"}]}
    block = {"kind": "block", "name": "b", "specs": [{"kind": "sleep"}],
             "inbounds": {"in": [{"name": "$0", "port": "in"}]}, "outbounds": {"out": [{"name": "$0", "port": "out"}]}}
    return [
        ("nop", lambda: build(ctx, {"kind": "nop"}), 1, "in"),
        ("split", lambda: wired(build(ctx, {"kind": "split"}), out0=echo(), out1=echo()), [1, 2], "in"),
        ("merge", lambda: build(ctx, {"kind": "merge"}), 1, "in"),
        ("for", lambda: wired(build(ctx, {"kind": "for"}), out0=echo(), out1=echo()), [1, 2, 3], "in"),
        ("pipe", lambda: wired(build(ctx, {"kind": "pipe"}), out0=echo(), out1=echo()), 1, "in"),
        ("step", lambda: build(ctx, two_step), 1, "in"),
        ("block", lambda: build(ctx, block), 1, "in"),
        ("fork", lambda: wired(build(ctx, {"kind": "fork"}), out=echo()), 1, "in"),
        ("retry", lambda: wired(build(ctx, {"kind": "retry", "threshold": 2}), out=echo()), 1, "in"),
        ("try", lambda: wired(build(ctx, {"kind": "try"}), out=echo()), 1, "in"),
        ("throw", lambda: build(ctx, {"kind": "throw"}), "boom", "in"),
        ("sleep", lambda: build(ctx, {"kind": "sleep"}), 1, "in"),
        ("session", lambda: build(ctx, {"kind": "session"}), 1, "in"),
        ("print", lambda: build(ctx, {"kind": "print", "filename": os.devnull}), ["%d\n", 1], "in"),
        ("cache (hit)", lambda: wired(build(ctx, {"kind": "cache"}), out=echo()), {"k": 1}, "in"),
        ("if", lambda: wired(build(ctx, {"kind": "if", "when": "self > 0"}), out0=echo(), out1=echo()), 1, "in"),
        ("switch", lambda: wired(build(ctx, {"kind": "switch", "matches": [{"when": "self > 5", "port": "out[0]"},
                                                                           {"when": "true", "port": "out[1]"}]}),
                                 out0=echo(), out1=echo()), 1, "in"),
        ("reduce", lambda: build(ctx, {"kind": "reduce", "action": "acc + cur", "init": 0}), 1, "in"),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="packets per kind (default 20000)")
    args = parser.parse_args()
    ctx = context()
    print(f"python {sys.version.split()[0]}, {args.n} packets per kind, µs per packet (fresh process each)")
    for label, factory, payload, port in cases(ctx):
        try:
            node = factory()
        except Exception as exc:  # noqa: BLE001 - a figure we cannot take is reported, not fatal
            print(f"{label:>22}  skipped: {exc}")
            continue
        print(f"{label:>22}  {await per_packet_us(node, payload, args.n, port):8.2f}")
    figures: dict[str, float] = {}
    for language, (code, payload) in SNIPPETS.items():
        n = args.n if language not in ("python", "javascript", "typescript") else max(1, args.n // 4)
        try:
            node = build(ctx, {"kind": "snippet", "language": language, "code": code})
        except Exception as exc:  # noqa: BLE001
            print(f"{'snippet ' + language:>22}  skipped: {exc}")
            figures[language] = math.nan
            continue
        figures[language] = await per_packet_us(node, payload, n)
        print(f"{'snippet ' + language:>22}  {figures[language]:8.2f}")
    print(f"snippet_cel_us={figures['cel']:.2f} snippet_python_us={figures['python']:.2f} "
          f"snippet_js_us={figures['javascript']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
