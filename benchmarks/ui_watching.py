"""The browser view's cost: ping req/s with a browser watching the page against none, its first load, and a
namespace of 100 nodes drawn and updated.

Starts `portflow start --admin` on examples/ping.yaml (SQLite store in a temp dir) and runs
`wrk -t1 -c64 -d10s` against it, alternating: nobody watching, then Debian's chromium (Playwright) with
/ui/ open and following its event stream, 3 rounds. Then the page's first load (navigation to the stream
being live) and, on a chain of 100 snippets, the time to draw it and the longest update of the counters
(one event; a frame at 60 Hz is 16.7 ms). The load generator and the browser share the machine's cores
with the server, so req/s swings with the neighbours' load: it also prints the server's own CPU time per
request (user + system, from /proc, over the same runs) and the throughput ratio that implies (unwatched's
CPU per request over watched's). Prints figures only; asserts nothing. Last line: ``unwatched_rps=X
watched_rps=Y ratio=Z cpu_ratio=C first_load_ms=L draw100_ms=D update100_ms=U``. Needs wrk, chromium.
``WATCHER=stream`` watches with a plain client reading the event stream instead of the browser (the
server's cost alone, without the browser's CPU on the same cores).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PING = ROOT / "examples" / "ping.yaml"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "10")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chain(n: int) -> str:
    """ping's listener and router, then ``n`` snippets in a row."""
    text = PING.read_text(encoding="utf-8").split("- kind: snippet")[0].replace("name: pong", "name: s1")
    for i in range(1, n + 1):
        text += f"\n- kind: snippet\n  name: s{i}\n  language: cel\n  code: self\n"
        if i < n:
            text += f"  ports:\n    out:\n      - name: s{i + 1}\n        port: in\n"
    return text


def start(specs: Path, tmp: Path) -> tuple[subprocess.Popen, str, str]:
    port, admin = free_port(), free_port()
    env = {**os.environ, "PORTFLOW_DATABASE_URL": f"sqlite:///{tmp}/{specs.stem}.db"}
    proc = subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "--log-level", "warning", "start",
                             "--from-specs", str(specs), "-e", f"PORT={port}", "--admin", f"127.0.0.1:{admin}"],
                            env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/ping"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
                return proc, url, f"http://127.0.0.1:{admin}/ui/"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"{specs.name} did not answer at {url}")


def wrk(url: str, duration: str) -> tuple[float, int]:
    """(req/s, requests) of one run."""
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{duration}s", url], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), int(re.search(r"(\d+) requests in", out).group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if shutil.which("wrk") is None or chromium is None:
        sys.exit("needs wrk and chromium (apt-get install wrk chromium)")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        proc, url, ui = start(PING, Path(tmp))
        results: dict[str, list[float]] = {"unwatched": [], "watched": []}
        cpu: dict[str, list[float]] = {"unwatched": [0.0, 0.0], "watched": [0.0, 0.0]}  # seconds, requests
        try:
            wrk(url, "3")  # warm-up
            for r in range(ROUNDS):
                for mode in ("unwatched", "watched"):
                    page = stream = None
                    if mode == "watched" and os.environ.get("WATCHER") == "stream":
                        stream = urllib.request.urlopen(ui + "api/events", timeout=30)
                        stream.readline()
                        reader = threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True)
                        reader.start()
                    elif mode == "watched":
                        page = browser.new_page()
                        page.goto(ui)
                        page.wait_for_selector("#status:has-text('live')")
                    before = cpu_seconds(proc.pid)
                    rps, requests = wrk(url, DURATION)
                    cpu[mode][0] += cpu_seconds(proc.pid) - before
                    cpu[mode][1] += requests
                    if page is not None:
                        moved = page.text_content("g[data-label='pong'] .live")
                        page.close()
                    if stream is not None:
                        stream.close()
                    results[mode].append(rps)
                    print(f"round {r + 1} {mode:9} {rps:10.1f} req/s" +
                          f" {1e6 * cpu[mode][0] / max(cpu[mode][1], 1):6.1f} us CPU/request so far" +
                          (f"  (the page showed pong: {moved})" if page is not None else ""), flush=True)
            page = browser.new_page()
            began = time.perf_counter()
            page.goto(ui)
            page.wait_for_selector("#status:has-text('live')")
            first = (time.perf_counter() - began) * 1000
            page.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        specs = Path(tmp) / "chain100.yaml"
        specs.write_text(chain(100), encoding="utf-8")
        proc, url, ui = start(specs, Path(tmp))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 850})
            page.add_init_script("""
              window.__longest = 0;
              const wrap = () => { const f = window.live; if (!f || f.__timed) return setTimeout(wrap, 5);
                window.live = live = function (d) { const t = performance.now(); f(d);
                  window.__longest = Math.max(window.__longest, performance.now() - t); }; live.__timed = true; };
              window.addEventListener('DOMContentLoaded', wrap);""")
            began = time.perf_counter()
            page.goto(ui)
            page.wait_for_selector("g[data-label='s100']")
            drawn = (time.perf_counter() - began) * 1000
            page.wait_for_selector("#status:has-text('live')")
            subprocess.run(["wrk", "-t1", "-c8", "-d3s", url], capture_output=True, check=True)
            page.wait_for_function("document.querySelector(\"g[data-label='s100'] .live\").textContent !== ''")
            time.sleep(2.5)
            longest = page.evaluate("window.__longest")
            page.screenshot(path=os.environ.get("SHOT", str(Path(tempfile.gettempdir()) / "ui_chain100.png")))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            browser.close()
    off, on = statistics.median(results["unwatched"]), statistics.median(results["watched"])
    per = {mode: seconds / max(requests, 1) for mode, (seconds, requests) in cpu.items()}
    print(f"unwatched_rps={off:.0f} watched_rps={on:.0f} ratio={on / off:.2f} "
          f"cpu_ratio={per['unwatched'] / per['watched']:.2f} first_load_ms={first:.0f} "
          f"draw100_ms={drawn:.0f} update100_ms={longest:.1f}")


if __name__ == "__main__":
    main()
