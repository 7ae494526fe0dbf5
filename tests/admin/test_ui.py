"""The browser view /ui/ of `portflow start --admin`: its JSON API and event stream over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from portflow.admin.ui import quantile

from .conftest import LISTENING, LOADED, PING, http


def request(url: str, token: str | None = None, method: str = "GET") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers, method=method, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def events(url: str, token: str | None = None):
    """The stream's events, one JSON object each, as they come."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
    assert resp.headers["Content-Type"] == "text/event-stream"
    with resp:
        for line in resp:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])


def test_the_page_draws_ping_and_its_counters_move(start):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    status, _, page = http(f"{admin}/ui/")
    assert status == 200 and "app.js" in page
    assert http(f"{admin}/ui/app.js")[0] == 200
    status, body = request(f"{admin}/ui/api/graph")
    assert status == 200
    graph = json.loads(body)
    assert sorted((n["label"], n["kind"]) for n in graph["nodes"]) == [
        ("listener", "listener"), ("pong", "snippet"), ("router", "router")]
    assert sorted(e["label"] for e in graph["edges"]) == ["out → in", "out[0] → in"]
    assert all(len(e["points"]) >= 2 for e in graph["edges"]) and not graph["writable"]
    # Read-only without a token: a write is refused, naming the setting.
    status, body = request(f"{admin}/ui/api/graph", method="POST")
    assert status == 403 and "admin.token" in body
    stream = events(f"{admin}/ui/api/events")
    first = next(stream)
    assert first["nodes"].get("pong", {}).get("packets", 0) == 0
    for _ in range(3):
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
    for _, event in zip(range(30), stream, strict=False):  # one a second; the requests show in a later one
        pong = event["nodes"].get("pong")
        if pong and pong["packets"] == 3:
            break
    else:
        raise AssertionError("no event counted the 3 requests")
    assert pong["pps"] > 0 and pong["errors"] == 0 and pong["p50"] is not None


def test_a_token_protects_the_api(start):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0",
              extra_env={"PORTFLOW_ADMIN_TOKEN": "s3cret-token"})
    admin = s.admin()
    s.wait_for(LOADED)
    assert request(f"{admin}/ui/api/graph")[0] == 401
    assert request(f"{admin}/ui/api/graph", "wrong-token")[0] == 401
    status, body = request(f"{admin}/ui/api/graph", "s3cret-token")
    assert status == 200 and json.loads(body)["writable"] is True
    assert "s3cret-token" not in s.output


def test_quantile_of_buckets():
    assert quantile(.5, (1.0, 2.0), [0, 10, 0]) == 1.5
    assert quantile(.99, (1.0, 2.0), [0, 0, 0]) is None


def test_the_view_under_workers_counts_every_worker(start):
    from .conftest import free_port
    from .test_admin_address import eventually

    port = free_port()
    s = start("--workers", "2", "--from-specs", str(PING), "-e", f"PORT={port}", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED, count=2)
    assert eventually(lambda: http(f"{admin}/readyz")[0] == 200), http(f"{admin}/readyz")
    status, body = request(f"{admin}/ui/api/graph")
    assert status == 200 and len(json.loads(body)["nodes"]) == 3
    for _ in range(10):
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
    stream = events(f"{admin}/ui/api/events")
    for _, event in zip(range(30), stream, strict=False):  # the workers report every second: a later one has all
        if event["nodes"].get("pong", {}).get("packets") == 10:
            break
    else:
        raise AssertionError("no event counted the 10 requests of both workers")
