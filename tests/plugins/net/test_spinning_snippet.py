"""A snippet that never returns times out; meanwhile the listener keeps answering everyone else."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

FLOW = """
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: 0
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /spin
      port: out[0]
    - method: GET
      path: /ping
      port: out[1]
  ports:
    out[0]:
      - name: spin
        port: in
    out[1]:
      - name: pong
        port: in
- kind: snippet
  name: spin
  language: {language}
  timeout: 5s
  code: |
{code}
- kind: snippet
  name: pong
  language: text
  code: pong
"""

SPINNERS = {
    "python": "    def main(self):\n        while True:\n            pass",
    "javascript": "    export default function (args) { for (;;) {} }",
}


@pytest.mark.parametrize("language", sorted(SPINNERS))
async def test_listener_keeps_answering_while_a_snippet_spins(flow, language):
    runtime = await flow(FLOW.format(language=language, code=SPINNERS[language]))
    url = runtime.table.lookup("default", "listener").node.url
    sent = asyncio.Event()
    trace = aiohttp.TraceConfig()

    async def on_headers_sent(_session, _ctx, params) -> None:
        if params.url.path == "/spin":
            sent.set()

    trace.on_request_headers_sent.append(on_headers_sent)
    async with aiohttp.ClientSession(trace_configs=[trace]) as client:
        async def spin() -> tuple[int, str]:
            async with client.get(f"{url}/spin") as resp:
                return resp.status, await resp.text()

        spinning = asyncio.ensure_future(spin())
        await asyncio.wait_for(sent.wait(), 30)  # the spinning request is on its way
        for _ in range(20):
            async with client.get(f"{url}/ping") as resp:
                assert (resp.status, await resp.text()) == (200, "pong")
        assert not spinning.done(), "a ping waited for the spinning snippet (5 s timeout)"
        status, body = await spinning
        assert status == 500 and body == "Internal Server Error"  # the detail goes to the log only
