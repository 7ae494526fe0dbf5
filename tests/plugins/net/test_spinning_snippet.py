"""A snippet that never returns times out; meanwhile the listener keeps answering everyone else."""

from __future__ import annotations

import asyncio
import time

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
  timeout: 2s
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
    async with aiohttp.ClientSession() as client:
        async def spin() -> tuple[int, str, float]:
            started = time.monotonic()
            async with client.get(f"{url}/spin") as resp:
                return resp.status, await resp.text(), time.monotonic() - started

        spinning = asyncio.ensure_future(spin())
        await asyncio.sleep(0.2)  # the snippet is spinning now
        for _ in range(20):
            started = time.monotonic()
            async with client.get(f"{url}/ping") as resp:
                assert (resp.status, await resp.text()) == (200, "pong")
            assert time.monotonic() - started < 1.0, "a ping waited for the spinning snippet"
        assert not spinning.done()
        status, body, took = await spinning
        assert status == 500 and body == "Internal Server Error"  # the detail goes to the log only
        assert 1.5 < took < 10
