import asyncio

import pytest

from portflow.lang import builtin_languages


@pytest.fixture
def languages():
    return builtin_languages()


class Ticker:
    """Counts how often the event loop got to run it while something else was going on."""

    def __init__(self) -> None:
        self.ticks = 0
        self.task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.01)

    def __enter__(self) -> "Ticker":
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        assert self.task is not None
        self.task.cancel()


@pytest.fixture
def ticker():
    return Ticker()
