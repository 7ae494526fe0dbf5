"""Run the real ``portflow start`` with an admin address, and read what it says while it runs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PING = ROOT / "examples" / "ping.yaml"
PORTFLOW = str(Path(sys.executable).with_name("portflow"))
ADMIN = re.compile(r"admin address: http://127\.0\.0\.1:(\d+)")
LISTENING = re.compile(r"listening on http://\*:(\d+)")
LOADED = re.compile(r"namespace '[^']+': \d+ spec\(s\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, timeout: float = 5.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read().decode()


class Started:
    """A ``portflow start`` process; ``wait_for(pattern)`` blocks until its log has a matching line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([PORTFLOW, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], count: int = 1, timeout: float = 60.0) -> list[re.Match[str]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for line in self.lines if (m := pattern.search(line))]
                if len(found) >= count:
                    return found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"portflow exited ({self.proc.returncode}):\n{self.output}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line matching {pattern.pattern!r} in {timeout}s:\n{self.output}")
                self._changed.wait(min(left, 0.5))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def admin(self) -> str:
        return f"http://127.0.0.1:{self.wait_for(ADMIN)[0].group(1)}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    """``start(*args)`` runs ``portflow start *args`` on a SQLite store in tmp; all are stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFLOW_", "PROMETHEUS_"))}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    started: list[Started] = []

    def run(*args: str, extra_env: dict[str, str] | None = None) -> Started:
        s = Started(["start", *args], tmp_path, {**env, **(extra_env or {})})
        started.append(s)
        return s

    yield run
    for s in started:
        s.stop()
        print(s.output)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on, on every interface (a listener cannot bind it)."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        yield int(taken.getsockname()[1])
