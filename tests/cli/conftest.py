"""Drive the ``portflow`` CLI in-process with click's CliRunner, against a private memory store."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from portflow.cli.main import cli as portflow_cli

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    """``cli("get", "specs")`` runs the command; ``cli.docs("specs")`` reads the store directly."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url = url
        self.workdir = workdir
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(portflow_cli, list(args), input=input, env=env, catch_exceptions=False,
                                  prog_name="portflow")

    def write(self, name: str, text: str) -> str:
        path = self.workdir / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def docs(self, collection: str, flt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from portflow.store import open_store

        async def find() -> list[dict[str, Any]]:
            async with open_store(self.url) as store:
                return await getattr(store, collection).find(flt or {})

        return asyncio.run(find())


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """A CLI bound to a fresh memory store, run from an empty directory with no PORTFLOW_* settings."""
    from portflow.store.memory import forget

    for name in list(os.environ):
        if name.startswith("PORTFLOW_"):
            monkeypatch.delenv(name)
    url = f"memory://cli-{uuid.uuid4().hex}"
    monkeypatch.setenv("PORTFLOW_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield Cli(url, tmp_path)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        forget(url)
