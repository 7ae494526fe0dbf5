"""A NUL byte in a PostgreSQL parameter (issue 12 item 10): a clear error through the ``error`` port.

(The query is built in Python: CEL cuts strings at a NUL byte, a language bug reported apart.)"""

from __future__ import annotations

import aiohttp

FLOW = """
- kind: listener
  name: listener
  port: 0
  ports:
    out: [{{name: build, port: in}}]
- kind: snippet
  name: build
  language: python
  code: '["SELECT :name::text AS name", self["body"]]'
  ports:
    out: [{{name: query, port: in}}]
- kind: sql
  name: query
  driver: postgres
  source: '{source}'
  ports:
    error: [{{name: refuse, port: in}}]
- kind: snippet
  name: refuse
  language: python
  code: '{{"status": 400, "body": {{"error": str(self)}}}}'
"""


async def test_a_nul_byte_in_a_parameter_answers_through_the_error_port(flow, postgres_url, caplog):
    rt = await flow(FLOW.format(source=postgres_url))
    port = rt.table.lookup("default", "listener").node.port
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/", json={"name": "a\u0000b"}) as resp:
            status, body = resp.status, await resp.text()
        async with session.post(f"http://127.0.0.1:{port}/", json={"name": "ab"}) as resp:
            ok = resp.status
    assert (status, ok) == (400, 200), body
    assert "cannot contain NUL (0x00) bytes" in body
    assert "Traceback" not in caplog.text
