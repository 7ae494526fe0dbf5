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


SECRET = "sup3r-s3cret-value"
#: ping, whose pong answers with a value bound into it (a secret), and a test.
LEAKY = PING.read_text(encoding="utf-8").replace(
    "  code: pong\n", "  code: 'pong {{ .KEY }}'\n  env:\n    KEY:\n      - name: api-key\n        data: '{{ . }}'\n")


def send(url: str, token: str | None, method: str, data: object) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, headers=headers, method=method, data=json.dumps(data).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_spec_routes_need_the_token_and_are_read_only_without(start, tmp_path):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED)
    status, body = request(f"{admin}/ui/api/specs/pong")
    spec = json.loads(body)
    assert status == 200 and spec["kind"] == "snippet" and spec["state"] == "active" and spec["revision"] > 0
    assert spec["yaml"].startswith("kind: snippet\nname: pong\nlanguage: text\ncode: pong\n")
    assert request(f"{admin}/ui/api/specs/nobody")[0] == 404
    assert json.loads(request(f"{admin}/ui/api/specs/pong/history")[1])["history"][0]["op"] == "insert"
    assert json.loads(request(f"{admin}/ui/api/errors")[1]) == {"errors": []}
    assert json.loads(request(f"{admin}/ui/api/tests")[1]) == {"tests": []}
    # Every write is refused without a token, naming the setting; nothing changes.
    for method, path, data in [("PUT", "specs/pong", {"yaml": spec["yaml"].replace("code: pong", "code: x")}),
                               ("POST", "specs/pong/rollback", {}), ("POST", "tests/run", {})]:
        status, answer = send(f"{admin}/ui/api/{path}", None, method, data)
        assert status == 403 and "admin.token" in answer["error"], (path, answer)
    assert json.loads(request(f"{admin}/ui/api/specs/pong")[1])["revision"] == spec["revision"]


def test_writes_with_the_token(start, tmp_path):
    token = "tok-ui-writes-123"
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0",
              extra_env={"PORTFLOW_ADMIN_TOKEN": token})
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    for path in ("specs/pong", "specs/pong/history", "errors", "tests"):
        assert request(f"{admin}/ui/api/{path}")[0] == 401, path
    assert send(f"{admin}/ui/api/specs/pong", None, "PUT", {"yaml": ""})[0] == 401
    spec = json.loads(request(f"{admin}/ui/api/specs/pong", token)[1])
    # Not YAML, a problem at a field, a stale revision: each refused with its line; nothing stored.
    status, answer = send(f"{admin}/ui/api/specs/pong", token, "PUT", {"yaml": "kind: [snippet\n"})
    assert status == 422 and answer["problems"][0]["message"].startswith("spec 'pong': not YAML: ")
    bad = spec["yaml"].replace("code: pong", "code: pong\nports:\n  out:\n    - port: in")
    status, answer = send(f"{admin}/ui/api/specs/pong", token, "PUT", {"yaml": bad})
    assert status == 422 and answer["problems"][0]["line"] is not None, answer
    edited = spec["yaml"].replace("code: pong", "code: pong2")
    status, answer = send(f"{admin}/ui/api/specs/pong", token, "PUT", {"yaml": edited, "revision": spec["revision"] - 1})
    assert status == 422 and "changed since it was read" in answer["problems"][0]["message"], answer
    assert json.loads(request(f"{admin}/ui/api/specs/pong", token)[1])["revision"] == spec["revision"]
    assert send(f"{admin}/ui/api/specs/pong", token, "PUT", "not an object")[0] == 400
    from portflow.admin.ui import BODY_LIMIT

    status, answer = send(f"{admin}/ui/api/specs/pong", token, "PUT", {"yaml": "x" * BODY_LIMIT})
    assert status == 400 and answer["error"] == f"the request body is over {BODY_LIMIT} bytes", answer
    assert json.loads(request(f"{admin}/ui/api/specs/pong", token)[1])["revision"] == spec["revision"]
    # Saved: a new revision, served; rolled back (to the one before, as `portflow rollback` does).
    status, answer = send(f"{admin}/ui/api/specs/pong", token, "PUT", {"yaml": edited, "revision": spec["revision"]})
    assert status == 200 and answer["ok"] and answer["revision"] > spec["revision"]
    from .test_admin_address import eventually

    assert eventually(lambda: http(f"http://127.0.0.1:{port}/ping")[2] == "pong2")
    status, answer = send(f"{admin}/ui/api/specs/pong/rollback", token, "POST", {})
    assert status == 200 and f"rolled back to revision {spec['revision']}" in answer["message"], answer
    assert eventually(lambda: http(f"http://127.0.0.1:{port}/ping")[2] == "pong")
    status, answer = send(f"{admin}/ui/api/specs/pong/rollback", token, "POST", {"to": 999999})
    assert status == 422 and "has no revision 999999" in answer["problems"][0]["message"]
    status, answer = send(f"{admin}/ui/api/tests/run", token, "POST", {"pattern": "("})
    assert status == 400 and answer["error"].startswith("pattern: ")
    assert "tok-ui-writes" not in s.output


def test_frames_and_errors_are_kept_while_watched_and_masked(start, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(f"- name: api-key\n  data: {SECRET}\n", encoding="utf-8")
    specs = tmp_path / "leaky.yaml"
    specs.write_text(LEAKY, encoding="utf-8")
    s = start("--from-specs", str(specs), "--from-values", str(values), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    assert http(f"http://127.0.0.1:{port}/ping")[2] == f"pong {SECRET}"  # the flow itself sees the value
    assert json.loads(request(f"{admin}/ui/api/specs/pong")[1])["frames"] == []  # nobody watching: not kept
    # Opened (just now) and watched (a page follows the events): its frames are kept.
    stream = events(f"{admin}/ui/api/events")
    next(stream)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/ping", headers={"Authorization": "Bearer abc-credential"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.read().decode() == f"pong {SECRET}"
    spec = json.loads(request(f"{admin}/ui/api/specs/pong")[1])
    assert spec["watching"] and len(spec["frames"]) == 1
    frame = spec["frames"][0]
    assert frame["output"] == '"pong ***"' and '"/ping"' in frame["input"]
    assert "abc-credential" not in frame["input"] and '"Authorization": ["***"]' in frame["input"]
    assert SECRET not in json.dumps(spec)
    for _, event in zip(range(10), stream, strict=False):  # what the link into pong.in carried: both
        if event["ports"].get("pong.in") == 2:
            break
    else:
        raise AssertionError("no event counted the link's packets")


def test_tests_frames_and_links_under_workers(start, tmp_path):
    from .conftest import ROOT, free_port
    from .test_admin_address import eventually

    specs = tmp_path / "tested.yaml"
    specs.write_text(PING.read_text(encoding="utf-8") + "\n" +
                     (ROOT / "examples" / "hello_test.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    token = "tok-ui-workers-77"
    port = free_port()
    s = start("--workers", "2", "--from-specs", str(specs), "-e", f"PORT={port}", "--admin", "127.0.0.1:0",
              extra_env={"PORTFLOW_ADMIN_TOKEN": token})
    admin = s.admin()
    s.wait_for(LOADED, count=2)
    assert json.loads(request(f"{admin}/ui/api/tests", token)[1]) == {"tests": ["default/hello"]}
    # The tests run in a worker's runtime (a second runtime's listener could not bind the port).
    status, answer = send(f"{admin}/ui/api/tests/run", token, "POST", {"pattern": "hello"})
    assert status == 200, answer
    [result] = answer["results"]
    assert result["name"] == "default/hello" and result["passed"] and result["message"] == ""
    # While a page follows the events, the workers keep their frames and count links; merged here.
    spec = json.loads(request(f"{admin}/ui/api/specs/pong", token)[1])
    assert spec["state"] == "active" and spec["frames"] == []
    stream = events(f"{admin}/ui/api/events", token)
    next(stream)

    def watched() -> bool:
        return json.loads(request(f"{admin}/ui/api/frames?node=pong", token)[1])["watching"]

    assert eventually(watched)  # both workers' next heartbeats: each reports while watching
    frames = json.loads(request(f"{admin}/ui/api/frames?node=pong", token)[1])["frames"]
    for _ in range(6):
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
    assert eventually(lambda: len(json.loads(request(f"{admin}/ui/api/frames?node=pong", token)[1])["frames"])
                      >= len(frames) + 6)
    for _, event in zip(range(15), stream, strict=False):
        if event["ports"].get("pong.in", 0) >= 6:
            break
    else:
        raise AssertionError("no event counted the workers' link packets")


def test_a_preview_is_masked_before_it_is_cut():
    from portflow.admin.recent import PREVIEW, _kept, preview
    from portflow.logs import hide

    secret = "zz-preview-secret-4711"
    hide([secret])
    text = preview({"body": "x" * (PREVIEW - 15) + secret + "y" * 50})  # the secret across the cut
    assert len(text) == PREVIEW and "zz-" not in text and "***" in text and text.endswith("…")
    assert "***" in preview({"header": {"Authorization": ["Bearer abc"]}, "note": secret})
    assert "abc" not in preview({"header": {"Authorization": ["Bearer abc"]}})
    big = {"body": b"y" * 10_000_000}
    assert len(_kept(big)["body"]) < 10_000 and big["body"] == b"y" * 10_000_000
