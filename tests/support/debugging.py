"""What the debugger's tests share: a listener with a slow and a fast route, and waiting for a held hop."""

from __future__ import annotations

import asyncio

from portflow.debugger import Debugger, Pause

SLOW_AND_FAST = """
- kind: listener
  name: http
  port: 0
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /slow
      port: out[0]
    - method: GET
      path: /fast
      port: out[1]
  ports:
    out[0]:
      - name: slow
        port: in
    out[1]:
      - name: fast
        port: in
- kind: snippet
  name: slow
  language: text
  code: slow answer
- kind: snippet
  name: fast
  language: text
  code: fast answer
"""


async def held(debugger: Debugger) -> Pause:
    """The current held hop, once there is one (woken by the debugger, never by polling)."""
    async with asyncio.timeout(10):
        while debugger.current is None:
            await debugger.changed()
    assert debugger.current is not None
    return debugger.current
