"""Packets: the immutable envelopes that carry payloads between ports.

A payload is a plain Python value (None, bool, int, float, str, bytes, list, dict, datetime) or an
exception, which is how errors travel as data. ``NONE`` is the one packet that says "nothing to answer";
it is told apart by identity, so ``Packet(None)`` (a null payload, JSON ``null``) is an answer like any
other, as in uniflow (``packet.None`` against ``packet.New(nil)``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from .errors import FlowError

__all__ = ["Packet", "NONE", "join", "error", "is_none", "failed_answer"]


class Packet:
    """One payload in flight. Treat both the packet and its payload as immutable."""

    __slots__ = ("payload",)

    def __init__(self, payload: Any = None) -> None:
        self.payload = payload

    @property
    def is_error(self) -> bool:
        return isinstance(self.payload, BaseException)

    def __repr__(self) -> str:
        return f"Packet({self.payload!r})"


NONE = Packet(None)


def is_none(pck: Packet | None) -> bool:
    """True for a missing packet and for ``NONE``; a null payload (``Packet(None)``) is not none."""
    return pck is None or pck is NONE


def error(cause: BaseException | str) -> Packet:
    """A packet carrying an error. A string becomes a ``FlowError`` with that message."""
    return Packet(cause if isinstance(cause, BaseException) else FlowError(cause))


def join(packets: Sequence[Packet]) -> Packet:
    """Merge the answers of several readers into one, by uniflow's rule.

    No packets: NONE. One: itself. Otherwise ``NONE`` packets are dropped (null payloads are kept); if
    any payload is an error the result is one error whose message joins all messages with newlines; else
    zero left gives NONE, one gives that packet, and more give a list of payloads in link order.
    """
    if not packets:
        return NONE
    if len(packets) == 1:
        return packets[0]
    kept = [p for p in packets if p is not None and p is not NONE]
    errors = [p.payload for p in kept if isinstance(p.payload, BaseException)]
    if errors:
        if len(errors) == 1:
            return Packet(errors[0])
        return Packet(FlowError("\n".join(str(e) for e in errors)))
    if not kept:
        return NONE
    if len(kept) == 1:
        return kept[0]
    return Packet([p.payload for p in kept])


def failed_answer(exc: BaseException) -> Packet:
    """The answer a hop that raised is reported with: the error, or ``FlowError('cancelled')`` for a
    cancellation (what observers see; the exception itself still propagates)."""
    return Packet(FlowError("cancelled") if isinstance(exc, asyncio.CancelledError) else exc)
