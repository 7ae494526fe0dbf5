"""Load and unload hooks: callbacks a symbol table runs after a node's own load, and before its unload."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .symbol import Symbol

__all__ = ["Hook", "Hooks", "call"]

Hook = Callable[["Symbol"], Awaitable[None] | None]


class Hooks:
    """Callbacks run when a symbol loads or unloads (after the node's own hooks)."""

    def __init__(self) -> None:
        self.load: list[Hook] = []
        self.unload: list[Hook] = []

    def on_load(self, hook: Hook) -> None:
        self.load.append(hook)

    def on_unload(self, hook: Hook) -> None:
        self.unload.append(hook)

    def copy(self) -> Hooks:
        other = Hooks()
        other.load = list(self.load)
        other.unload = list(self.unload)
        return other


async def call(hook: Hook, symbol: Symbol) -> None:
    """Run one hook, awaiting it when it is a coroutine function."""
    result = hook(symbol)
    if inspect.isawaitable(result):
        await result
