"""Microseconds per HTTP request inside the engine, without a socket: the listener's RSGI handler (granian's
interface, the default server's) is called with a ready scope and a protocol object that hands over the
body and keeps the answer. So the figures are
the engine's own cost per request (exchange, body decoding, router, snippet, answer encoding), steady even on
a busy box, and the process is easy to profile (``py-spy record --native -- python benchmarks/requests.py``).

    .venv/bin/python benchmarks/requests.py [--n 20000] [CASE ...]

Cases: get_ping, post_ping (a 5-byte text body), post_ping_json (the greet body), greet_javascript,
greet_cel, greet_python, fanout (split over 4 python snippets, merge). Prints figures, asserts nothing; the
last line is ``name=us ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from portflow.lang import builtin_languages
from portflow.plugins.ctrl.merge import MergeNode
from portflow.plugins.ctrl.snippet import SnippetNode
from portflow.plugins.ctrl.split import SplitNode
from portflow.plugins.net.listener import Listener
from portflow.plugins.net.router import Router

GREET = b'{"name": "ada", "n": 21, "tags": ["x", "y", "z"]}'
CODE = {
    "javascript": "export default function (args) {\n  const b = args.body;\n  return { greeting: 'hello ' + b.name, "
                  "double: b.n + b.n, tags: b.tags.map((t) => t.toUpperCase()) };\n}",
    "cel": '{"greeting": "hello " + body.name, "double": body.n + body.n, "tags": body.tags.map(t, t.upperAscii())}',
    "python": 'def main(self):\n    b = self["body"]\n    return {"greeting": "hello " + b["name"], "double": b["n"] + '
              'b["n"], "tags": [t.upper() for t in b["tags"]]}',
}
HEADERS = [(b"host", b"127.0.0.1:8080")]  # what wrk sends


class Headers:
    """RSGI's header map: text pairs, lowercase names."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs


class Scope:
    """An RSGI request scope, as granian makes it."""

    proto = "http"
    http_version = "1.1"
    scheme = "http"
    server = "127.0.0.1:8080"
    client = "127.0.0.1:40000"
    query_string = ""

    def __init__(self, method: str, path: str, headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.path = path
        self.headers = Headers(headers)


class Proto:
    """An RSGI protocol object: the body in one call; the answer kept in ``answer``."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)

    async def client_disconnect(self) -> None:
        await asyncio.get_running_loop().create_future()


def scope(method: str, path: str, body: bytes | None, content_type: str = "application/json") -> Scope:
    headers = [(k.decode(), v.decode()) for k, v in HEADERS]
    if body is not None:
        headers += [("content-type", content_type), ("content-length", str(len(body)))]
    return Scope(method, path, headers)


def build(case: str) -> tuple[Listener, Scope, bytes]:
    languages = builtin_languages()
    listener = Listener("127.0.0.1", 0)
    if case.endswith("ping") or case.startswith("post_ping"):
        method = "GET" if case == "get_ping" else "POST"
        router = Router([(method, "/ping", 0)])
        node = SnippetNode(languages.compile("text", "pong"))
        listener.out_port.link(router.in_port)
        router.out(0).link(node.in_port)
        body = {"get_ping": b"", "post_ping": b"hello", "post_ping_json": GREET}[case]
        ctype = "text/plain" if case == "post_ping" else "application/json"
        return listener, scope(method, "/ping", body or None, ctype), body
    router = Router([("POST", "/greet", 0)])
    listener.out_port.link(router.in_port)
    if case.startswith("greet_"):
        language = case.removeprefix("greet_")
        node = SnippetNode(languages.compile(language, CODE[language], timeout=5))
        router.out(0).link(node.in_port)
    else:  # fanout
        parts = SnippetNode(languages.compile("python", 'self["body"]["tags"] + [self["body"]["name"]]'))
        split, merge = SplitNode(), MergeNode()
        router.out(0).link(parts.in_port)
        parts.out_port.link(split.in_port)
        for i in range(4):
            upper = SnippetNode(languages.compile("python", "self.upper()"))
            split.out(i).link(upper.in_port)
            upper.out_port.link(merge.input(i))
    return listener, scope("POST", "/greet", GREET), GREET


async def per_request_us(case: str, n: int) -> tuple[float, bytes]:
    listener, sc, body = build(case)
    proto = Proto(body)
    handle = listener.handle_rsgi
    for _ in range(min(n, 2000)):
        await handle(sc, proto)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            await handle(sc, proto)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    if proto.answer is None:
        return best, b"-"
    return best, f"{proto.answer[0]} {proto.answer[2][:60]!r}".encode()


CASES = ["get_ping", "post_ping", "post_ping_json", "greet_javascript", "greet_cel", "greet_python", "fanout"]


async def main(n: int, cases: list[str]) -> None:
    figures = {}
    for case in cases:
        us, seen = await per_request_us(case, n)
        figures[case] = us
        print(f"{case:18} {us:8.2f} us/request   {seen.decode()}")
    print(" ".join(f"{k}={v:.2f}" for k, v in figures.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="requests per timing round (3 rounds, best kept)")
    parser.add_argument("cases", nargs="*", default=CASES, help="the cases to run (default: all)")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.n, args.cases or CASES))
