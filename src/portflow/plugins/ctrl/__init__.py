"""The ctrl plugin: flow control kinds (snippet, if, switch, split, merge, for, pipe, step, block, fork,
retry, try, throw, sleep, nop) and the v0.12 kinds reduce, session, print and cache.

Each kind lives in its own module: spec class, node class, codec, ``register(scheme)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    """Register every ctrl kind into ``scheme``. The languages and hooks a kind needs reach its codec
    through the compile context, so ``languages``, ``hooks`` and ``config`` are not used here."""
    from . import (
        block,
        cache,
        for_,
        fork,
        if_,
        merge,
        nop,
        pipe,
        print_,
        reduce,
        retry,
        session,
        sleep,
        snippet,
        split,
        step,
        switch,
        throw,
        try_,
    )

    for kind in (snippet, if_, switch, split, merge, for_, pipe, step, block, fork, retry, try_, throw, sleep, nop,
                 reduce, session, print_, cache):
        kind.register(scheme)
