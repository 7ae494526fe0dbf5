"""Fixtures for the store tests: every contract test runs once per backend. (``postgres_url`` lives in
tests/conftest.py.)"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from portflow.store import Store, open_store


def reset_postgres(url: str) -> None:
    """Drop the store's tables, so that a test starts from an empty store."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS portflow_specs, portflow_values, portflow_charts, portflow_changelog, "
                     "portflow_history, portflow_leases")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The URL of an empty store, once per backend."""
    if request.param == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open, empty store, once per backend."""
    async with open_store(store_url) as s:
        yield s
