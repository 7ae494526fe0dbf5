"""``text``: the output is the code itself, verbatim (the input is ignored)."""

from __future__ import annotations

from typing import Any


class Constant:
    """A Program that answers the same value to every packet.

    The value is shared between calls, not copied: the engine treats payloads as immutable.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def call(self, payload: Any) -> Any:
        return self.value

    async def __call__(self, payload: Any) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class Text:
    name = "text"

    def compile(self, code: str, *, timeout: float | None = None) -> Constant:
        return Constant(code)
