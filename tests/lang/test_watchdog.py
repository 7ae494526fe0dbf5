"""The watchdog's inline slice counts CPU time: waiting (a descheduled thread) is not overrunning."""

from __future__ import annotations

import time

import pytest

from portflow.lang._runtime import Interrupted, run_watched


def _wait(seconds: float) -> str:
    time.sleep(seconds)  # no CPU used, like a thread the OS does not run
    return "done"


def _spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def test_a_slice_that_only_waits_is_not_interrupted():
    assert run_watched(_wait, 0.08, 0.02, cpu=True) == "done"


def test_a_slice_that_spins_is_interrupted():
    with pytest.raises(Interrupted):
        run_watched(_spin, 2.0, 0.02, cpu=True)


def test_a_wall_clock_deadline_still_ends_a_wait():
    with pytest.raises(Interrupted):
        run_watched(_wait, 0.08, 0.02)
