"""The file kind in a real runtime on a real directory: globs, events, read modes, the size limit."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from portflow.errors import UserError
from portflow.plugin import default_registries
from portflow.plugins.triggers.file import FileSpec, compile_file
from portflow.scheme import Context
from support.sink import sink


def watcher(path: str, extra: str = "") -> str:
    return f"""
- kind: file
  name: watch
  path: '{path}'
{extra}
  ports:
    out:
      - name: wrap
        port: in
- kind: snippet
  name: wrap
  language: cel
  code: '{{"body": self}}'
  ports:
    out:
      - name: post
        port: in
- kind: http
  name: post
  url: '{{{{ .SINK }}}}/file'
  env:
    SINK:
      data: '{{{{ .SINK }}}}'
"""


async def ready(s, directory) -> None:
    """Write a probe file until the watcher reports it (the watcher starts a moment after the node loads)."""
    probe = directory / "probe.json"
    for attempt in range(100):
        probe.write_text(json.dumps({"probe": attempt}))
        try:
            await s.wait_for(lambda r: any(b["path"] == str(probe) for _, b in r), timeout=0.2)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the watcher never reported the probe file")
    probe.unlink()
    await s.wait_for(lambda r: any(b["path"] == str(probe) and b["event"] == "deleted" for _, b in r))
    s.received.clear()


async def test_a_glob_sends_each_change_with_its_json_content(flow, tmp_path):
    async with sink() as s:
        await flow(watcher(f"{tmp_path}/*.json", "  read: json"), environment={"SINK": s.url})
        await ready(s, tmp_path)
        (tmp_path / "note.txt").write_text("not matched")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "deep.json").write_text("{}")  # * does not cross a directory
        (tmp_path / "order.json").write_text(json.dumps({"id": 7, "items": ["a"]}))
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got[0][1] == {"path": str(tmp_path / "order.json"), "event": "added", "data": {"id": 7, "items": ["a"]}}
        (tmp_path / "order.json").unlink()
        got = await s.wait_for(lambda r: len(r) >= 2)
        assert got[1][1] == {"path": str(tmp_path / "order.json"), "event": "deleted"}
        assert [b["path"] for _, b in got] == [str(tmp_path / "order.json")] * 2


@pytest.mark.parametrize(("read", "content", "data"), [
    ("text", "héllo\n", "héllo\n"),
    ("yaml", "a: 1\nb: [x, y]\n", {"a": 1, "b": ["x", "y"]}),
])
async def test_read_passes_the_content(flow, tmp_path, read, content, data):
    async with sink() as s:
        await flow(watcher(str(tmp_path), f"  read: {read}"), environment={"SINK": s.url})
        await ready(s, tmp_path)
        (tmp_path / "f.txt").write_text(content, encoding="utf-8")
        got = await s.wait_for(lambda r: len(r) >= 1)
        assert got[0][1]["data"] == data and got[0][1]["event"] == "added"


async def test_a_file_over_max_size_is_not_read_and_is_logged(flow, tmp_path, caplog):
    caplog.set_level(logging.ERROR, "portflow.triggers")
    async with sink() as s:
        await flow(watcher(f"{tmp_path}/*.txt", "  read: text\n  max_size: 100"), environment={"SINK": s.url})
        probe = tmp_path / "probe.txt"
        for attempt in range(100):  # ready: the watcher reports the probe
            probe.write_text(str(attempt))
            try:
                await s.wait_for(lambda r: len(r) >= 1, timeout=0.2)
                break
            except AssertionError:
                continue
        s.received.clear()
        (tmp_path / "big.txt").write_text("x" * 101)
        for _ in range(100):
            if "more than max_size 100" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "big.txt is 101 bytes, more than max_size 100" in caplog.text
        assert not any(b["path"].endswith("big.txt") for _, b in s.received)


async def test_a_path_that_does_not_exist_fails_the_load_in_one_line(tmp_path):
    spec = FileSpec(kind="file", name="w", path=f"{tmp_path}/nowhere/*.json")
    node = compile_file(spec, Context(default_registries().scheme))  # compiles: lint and apply run elsewhere
    with pytest.raises(UserError) as info:
        await node.load()
    assert str(info.value) == f"path: '{tmp_path}/nowhere' does not exist"
