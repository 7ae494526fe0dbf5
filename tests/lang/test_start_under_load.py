"""A real ``portflow start`` whose snippets spin: other routes keep answering, and SIGTERM ends it in time."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

SPECS = """
- kind: listener
  name: listener
  protocol: http
  port: {port}
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - {{method: GET, path: /ping, port: "out[0]"}}
    - {{method: GET, path: /js, port: "out[1]"}}
    - {{method: GET, path: /cel, port: "out[2]"}}
  ports:
    out[0]: [{{name: pong, port: in}}]
    out[1]: [{{name: spin-js, port: in}}]
    out[2]: [{{name: spin-cel, port: in}}]
- kind: snippet
  name: pong
  language: text
  code: pong
- kind: snippet
  name: spin-js
  language: javascript
  timeout: 5s
  code: "export default async function () {{ for (;;) {{ await null }} }}"
- kind: snippet
  name: spin-cel
  language: cel
  timeout: 5s
  code: "lists.range(1000000).map(x, lists.range(1000000).map(y, y)).size()"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_spinning_snippets_neither_stop_other_routes_nor_sigterm(tmp_path: Path):
    port = _free_port()
    specs = tmp_path / "flow.yaml"
    specs.write_text(SPECS.format(port=port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", "--from-specs", str(specs)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if _get(f"http://127.0.0.1:{port}/ping", 1) == (200, "pong"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the runtime never answered"
            time.sleep(0.1)
        answers: list[tuple[str, int]] = []

        def spinner(path: str) -> threading.Event:
            sent = threading.Event()

            def run() -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    conn.request("GET", path)
                    sent.set()  # the request is in the server's socket
                    answers.append((path, conn.getresponse().status))
                finally:
                    conn.close()

            threading.Thread(target=run, daemon=True).start()
            return sent

        spinners = [spinner(p) for p in ("/js", "/cel", "/js", "/cel")]
        assert all(sent.wait(30) for sent in spinners)
        assert _get(f"http://127.0.0.1:{port}/ping", 30) == (200, "pong")
        assert answers == []  # answered while the four snippets (5 s timeouts) still spin
        while len(answers) < 4:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)  # polling for the spinners' answers; each ends at its snippet's timeout
        assert sorted(p for p, _ in answers) == ["/cel", "/cel", "/js", "/js"]
        assert all(status >= 400 for _, status in answers), answers
        again = [spinner(p) for p in ("/js", "/cel")]  # spinning again while the signal arrives
        assert all(sent.wait(30) for sent in again)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
            raise AssertionError(f"SIGTERM was not honoured within 60 s:\n{err[-2000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
