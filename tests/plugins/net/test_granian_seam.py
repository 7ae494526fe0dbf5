"""The granian seam's assumptions, checked against the installed granian: a failure names its version."""

from __future__ import annotations

import asyncio

from portflow.plugins.net import granian_seam
from portflow.plugins.net.server import serve


def test_installed_granian_is_a_supported_version():
    granian_seam.check()  # raises ConfigError "granian X.Y.Z ..." when the private API moved


async def test_the_seam_serves_a_request_on_the_installed_granian():
    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

    try:
        server = serve(app, "127.0.0.1", 0, server="granian")
        await server.start()
    except Exception as exc:
        raise AssertionError(f"granian {granian_seam.installed()}: the seam cannot start a worker: {exc}") from exc
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.endswith(b"ok"), f"granian {granian_seam.installed()}: unexpected answer {answer!r}"
    finally:
        await server.stop()


def test_an_unsupported_version_is_refused_by_name(monkeypatch):
    import pytest

    from portflow.errors import ConfigError

    monkeypatch.setattr(granian_seam, "installed", lambda: "2.0.1")
    with pytest.raises(ConfigError, match=r"granian 2\.0\.1"):
        granian_seam.check()
