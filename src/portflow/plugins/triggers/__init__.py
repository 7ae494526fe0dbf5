"""The ``triggers`` plugin: processes started by time and by files (``timer``, ``file``).

``register(scheme, languages, hooks)`` adds the kinds; nothing registers at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    from . import file, timer

    timer.register(scheme)
    file.register(scheme)
