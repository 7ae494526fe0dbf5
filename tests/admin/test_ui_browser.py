"""The browser view in a real browser: Debian's chromium driven by Playwright (no downloaded browsers)."""

from __future__ import annotations

import shutil

from playwright.sync_api import sync_playwright

from .conftest import LISTENING, LOADED, PING, http

CHROMIUM = shutil.which("chromium")


def test_ping_is_drawn_and_its_counter_rises(start, tmp_path):
    assert CHROMIUM, "chromium is not installed (.ci/run installs it: apt-get install -y chromium)"
    s = start("--from-specs", str(PING), "-e", "PORT=0", "--admin", "127.0.0.1:0")
    admin = s.admin()
    port = int(s.wait_for(LISTENING)[0].group(1))
    s.wait_for(LOADED)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{admin}/ui/")
            page.wait_for_selector("g[data-label='pong']")
            labels = sorted(page.eval_on_selector_all("g[data-label]", "gs => gs.map(g => g.dataset.label)"))
            assert labels == ["listener", "pong", "router"]
            assert page.locator("polyline.edge").count() == 2
            page.screenshot(path=str(tmp_path / "drawn.png"))
            page.wait_for_selector("#status:has-text('live')")
            for _ in range(3):
                assert http(f"http://127.0.0.1:{port}/ping")[2] == "pong"
            page.wait_for_function("document.querySelector(\"g[data-label='pong'] .live\")"
                                   ".getAttribute('data-packets') === '3'", timeout=15000)
            page.screenshot(path=str(tmp_path / "counted.png"))
            page.click("g[data-label='pong']")
            assert "pong (snippet)" in page.inner_text("#detail")
        finally:
            browser.close()
