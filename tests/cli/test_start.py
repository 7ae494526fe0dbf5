"""`portflow start`: seeding from files, bad input, serving, and a clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .conftest import ROOT

PING = ROOT / "examples" / "ping.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_yaml_syntax_error_names_file_and_line_and_writes_nothing(cli):
    path = cli.write("broken.yaml", "- kind: snippet\n  name: a\n  code: [unclosed\n- kind: b\n")
    result = cli("start", "--from-specs", path)
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"error: {path}:")
    assert len(result.output.strip().splitlines()) == 1
    assert cli.docs("specs") == []


def test_an_unreadable_file_is_one_line(cli):
    result = cli("start", "--from-specs", "nowhere.yaml")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: nowhere.yaml: No such file or directory"]


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_pong(url: str, proc: subprocess.Popen, text: str = "pong") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.read().decode() == text:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no {text!r} from {url}")


def test_bad_specs_are_reported_one_line_each_and_the_valid_ones_serve(tmp_path):
    port = free_port()
    bad = PING.read_text() + """
- name: no-kind
  code: x
- kind: snippet
  name: pong
  language: text
  code: second pong with the same name
- kind: snippet
  name: odd-port
  language: text
  code: x
  ports:
    out[x]:
      - name: pong
        port: in
- kind: listener
  name: wrong-type
  port: eighty
"""
    specs = tmp_path / "flow.yaml"
    specs.write_text(bad)
    proc = start(tmp_path, "--from-specs", str(specs), "-e", f"PORT={port}")
    try:
        wait_for_pong(f"http://127.0.0.1:{port}/ping", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "error: spec 'no-kind': kind: required" in errors
    assert any("spec 'pong' (kind snippet): name 'pong' is used twice" in line for line in errors)
    assert any(line.startswith("error: spec 'odd-port' (kind snippet): ports.out[x]: invalid port name")
               for line in errors)
    assert "error: spec 'wrong-type' (kind listener): port: expected int, got str" in errors
    assert len(errors) == 4
    assert "created spec default/listener" in out and "specs: 3 created" in out
    assert "Traceback" not in err


def test_start_serves_and_sigterm_unloads_and_exits_0(tmp_path):
    port = free_port()
    proc = start(tmp_path, "--from-specs", str(PING), "-e", f"PORT={port}")
    try:
        wait_for_pong(f"http://127.0.0.1:{port}/ping", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "shutting down" in err
    # The listener unloaded: the port is free again (SO_REUSEADDR, as servers do: the test's own closed
    # client connections may linger in TIME_WAIT).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
    # A second start with the same file changes nothing.
    again = start(tmp_path, "--from-specs", str(PING), "-e", f"PORT={port}")
    try:
        wait_for_pong(f"http://127.0.0.1:{port}/ping", again)
    finally:
        again.send_signal(signal.SIGTERM)
        out, _ = again.communicate(timeout=30)
    assert "specs: 3 unchanged" in out
