"""The testing plugin: ``test`` and ``assert`` nodes, and the runner ``portflow test`` drives.

Workflow tests live next to the flows they test, as specs: a ``test`` sends nothing to ``out[0]``,
feeds the answer to ``out[1]`` (usually an ``assert``), and passes when no error comes back.
"""

from __future__ import annotations

from typing import Any

from . import assert_, test
from .runner import Result, Runner, find_runner, runner_for

__all__ = ["register", "Runner", "Result", "runner_for", "find_runner"]


def register(scheme: Any, languages: Any = None, hooks: Any = None, config: Any = None) -> None:
    """Register ``test`` and ``assert``. Tests register with the runner from their own load hook."""
    test.register(scheme)
    assert_.register(scheme)
