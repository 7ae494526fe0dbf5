"""The work of benchmarks/flows.sh's flows as a bare ASGI app (no engine), the floor to measure against.

    granian --interface asgi --loop uvloop --working-dir benchmarks flows_bare:app   (or any ASGI server)

``GET /ping`` answers ``pong``; ``POST /greet`` reads the JSON body ``{"name", "n", "tags"}`` and answers
``{greeting, double, tags upper-cased}`` as JSON, as the greet flows do (``POST /fanout`` the fan-out
flow's answer). The gap between this app and portflow on the same path is the engine's own cost.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"4")]


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/ping":
        await send({"type": "http.response.start", "status": 200, "headers": _TEXT})
        await send({"type": "http.response.body", "body": b"pong"})
        return
    b = _decode(await _body(receive))
    if path == "/greet":
        answer: Any = {"greeting": "hello " + b["name"], "double": b["n"] + b["n"],
                       "tags": [t.upper() for t in b["tags"]]}
    else:
        parts = [t.upper() for t in [*b["tags"], b["name"]]]
        answer = [*parts[:3], parts]
    data = _encode(answer)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
