"""``portflow get -w``: the documents, then each change as it happens, through the store's change stream."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from portflow.store import open_store


@pytest.fixture
def sqlite_cli(cli, tmp_path, monkeypatch):
    """The CLI on a SQLite file: another thread can write to it while a command watches."""
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    monkeypatch.setenv("PORTFLOW_DATABASE_URL", url)
    cli.url = url
    return cli


def watch_while_writing(cli, args: list[str], write) -> object:
    """Run ``portflow get ... -w --count 1`` in a thread; meanwhile call ``write(i)`` (a new change each time)
    until the command has printed its change and ended."""
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(r=cli(*args)), daemon=True)
    thread.start()
    i = 0
    while thread.is_alive():
        asyncio.run(write(i))
        i += 1
        thread.join(0.05)
    return result["r"]


def test_get_watch_prints_a_change(sqlite_cli):
    async def write(i: int) -> None:
        async with open_store(sqlite_cli.url) as store:
            await store.specs.insert([{"id": f"s{i}", "namespace": "default", "kind": "snippet", "name": f"s{i}",
                                       "language": "text", "code": "x"}])

    result = watch_while_writing(sqlite_cli, ["get", "specs", "-w", "--count", "1"], write)
    assert result.exit_code == 0, result.output
    op, ident, kind, ns, name = result.stdout.splitlines()[-1].split()  # after the table of what was there
    assert (op, kind, ns) == ("insert", "snippet", "default") and ident == name and ident.startswith("s")


def test_get_watch_of_values_masks_data_in_json(sqlite_cli):
    async def write(i: int) -> None:
        async with open_store(sqlite_cli.url) as store:
            await store.values.insert([{"id": f"v{i}", "namespace": "default", "name": f"v{i}", "data": "s3cr3t"}])

    result = watch_while_writing(sqlite_cli, ["get", "values", "-w", "--count", "1", "-o", "json"], write)
    assert result.exit_code == 0, result.output
    change = json.loads(result.stdout.strip().splitlines()[-1])
    assert change["op"] == "insert" and change["document"]["data"] == "***" and "s3cr3t" not in result.output


def test_count_needs_watch(cli):
    assert cli("get", "specs", "--count", "1").exit_code == 2
