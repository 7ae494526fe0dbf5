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
