"""Document stores with change streams: ``open_store(url)`` picks the backend by the URL's scheme.

=====================  ==========================================================================
``memory://[name]``    in-process; the same URL in one process is the same store
``sqlite:///PATH``     the default (``~/.portflow/portflow.db``): one file shared by every process
``postgresql://...``   (or ``postgres://``) one database shared by many machines
=====================  ==========================================================================

::

    async with open_store("sqlite:///~/.portflow/portflow.db") as store:
        await store.specs.insert([{"id": "1", "namespace": "default", "name": "ping", "kind": "listener"}])
        async with store.specs.watch({"namespace": "default"}) as changes:
            async for event in changes:  # Event(op, id, namespace, name, seq)
                ...
"""

from __future__ import annotations

from typing import cast

from portflow.errors import UserError

from .base import (
    Batch,
    ChangeFeed,
    Collection,
    Doc,
    Event,
    Filter,
    Store,
    Watch,
    check_filter,
    mask_url,
    matches,
)

__all__ = [
    "Batch",
    "Collection",
    "ChangeFeed",
    "Doc",
    "Event",
    "Filter",
    "Store",
    "Watch",
    "check_filter",
    "mask_url",
    "matches",
    "open_store",
]


def open_store(url: str) -> Store:
    """The store for ``url``, not yet opened (``await store.open()`` or ``async with store``).

    Raises :class:`UserError` (naming the URL, password masked) for an unknown scheme or a bad URL.
    """
    if not isinstance(url, str) or not url.strip():
        raise UserError(f"no store URL given (got {url!r})")
    url = url.strip()
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from .memory import MemoryStore

        return cast(Store, MemoryStore(url))  # see test_contract: each backend is a Store
    if scheme == "sqlite":
        from .sqlite import SqliteStore

        return cast(Store, SqliteStore(url))  # see test_contract: each backend is a Store
    if scheme in ("postgresql", "postgres"):
        from ..extras import require

        require("postgres", f"the store {mask_url(url)}")
        from .postgres import PostgresStore

        return cast(Store, PostgresStore(url))  # see test_contract: each backend is a Store
    raise UserError(
        f"unknown store URL {mask_url(url)}: use memory://, sqlite:///PATH or postgresql://USER@HOST/DB"
    )
