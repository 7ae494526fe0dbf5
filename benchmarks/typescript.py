"""What a ``typescript`` snippet costs to compile, next to the same code as ``javascript``, in one run.

Prints, as multiples of one ``javascript`` compile: the first TypeScript compile in the process (it loads
the TypeScript compiler into QuickJS), a compile of a new source, and a compile of a source seen before
(the transpile is cached). Prints figures only; asserts nothing.
"""

from __future__ import annotations

import time

from portflow.lang import builtin_languages

TS = """interface In {{ x: number }}
enum Kind {{ A, B }}
export default function (args: In): number {{ return (args as In).x! + Kind.B + {n} }}
"""
JS = "export default function (args) { return args.x + 1 + 0 }"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    languages = builtin_languages()
    js = min(timed(lambda: languages.compile("javascript", JS)) for _ in range(20))
    first = timed(lambda: languages.compile("typescript", TS.format(n=0)))
    fresh = min(timed(lambda n=n: languages.compile("typescript", TS.format(n=n))) for n in range(1, 11))
    cached = min(timed(lambda: languages.compile("typescript", TS.format(n=1))) for _ in range(20))
    print(f"typescript compile / javascript compile: first in process {first / js:8.0f}x  "
          f"new source {fresh / js:6.1f}x  cached source {cached / js:5.2f}x")


if __name__ == "__main__":
    main()
