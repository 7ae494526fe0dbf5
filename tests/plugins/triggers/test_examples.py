"""examples/timer.yaml and examples/file.yaml run in a real runtime and print what their comments say."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


async def printed(capfd, pattern: str, poke=None, timeout: float = 15.0) -> str:
    """Standard output so far, once a line matches ``pattern`` (print writes there); ``poke()`` is called
    every half second until then (a change the watcher may have started too late to see is made again)."""
    seen = ""
    deadline = time.monotonic() + timeout
    poked = 0.0
    while not re.search(pattern, seen, re.MULTILINE):
        assert time.monotonic() < deadline, f"no line matching {pattern!r} in: {seen!r}"
        if poke is not None and time.monotonic() - poked > 0.5:
            poke()
            poked = time.monotonic()
        await asyncio.sleep(0.05)
        seen += capfd.readouterr().out
    return seen


async def test_the_timer_example_prints_each_heartbeat(flow, capfd):
    text = (ROOT / "examples" / "timer.yaml").read_text()
    assert "interval: 10s" in text
    runtime = await flow(text.replace("interval: 10s", "interval: 1s"), namespace="timer")
    assert all(s.loaded for s in runtime.table)
    out = await printed(capfd, r"^heartbeat \d+ at \d{4}-\d\d-\d\dT")
    assert "failed" not in out


async def test_the_file_example_prints_each_json_file(flow, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    runtime = await flow((ROOT / "examples" / "file.yaml").read_text(), namespace="file")
    assert all(s.loaded for s in runtime.table)
    out = await printed(capfd, r"inbox/a\.json: map\[id:1\]$",
                        poke=lambda: (tmp_path / "inbox" / "a.json").write_text('{"id": 1}'))
    assert re.search(r"^(added|modified) \S*inbox/a\.json: map\[id:1\]$", out, re.MULTILINE), out
