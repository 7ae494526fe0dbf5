"""Did-you-mean: the closest of a few known words to a misspelt one, for messages about names and ports."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``word`` (difflib's ratio, at least 0.6), None when none is close or ``word``
    is itself a candidate."""
    pool = sorted({c for c in candidates if isinstance(c, str) and c})
    if word in pool:
        return None
    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if found:
        return found[0]
    lowered = {c.lower(): c for c in pool}  # 'Pong' for 'pong': case alone is always close
    return lowered.get(word.lower())


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'pong'?)"`` when a candidate is close to ``word``, else ``""``: append it to a message."""
    found = closest(word, candidates)
    return f" (did you mean {found!r}?)" if found is not None else ""
