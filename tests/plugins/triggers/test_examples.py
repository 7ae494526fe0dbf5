"""examples/timer.yaml and examples/file.yaml compile and load in a real runtime."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


async def test_the_timer_and_file_examples_load(flow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox").mkdir()
    for name in ("timer", "file"):
        runtime = await flow((ROOT / "examples" / f"{name}.yaml").read_text(), namespace=name)
        symbols = list(runtime.table)
        assert len(symbols) == 2
        assert all(s.loaded for s in symbols), symbols
