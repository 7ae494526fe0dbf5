"""Microseconds per JavaScript call (the inline path) of snippets the compiled fast path runs, against the same
call on QuickJS, in alternating rounds in one process so the ratio holds on a busy machine.

    .venv/bin/python benchmarks/js_compiled.py [--n 5000] [--rounds 15]

Cases: ``greet`` (benchmarks/flows/greet-javascript.yaml on the listener's greet payload) and ``route``
(``args.path === '/greet' ? 1 : 2``). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from portflow.lang import builtin_languages

GREET = {"method": "POST", "scheme": "http", "host": "127.0.0.1:8080", "path": "/greet", "query": {},
         "protocol": "HTTP/1.1",
         "header": {"Host": ["127.0.0.1:8080"], "Content-Type": ["application/json"], "Content-Length": ["49"]},
         "body": {"name": "ada", "n": 21, "tags": ["x", "y", "z"]}, "status": 0}
CASES = {
    "greet": ('export default function (args) {\n  const b = args.body;\n  return { greeting: "hello " + b.name, '
              'double: b.n + b.n, tags: b.tags.map((t) => t.toUpperCase()) };\n}\n', GREET),
    "route": ("export default function (args) { return args.path === '/greet' ? 1 : 2 }", GREET),
}


def main(n: int, rounds: int) -> None:
    languages = builtin_languages()
    for case, (code, payload) in CASES.items():
        program = languages.compile("javascript", code, timeout=5)
        assert program.compiled is not None, case
        assert program.run_inline(payload) == program.run_quickjs(payload), case
        fast, slow = program.run_inline, program.run_quickjs
        best = {"compiled": float("inf"), "quickjs": float("inf")}
        for _ in range(rounds):
            for mode, fn in (("compiled", fast), ("quickjs", slow)):
                for _ in range(min(n, 200)):
                    fn(payload)
                start = time.perf_counter()
                for _ in range(n):
                    fn(payload)
                best[mode] = min(best[mode], (time.perf_counter() - start) / n * 1e6)
        print(f"{case:6} compiled {best['compiled']:6.2f} us   quickjs {best['quickjs']:6.2f} us   "
              f"({best['quickjs'] / best['compiled']:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="calls per timing round")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds (best kept)")
    args = parser.parse_args()
    main(args.n, args.rounds)
