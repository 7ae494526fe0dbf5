"""The browser view in a real browser: Debian's chromium driven by Playwright (no downloaded browsers).

Each test saves a screenshot of each state it checks under its tmp_path (``*.png``)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from .conftest import LISTENING, LOADED, PING, http
from .test_ui import request

CHROMIUM = shutil.which("chromium")
TOKEN = "ui-test-token-5f1c"

#: ping, with a route whose snippet fails, a test that passes and one that fails.
FLOWS = """
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  ports:
    out:
      - name: router
        port: in
  env:
    PORT:
      data: '{{ .PORT }}'
- kind: router
  name: router
  routes:
    - method: GET
      path: /ping
      port: out[0]
    - method: GET
      path: /boom
      port: out[1]
  ports:
    out[0]:
      - name: pong
        port: in
    out[1]:
      - name: boom
        port: in
- kind: snippet
  name: pong
  language: text
  code: pong
- kind: snippet
  name: boom
  language: cel
  code: int("not a number")
- kind: test
  name: pong-says-pong
  ports:
    out[0]:
      - name: pong
        port: in
    out[1]:
      - name: is-pong
        port: in
- kind: assert
  name: is-pong
  expect: self == "pong"
- kind: test
  name: pong-says-ping
  ports:
    out[0]:
      - name: pong
        port: in
    out[1]:
      - name: is-ping
        port: in
- kind: assert
  name: is-ping
  expect: self == "ping"
"""


@contextlib.contextmanager
def browser_page(admin: str, token: str | None = None) -> Iterator[Page]:
    """A chromium page on the view (with the token in its session, as the page's prompt would keep it)."""
    assert CHROMIUM, "chromium is not installed (.ci/run installs it: apt-get install -y chromium)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 850})
            if token:
                page.add_init_script(f"sessionStorage.setItem('portflow-token', {json.dumps(token)})")
            page.goto(f"{admin}/ui/")
            page.wait_for_selector("#status:has-text('live')")
            yield page
        finally:
            browser.close()


def start_flows(start, tmp_path: Path, text: str = FLOWS, token: str | None = TOKEN) -> tuple[str, int]:
    """``start`` on ``text`` with an admin address: its URL and the listener's port (0: not listening)."""
    specs = tmp_path / "flows.yaml"
    specs.write_text(text, encoding="utf-8")
    s = start("--from-specs", str(specs), "-e", "PORT=0", "--admin", "127.0.0.1:0",
              extra_env={"PORTFLOW_ADMIN_TOKEN": token} if token else None)
    admin = s.admin()
    s.wait_for(LOADED)
    listening = [m for line in s.lines if (m := LISTENING.search(line))]
    return admin, int(listening[0].group(1)) if listening else 0


def test_ping_is_drawn_and_its_counter_rises(start, tmp_path):
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    with browser_page(admin) as page:
        page.wait_for_selector("g[data-label='pong']")
        labels = sorted(page.eval_on_selector_all("g[data-label]", "gs => gs.map(g => g.dataset.label)"))
        assert labels == ["listener", "pong", "router"]
        assert page.locator("polyline.edge").count() == 2
        page.screenshot(path=str(tmp_path / "drawn.png"))
        for _ in range(3):
            assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
        page.wait_for_function("document.querySelector(\"g[data-label='pong'] .live\")"
                               ".getAttribute('data-packets') === '3'", timeout=15000)
        # The links the requests crossed show it: their packets counted, drawn lit.
        page.wait_for_function("document.querySelector(\"polyline[data-link='router.out[0]->pong.in']\")"
                               ".getAttribute('data-packets') === '3'", timeout=5000)
        assert "3 packets" in (page.text_content("#view") or "")
        page.screenshot(path=str(tmp_path / "counted.png"))
        # Opened: the spec as YAML (read-only without a token), active, and the frames that cross it from
        # now on (kept only for the nodes a page has open).
        page.click("g[data-label='pong']")
        page.wait_for_selector("#yaml")
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
        page.wait_for_selector("#frames li", timeout=5000)
        assert "pong (snippet)" in page.inner_text("#detail")
        assert page.inner_text("#state") == "active"
        assert "code: pong" in page.input_value("#yaml") and page.locator("#yaml").get_attribute("readonly") is not None
        assert page.locator("#save").count() == 0
        frames = page.inner_text("#frames")
        assert '"path": "/ping"' in frames and 'out: "pong"' in frames
        page.screenshot(path=str(tmp_path / "opened.png"))


def test_a_broken_link_shows_its_node_inactive_with_the_reason(start, tmp_path):
    broken = PING.read_text(encoding="utf-8").replace("      - name: pong\n", "      - name: pongg\n")
    admin, _ = start_flows(start, tmp_path, broken)
    with browser_page(admin, TOKEN) as page:
        router = page.locator("g[data-label='router']")
        router.wait_for()
        assert "inactive" in (router.get_attribute("class") or "")
        text = router.text_content() or ""
        assert "inactive: " in text and "pongg" in text, text
        page.screenshot(path=str(tmp_path / "broken.png"))
        router.click()
        page.wait_for_selector("#state")
        state = page.inner_text("#state")
        assert state.startswith("inactive: ") and "pongg" in state
        page.screenshot(path=str(tmp_path / "broken-opened.png"))
        # Mended from the page: the router and the listener before it become active, and ping answers.
        page.fill("#yaml", page.input_value("#yaml").replace("name: pongg", "name: pong"))
        page.click("#save")
        page.wait_for_selector("#problems .saved")
        page.wait_for_function("!document.querySelector(\"g[data-label='router']\").classList.contains('inactive')"
                               " && !document.querySelector(\"g[data-label='listener']\").classList.contains('inactive')",
                               timeout=10000)
        assert page.inner_text("#state") == "active"
        page.screenshot(path=str(tmp_path / "mended.png"))


def test_an_edit_is_refused_inline_saved_served_and_rolled_back(start, tmp_path):
    admin, port = start_flows(start, tmp_path)
    before = json.loads(request(f"{admin}/ui/api/specs/pong", TOKEN)[1])
    with browser_page(admin, TOKEN) as page:
        page.click("g[data-label='pong']")
        page.wait_for_selector("#save")
        # A CEL syntax error: refused, the problem shown at its line and field; nothing stored.
        page.fill("#yaml", before["yaml"].replace("language: text", "language: cel").replace(
            "code: pong", "code: '\"pong\" +'"))
        page.click("#save")
        page.wait_for_selector("#problems .problem")
        problem = page.inner_text("#problems")
        assert "line 4 (code): " in problem and "cel: Syntax error" in problem, problem
        page.screenshot(path=str(tmp_path / "refused.png"))
        after = json.loads(request(f"{admin}/ui/api/specs/pong", TOKEN)[1])
        assert after["revision"] == before["revision"] and after["yaml"] == before["yaml"]
        assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
        # A valid edit: stored as a new revision, and the running flow serves it within a second.
        page.fill("#yaml", before["yaml"].replace("code: pong", "code: pong, edited"))
        saved = time.monotonic()  # from the click: admitted, written, picked up from the change stream, served
        page.click("#save")
        while (body := http(f"http://127.0.0.1:{port}/ping")[2]) != "pong, edited":
            assert time.monotonic() - saved < 1.0, f"still {body!r} a second after the save"
            time.sleep(0.02)
        print(f"a saved edit was served {time.monotonic() - saved:.3f}s after the click")
        page.wait_for_selector("#problems .saved")
        assert "code: pong, edited" in page.input_value("#yaml")
        page.screenshot(path=str(tmp_path / "saved.png"))
        # Its history, one click away; rolling back to the first revision restores it.
        page.click("#history")
        page.wait_for_selector(f"tr[data-revision='{before['revision']}'] button.rollback")
        page.screenshot(path=str(tmp_path / "history.png"))
        page.click(f"tr[data-revision='{before['revision']}'] button.rollback")
        page.wait_for_selector("#problems .rolled")
        assert f"rolled back to revision {before['revision']}" in page.inner_text("#problems")
        deadline = time.monotonic() + 5
        while http(f"http://127.0.0.1:{port}/ping")[2] != "pong":
            assert time.monotonic() < deadline, "the rollback was not served"
            time.sleep(0.02)
        assert "code: pong\n" in page.input_value("#yaml")
        page.screenshot(path=str(tmp_path / "rolled-back.png"))


def test_errors_are_listed_and_tests_run_from_the_page(start, tmp_path):
    admin, port = start_flows(start, tmp_path)
    with browser_page(admin, TOKEN) as page:
        page.wait_for_selector("#test-list li")
        assert page.inner_text("#test-list").split() == ["default/pong-says-ping", "default/pong-says-pong"]
        # A failing node: its error listed (time, node, message), once, at the node that failed.
        assert http(f"http://127.0.0.1:{port}/boom")[0] == 500
        page.wait_for_selector("#errors li.err", timeout=5000)
        errors = page.inner_text("#errors")
        assert "boom" in errors and "cannot convert string to int" in errors and "router" not in errors, errors
        assert page.locator("#errors li.err").count() == 1
        page.click("#run-tests")
        page.wait_for_selector("#test-list li.fail")
        results = page.inner_text("#test-list")
        assert "PASS default/pong-says-pong" in results
        assert "FAIL default/pong-says-ping" in results and "self == \"ping\"" in results, results
        page.screenshot(path=str(tmp_path / "tests.png"))
