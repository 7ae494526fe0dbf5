"""Log lines of the real ``portflow`` executable: JSON lines that parse, one access line per request against a
real socket, the warning of an error answered through ``error``, a reload naming what it changed, and no
secret in any line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support.lines import Lines

PORTFLOW = str(Path(sys.executable).with_name("portflow"))
SECRET = "hunter2-very-secret"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

VALUES = f"""
- name: creds
  data: {SECRET}
"""

SPECS = """
- kind: listener
  name: web
  port: 0
  ports:
    out: [{name: router, port: in}]
    error: [{name: oops, port: in}]
- kind: router
  name: router
  routes:
    - {method: GET, path: /ping, port: 'out[0]'}
    - {method: GET, path: /leak, port: 'out[1]'}
  ports:
    'out[0]': [{name: pong, port: in}]
    'out[1]': [{name: leak, port: in}]
- kind: snippet
  name: pong
  language: text
  code: pong
- kind: snippet
  name: leak
  language: text
  code: 'token {{ .TOKEN }}'
  env:
    TOKEN: {name: creds, data: '{{ . }}'}
  ports:
    out: [{name: fail, port: in}]
- kind: throw
  name: fail
- kind: snippet
  name: oops
  language: cel
  code: '{"status": 503, "body": "try later"}'
- kind: snippet
  name: spare
  language: text
  code: spare
"""

# pong changed, spare gone, extra new
CHANGED = SPECS.replace("  code: pong\n", "  code: pong2\n").replace(
    "  name: spare\n  language: text\n  code: spare\n", "  name: extra\n  language: text\n  code: extra\n")


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFLOW_", "OTEL_"))}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    return env


def portflow(env, cwd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PORTFLOW, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _listening(lines: Lines, decode) -> int:
    line = lines.wait_for(lambda text: "listening on" in text, "the listener bound")
    return int(re.search(r"listening on \S+:(\d+)", decode(line)).group(1))


def test_json_lines_access_error_warning_and_reload(env, tmp_path):
    (tmp_path / "values.yaml").write_text(VALUES)
    (tmp_path / "specs.yaml").write_text(SPECS)
    (tmp_path / "changed.yaml").write_text(CHANGED)
    applied = portflow(env, tmp_path, "--log-format", "json", "apply", "values", "-f", "values.yaml")
    assert applied.returncode == 0, applied.stderr
    (created,) = [json.loads(line) for line in applied.stdout.splitlines()]
    assert created["message"] == "created value default/creds"
    assert created["action"] == "created" and created["value"] == "creds" and created["namespace"] == "default"

    server = subprocess.Popen([PORTFLOW, "--log-format", "json", "start", "--from-specs", "specs.yaml"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err, out = Lines(server.stderr), Lines(server.stdout)
        port = _listening(err, lambda line: json.loads(line)["message"])
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/ping?token=abc") == (200, b"pong")
        assert get(f"{base}/leak") == (503, b"try later")
        err.wait_for(lambda line: '"/leak"' in line and "portflow.access" in line, "the access line of /leak")
        reloaded = portflow(env, tmp_path, "--log-format", "json", "apply", "specs", "-f", "changed.yaml", "--prune")
        assert reloaded.returncode == 0, reloaded.stderr
        err.wait_for(lambda line: "reconciled" in line, "the reload")
        assert get(f"{base}/ping") == (200, b"pong2")
        err.wait_for(lambda line: '"status":200' in line and '"/ping"' in line and "pong2" not in line
                     and len([x for x in err.lines if '"/ping"' in x]) >= 2, "the second access line")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    err.thread.join(10)
    out.thread.join(10)
    stderr = [line for line in err.lines if line]
    stdout = [line for line in out.lines if line]
    records = []
    for line in stderr + stdout + reloaded.stdout.splitlines() + reloaded.stderr.splitlines():
        record = json.loads(line)  # every line is one JSON object
        assert ISO.match(record["time"]), record
        assert record["level"] in ("debug", "info", "warning", "error") and record["logger"] and "message" in record
        records.append(record)
    assert not any(SECRET in line for line in stderr + stdout), "a secret in a log line"

    # start's own lines (stdout): what it applied, as JSON with the spec's fields
    web = [r for r in map(json.loads, stdout) if r["message"] == "created spec default/web"]
    assert len(web) == 1 and web[0]["kind"] == "listener" and web[0]["spec"] == "web" and web[0]["action"] == "created"

    # the runtime's lines about a spec or a namespace carry them as fields
    (bound,) = [r for r in records if "listening on" in r["message"]]
    assert (bound["namespace"], bound["spec"], bound["kind"]) == ("default", "web", "listener")
    (loaded,) = [r for r in records if r["logger"] == "portflow.start" and "active" in r["message"]]
    assert loaded["namespace"] == "default"

    # one access line per request, with the listener's fields; the query is not shown
    access = [r for r in records if r["logger"] == "portflow.access"]
    assert [(r["method"], r["path"], r["status"], r["bytes"]) for r in access] == [
        ("GET", "/ping", 200, 4), ("GET", "/leak", 503, 9), ("GET", "/ping", 200, 5)]
    assert all(r["namespace"] == "default" and r["spec"] == "web" and r["kind"] == "listener" for r in access)
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] >= 0 for r in access)
    assert access[0]["message"].startswith("GET /ping 200 4B ") and "token=abc" not in json.dumps(access)

    # the error answered through `error` with 503: one warning naming the listener, the secret masked
    (warning,) = [r for r in records if r["level"] == "warning" and r["logger"] == "portflow.net.listener"]
    assert warning["message"] == "spec 'web' (kind listener): GET /leak: 503: token ***"
    assert (warning["namespace"], warning["spec"], warning["kind"]) == ("default", "web", "listener")

    # the reload names what it added, replaced and removed
    reload = {(r["op"], r["spec"], r["kind"]) for r in records if r["message"].startswith("reload: ")}
    assert reload == {("replaced", "pong", "snippet"), ("added", "extra", "snippet"), ("removed", "spare", "snippet")}
    assert "reload: removed spec 'spare' (kind snippet)" in {r["message"] for r in records}


def test_text_access_lines_and_turning_them_off(env, tmp_path):
    (tmp_path / "specs.yaml").write_text(SPECS)
    (tmp_path / "values.yaml").write_text(VALUES)
    for access in ("true", "false"):
        server = subprocess.Popen([PORTFLOW, "start", "--from-specs", "specs.yaml", "--from-values", "values.yaml"],
                                  cwd=tmp_path,
                                  env={**env, "PORTFLOW_LOGGING_ACCESS": access},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            err, out = Lines(server.stderr), Lines(server.stdout)
            port = _listening(err, lambda line: line)
            assert get(f"http://127.0.0.1:{port}/ping") == (200, b"pong")
            assert get(f"http://127.0.0.1:{port}/nowhere")[0] == 404
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        err.thread.join(10)
        out.thread.join(10)
        lines = [line for line in err.lines if "portflow.access" in line]
        if access == "false":
            assert lines == []
            continue
        assert len(lines) == 2
        assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    portflow\.access: GET /ping 200 4B \d+\.\d\dms", lines[0])
        assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    portflow\.access: GET /nowhere 404 \d+B \d+\.\d\dms", lines[1])
        assert "created spec default/web" in out.lines  # start's own lines stay plain text in the text format


def test_errors_and_usage_errors_are_json_lines_too(env, tmp_path):
    missing = portflow(env, tmp_path, "--log-format", "json", "apply", "specs", "-f", "missing.yaml")
    assert missing.returncode == 1 and missing.stdout == ""
    (line,) = [json.loads(text) for text in missing.stderr.splitlines()]
    assert line["level"] == "error" and line["message"] == "missing.yaml: No such file or directory"
    usage = portflow(env, tmp_path, "--log-format", "json", "start", "--workers", "many")
    assert usage.returncode == 2
    (line,) = [json.loads(text) for text in usage.stderr.splitlines()]
    assert line["level"] == "error" and line["message"].startswith("Invalid value for '--workers': 'many'")
    assert ISO.match(line["time"])
