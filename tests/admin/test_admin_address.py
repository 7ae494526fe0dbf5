"""`portflow start --admin`: real HTTP to /healthz, /readyz and /metrics of a running namespace."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from .conftest import LISTENING, LOADED, PING, free_port, http


def metrics(admin: str) -> dict[str, list]:
    status, content_type, text = http(f"{admin}/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict[str, list], sample: str, **labels: str) -> float | None:
    family = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    for s in families.get(family, []):
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


def eventually(fn, timeout: float = 10.0):
    """Poll ``fn`` until it returns a truthy value (a request's process exits just after it answered)."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_a_healthy_namespace_is_ready_and_counted(start):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    assert http(f"{admin}/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
    status, content_type, body = http(f"{admin}/readyz")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"ready": True, "not_ready": [], "warnings": []}
    for _ in range(3):
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
    assert http(f"http://127.0.0.1:{port}/nope")[0] == 404

    def counted():
        families = metrics(admin)
        ok = value(families, "portflow_http_requests_total", listener="listener", method="GET", route="/ping",
                   status="200") == 3
        return families if ok else None

    families = eventually(counted)
    assert families, metrics(admin)
    assert value(families, "portflow_http_requests_total", listener="listener", route="", status="404") == 1
    assert value(families, "portflow_http_request_duration_seconds_count", listener="listener", method="GET",
                 route="/ping") == 3
    assert value(families, "portflow_packets_total", namespace="default", node="pong", kind="snippet",
                 port="in") == 3
    assert value(families, "portflow_packets_total", node="router", kind="router", port="in") == 4
    assert value(families, "portflow_node_duration_seconds_count", node="pong", kind="snippet") == 3
    assert value(families, "portflow_errors_total", node="pong") == 0
    assert value(families, "portflow_symbols", namespace="default", state="active") == 3
    assert value(families, "portflow_symbols", namespace="default", state="failed") == 0
    assert value(families, "portflow_processes_active") == 0
    assert "portflow_reloads" in families and "portflow_store_lag_seconds" in families
    assert http(f"{admin}/other")[0] == 404
    try:
        urllib.request.urlopen(urllib.request.Request(f"{admin}/metrics", data=b"x", method="POST"), timeout=5)
    except urllib.error.HTTPError as err:
        assert (err.code, err.headers["Allow"]) == (405, "GET, HEAD")
    else:
        raise AssertionError("POST /metrics was accepted")


def test_a_spec_change_counts_a_reload_and_its_lag(start, tmp_path):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED)
    specs = tmp_path / "pong.yaml"
    specs.write_text("- kind: snippet\n  name: pong\n  language: text\n  code: pong v2\n")
    import subprocess

    from .conftest import PORTFLOW

    env = {"PORTFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'portflow.db'}", "PATH": "/usr/bin:/bin"}
    applied = subprocess.run([PORTFLOW, "apply", "specs", "-f", str(specs)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    def reloaded():
        families = metrics(admin)
        return families if value(families, "portflow_reloads_total", namespace="default", op="update") == 1 else None

    families = eventually(reloaded)
    assert families, metrics(admin)
    assert value(families, "portflow_store_lag_seconds_count", namespace="default") == 1
    lag = value(families, "portflow_store_lag_seconds_sum", namespace="default")
    assert lag is not None and 0 <= lag < 30


def test_a_taken_port_makes_the_namespace_unready(start, taken_port):
    port = taken_port
    s = start("--from-specs", str(PING), "-e", f"PORT={port}", extra_env={"PORTFLOW_ADMIN_LISTEN": "127.0.0.1:0"})
    admin = s.admin()
    s.wait_for(LOADED)
    assert http(f"{admin}/healthz")[0] == 200
    status, _, body = http(f"{admin}/readyz")
    assert status == 503
    report = json.loads(body)
    assert report["ready"] is False
    reason = f"load failed: cannot listen on *:{port}: Address already in use"
    assert report["not_ready"] == [{"spec": "listener", "kind": "listener", "reason": reason,
                                    "message": f"spec 'listener' (kind listener): {reason}"}]
    assert f"spec 'listener' (kind listener): {reason}" in s.output  # the same words as the log
    families = metrics(admin)
    assert value(families, "portflow_symbols", state="failed") == 1
    assert value(families, "portflow_symbols", state="active") == 2


INACTIVE = """\
- kind: listener
  name: listener
  port: 0
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /ping
      port: out[0]
  ports:
    out[0]:
      - name: pongg
        port: in
- kind: snippet
  name: pong
  language: text
  code: pong
"""


def test_an_inactive_spec_makes_the_namespace_unready(start, tmp_path):
    specs = tmp_path / "inactive.yaml"
    specs.write_text(INACTIVE)
    s = start("--from-specs", str(specs), "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED)
    status, _, body = http(f"{admin}/readyz")
    assert status == 503
    entries = {e["spec"]: e for e in json.loads(body)["not_ready"]}
    assert sorted(entries) == ["listener", "router"]
    assert entries["router"]["message"] == ("spec 'router' (kind router): ports.out[0][0].name: no spec named "
                                            "'pongg' in namespace 'default' (did you mean 'pong'?); inactive until "
                                            "it exists")
    assert entries["router"]["message"] in s.output  # what the load logged
    assert entries["listener"]["reason"] == "inactive: target 'router' is not active"
    assert value(metrics(admin), "portflow_symbols", state="inactive") == 2


def test_strict_exits_1_when_a_port_is_taken(start, taken_port):
    port = taken_port
    s = start("--strict", "--from-specs", str(PING), "-e", f"PORT={port}")
    assert s.proc.wait(timeout=60) == 1
    s.stop()
    assert (f"error: not ready: spec 'listener' (kind listener): load failed: cannot listen on *:{port}: "
            "Address already in use") in s.output


def test_strict_keeps_serving_when_all_is_ready(start):
    port = free_port()
    s = start("--strict", "--from-specs", str(PING), "-e", f"PORT={port}", "--admin", "127.0.0.1:0")
    admin = s.admin()
    s.wait_for(LOADED)
    assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
    assert http(f"{admin}/readyz")[0] == 200
    assert s.proc.poll() is None
    assert s.stop() == 0


def test_a_bad_admin_address_is_one_line(start):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "localhost")
    assert s.proc.wait(timeout=60) == 1
    s.stop()
    assert s.output == "error: admin.listen: expected HOST:PORT (such as 127.0.0.1:9090), got 'localhost'\n"


def test_a_taken_admin_address_is_one_line(start):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", f"127.0.0.1:{port}")
        assert s.proc.wait(timeout=60) == 1
        s.stop()
    assert s.output.endswith(f"error: admin.listen: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    assert "Traceback" not in s.output
