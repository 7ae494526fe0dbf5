"""open_store(url): schemes, paths, and passwords kept out of messages."""

from __future__ import annotations

import os

import pytest

from portflow.errors import UserError
from portflow.store import mask_url, open_store
from portflow.store.memory import MemoryStore
from portflow.store.postgres import PostgresStore
from portflow.store.sqlite import SqliteStore, sqlite_path


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bob:hunter2@db.example:5432/flows", "postgresql://bob:***@db.example:5432/flows"),
        ("postgres://bob:p@ss:w0rd@db/flows?sslmode=require", "postgres://bob:***@db/flows?sslmode=require"),
        ("postgresql://bob@db/flows", "postgresql://bob@db/flows"),
        ("postgresql://db/flows?user=bob&password=hunter2&x=1", "postgresql://db/flows?user=bob&password=***&x=1"),
        ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
        ("memory://", "memory://"),
        ("host=db password=hunter2", "host=db password=***"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_open_store_picks_the_backend_by_scheme(tmp_path: os.PathLike[str]) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    assert isinstance(open_store("memory://named"), MemoryStore)
    assert isinstance(open_store(f"sqlite:///{tmp_path}/x.db"), SqliteStore)
    assert isinstance(open_store("sqlite:///:memory:"), SqliteStore)
    assert isinstance(open_store("postgresql://u@localhost/db"), PostgresStore)
    assert isinstance(open_store("postgres://u@localhost/db"), PostgresStore)


@pytest.mark.parametrize("url", ["mongodb://bob:hunter2@db/x", "mysql://bob:hunter2@db/x", "nonsense", ""])
def test_unknown_scheme_is_a_user_error_without_the_password(url: str) -> None:
    with pytest.raises(UserError) as err:
        open_store(url)
    assert "hunter2" not in str(err.value)
    if url.startswith("mongodb"):
        assert "mongodb://bob:***@db/x" in str(err.value)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///rel/path.db", "rel/path.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///~/.portflow/portflow.db", os.path.expanduser("~/.portflow/portflow.db")),
        ("sqlite:~/.portflow/portflow.db", os.path.expanduser("~/.portflow/portflow.db")),
        ("sqlite://~/x.db", os.path.expanduser("~/x.db")),
        ("sqlite:x.db", "x.db"),
        ("sqlite:///with%20space.db", "with space.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite:", "sqlite:///"])
def test_bad_sqlite_urls(url: str) -> None:
    with pytest.raises(UserError):
        open_store(url)


async def test_memory_stores_with_the_same_url_are_one_store() -> None:
    async with open_store("memory://test-shared") as a, open_store("memory://test-shared") as b:
        await a.specs.insert([{"id": "x", "namespace": "default"}])
        assert await b.specs.find() == [{"id": "x", "namespace": "default"}]
        async with open_store("memory://test-other") as c:
            assert await c.specs.find() == []
