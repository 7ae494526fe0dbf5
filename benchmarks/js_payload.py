"""Microseconds per JavaScript call (the inline path) for map payloads the snippet reads in part or whole, with
the payload handed over as one JSON (``whole``), as shipped (``default``: lazily from
``javascript.LAZY_BYTES`` of JSON on) or always lazily (``lazy``: each key parsed when read), in alternating
rounds in one process, so the ratios hold on a busy machine.

    .venv/bin/python benchmarks/js_payload.py [--n 2000] [--rounds 20] [CASE ...]

Cases: ``greet`` (the listener's payload for the greet request, 266 bytes; the snippet reads ``body``);
``route_2k``/``route_8k`` (the same with a 2 KiB/8 KiB body; the snippet reads ``path``);
``body_2k``/``body_8k`` (the snippet reads ``body.name``: all of the body is parsed); ``echo_8k``
(the payload returned as is). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from portflow.lang import builtin_languages, javascript

GREET = {"method": "POST", "scheme": "http", "host": "127.0.0.1:8080", "path": "/greet", "query": {},
         "protocol": "HTTP/1.1",
         "header": {"Host": ["127.0.0.1:8080"], "Content-Type": ["application/json"], "Content-Length": ["49"]},
         "body": {"name": "ada", "n": 21.0, "tags": ["x", "y", "z"]}, "status": 0}


def sized(items: int) -> dict[str, Any]:
    """The greet payload with a body of ``items`` records (~40 bytes of JSON each)."""
    records = [{"id": i, "label": f"item {i}", "ok": i % 2 == 0} for i in range(items)]
    return {**GREET, "body": {"name": "ada", "n": 21.0, "items": records}}


GREET_CODE = ('export default function (args) { const b = args.body; return { greeting: "hello " + b.name, '
              'double: b.n + b.n, tags: b.tags.map((t) => t.toUpperCase()) }; }')
ROUTE = "export default function (args) { return args.path === '/greet' ? 1 : 2 }"
BODY = "export default function (args) { return 'hello ' + args.body.name }"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "greet": (GREET_CODE, GREET),
    "route_2k": (ROUTE, sized(50)),
    "body_2k": (BODY, sized(50)),
    "route_8k": (ROUTE, sized(200)),
    "body_8k": (BODY, sized(200)),
    "echo_8k": ("export default function (args) { return args }", sized(200)),
}
MODES = {"whole": 1 << 62, "default": javascript.LAZY_BYTES, "lazy": 0}  # the LAZY_BYTES each mode runs with


def main(n: int, rounds: int, cases: list[str]) -> None:
    languages = builtin_languages()
    programs = {case: (languages.compile("javascript", CASES[case][0], timeout=5), CASES[case][1]) for case in cases}
    best = {(case, mode): float("inf") for case in cases for mode in MODES}
    for _ in range(rounds):
        for case, (program, payload) in programs.items():
            for mode, limit in MODES.items():
                javascript.LAZY_BYTES = limit
                for _ in range(min(n, 200)):
                    program.run_inline(payload)
                start = time.perf_counter()
                for _ in range(n):
                    program.run_inline(payload)
                best[case, mode] = min(best[case, mode], (time.perf_counter() - start) / n * 1e6)
    for case in cases:
        whole, default, lazy = (best[case, mode] for mode in MODES)
        print(f"{case:9} whole {whole:8.2f} us   default {default:8.2f} us ({default / whole:4.2f})"
              f"   lazy {lazy:8.2f} us ({lazy / whole:4.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="calls per timing round")
    parser.add_argument("--rounds", type=int, default=20, help="alternating rounds (best kept)")
    parser.add_argument("cases", nargs="*", default=list(CASES), help="the cases to run (default: all)")
    args = parser.parse_args()
    main(args.n, args.rounds, args.cases or list(CASES))
