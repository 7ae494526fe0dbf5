"""Microseconds per call of `x + 1` in each snippet language (the inline fast path). Prints figures only.

    .venv/bin/python benchmarks/languages.py [calls]
"""

from __future__ import annotations

import asyncio
import sys
import time

from portflow.lang import builtin_languages

CASES = [
    ("text", "x + 1", {"x": 1}),
    ("json", '{"x": 2}', {"x": 1}),
    ("cel", "x + 1", {"x": 1}),
    ("python", 'self["x"] + 1', {"x": 1}),
    ("javascript", "export default function (args) { return args.x + 1 }", {"x": 1}),
    ("python-isolated", 'self["x"] + 1', {"x": 1}),
]


async def measure(program, payload, calls: int) -> float:
    for _ in range(min(1000, calls)):
        await program(payload)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            await program(payload)
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


async def main(calls: int) -> None:
    languages = builtin_languages()
    figures: dict[str, float] = {}
    for name, code, payload in CASES:
        program = languages.compile(name, code, timeout=2)
        n = calls if name != "python-isolated" else max(50, calls // 200)
        figures[name] = us = await measure(program, payload, n)
        print(f"{name:16} {us:8.2f} us/call   ({code})")
    print(
        f"snippet_cel_us={figures['cel']:.2f} snippet_python_us={figures['python']:.2f} "
        f"snippet_js_us={figures['javascript']:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
