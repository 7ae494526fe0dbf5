"""The real ``portflow`` executable: exit statuses and output, against a SQLite store in tmp."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PORTFLOW = str(Path(sys.executable).with_name("portflow"))


@pytest.fixture
def sh(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PORTFLOW, *args], cwd=tmp_path, env=env, input=stdin, capture_output=True,
                              text=True, timeout=60)

    return run


def test_usage_error_exits_2(sh):
    result = sh("nonsense")
    assert result.returncode == 2 and "No such command 'nonsense'" in result.stderr and result.stdout == ""


def test_apply_then_get_values(sh):
    applied = sh("apply", "values", "-f", "-", stdin="- name: api-key\n  data: sk-123\n")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[1].split()[0] == "created"
    got = sh("get", "values")
    assert got.returncode == 0
    assert got.stdout.splitlines()[1].split()[2:] == ["api-key", "***"] and "sk-123" not in got.stdout
    assert sh("get", "values", "--show-data", "-o", "json").stdout.count("sk-123") == 1


def test_failures_are_one_line_without_traceback_unless_debug(sh):
    quiet = sh("apply", "specs", "-f", "missing.yaml")
    assert quiet.returncode == 1 and quiet.stderr == "error: missing.yaml: No such file or directory\n"
    assert quiet.stdout == ""
    loud = sh("--log-level", "debug", "apply", "specs", "-f", "missing.yaml")
    assert loud.returncode == 1 and "Traceback" in loud.stderr
    assert loud.stderr.endswith("error: missing.yaml: No such file or directory\n")


def test_example_test_passes(sh):
    result = sh("test", "--from-specs", str(ROOT / "examples" / "hello_test.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PASS\tdefault/hello\t") and result.stdout.endswith("1 passed, 0 failed\n")


def test_history_rollback_and_a_conflict(sh):
    spec = "- kind: snippet\n  name: greet\n  language: text\n  code: {}\n"
    assert sh("apply", "specs", "-f", "-", stdin=spec.format("one")).returncode == 0
    assert sh("apply", "specs", "-f", "-", stdin=spec.format("two")).returncode == 0
    history = sh("history", "greet")
    assert history.returncode == 0, history.stderr
    newest, oldest = (line.split() for line in history.stdout.splitlines()[1:])
    assert (newest[2], oldest[2]) == ("update", "insert")
    stale = sh("apply", "specs", "-f", "-", "--expect-revision", oldest[0], stdin=spec.format("three"))
    assert stale.returncode == 1 and "expected revision" in stale.stderr and "nothing applied" in stale.stderr
    back = sh("rollback", "greet")
    assert back.returncode == 0, back.stderr
    assert back.stdout.startswith(f"spec 'greet' rolled back to revision {oldest[0]} (now revision ")
    assert "code: one" in sh("get", "specs", "greet", "-o", "yaml").stdout


def test_apply_ping_yaml_without_the_resource_word(sh):
    result = sh("apply", "-f", str(ROOT / "examples" / "ping.yaml"))
    assert result.returncode == 0, result.stderr
    assert sorted(line.split()[-1] for line in result.stdout.splitlines()[1:]) == ["listener", "pong", "router"]


def test_get_watch_prints_changes_as_they_happen(sh, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    sh("apply", "specs", "-f", "-", stdin="- kind: snippet\n  name: first\n  language: text\n  code: a\n")
    watcher = subprocess.Popen([PORTFLOW, "get", "specs", "-w", "--count", "2"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[:4] == ["ID", "KIND", "NAMESPACE", "NAME"]
        assert watcher.stdout.readline().split()[1:4] == ["snippet", "default", "first"]  # ready: watching
        sh("apply", "specs", "-f", "-", stdin="- kind: snippet\n  name: second\n  language: text\n  code: b\n")
        sh("delete", "specs", "--name", "first")
        out, err = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert [(line[0], line[2], line[-1]) for line in lines] == [("insert", "snippet", "second"),
                                                                 ("delete", "-", "first")]


def test_a_rollback_reaches_a_running_runtime(sh, tmp_path):
    """`portflow start` serves ping; an apply changes the answer, a rollback brings it back: both are
    ordinary writes, and the runtime follows them through the change stream."""
    from .test_start import free_port, start, wait_for_pong

    port = free_port()
    proc = start(tmp_path, "--from-specs", str(ROOT / "examples" / "ping.yaml"), "-e", f"PORT={port}")
    try:
        url = f"http://127.0.0.1:{port}/ping"
        wait_for_pong(url, proc)
        changed = "- kind: snippet\n  name: pong\n  language: text\n  code: changed\n"
        assert sh("apply", "-f", "-", stdin=changed).returncode == 0
        wait_for_pong(url, proc, "changed")
        back = sh("rollback", "pong")
        assert back.returncode == 0, back.stderr
        wait_for_pong(url, proc, "pong")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
