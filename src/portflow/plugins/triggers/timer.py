"""The ``timer`` kind: a process on ``out`` at every tick of an interval or a cron schedule.

Ticks are instants of a schedule every runtime computes alike: for ``interval: 5s``, the multiples of five
seconds since the Unix epoch; for ``cron``, the instants the expression names in ``timezone`` (croniter;
five fields, or six with seconds first). Each tick sends ``{time, tick}``: ``time`` the tick's instant (ISO
8601, in the time zone), ``tick`` how many ticks this node has fired. ``jitter`` delays each firing by a
random part of it (``time`` stays the scheduled instant).

``cluster: once``: only the holder of the lease ``timer/NAMESPACE/NAME`` in the store fires. Every runtime
tries to take it (or renew it) every ``lease / 3``; a holder that dies stops renewing, and another runtime
takes it when it expires (after ``lease``). A holder fires only while its lease, counted from before it
asked the store, is surely still its own, so two runtimes never fire the same tick. ``cluster: every``
fires on every runtime.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import time
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from msgspec import Meta

from ...errors import StoreError
from ...lifetime import TaskStatus
from ...logs import spec_fields
from ...scheme import Context, Scheme, spec_error
from ...spec import NonNegativeDuration, PositiveDuration, Spec
from .source import Source

__all__ = ["TimerSpec", "Timer", "compile_timer", "register"]

log = logging.getLogger("portflow.triggers.timer")


class TimerSpec(Spec, kw_only=True):
    """Opens a process on ``out`` at every tick of an ``interval`` or a ``cron`` schedule, with ``{time, tick}``.

    ``time`` is the tick's scheduled instant (ISO 8601 in ``timezone``), ``tick`` how many ticks this node fired.
    Interval ticks are aligned to the epoch, so every runtime computes the same instants. With
    ``cluster: once`` only the runtime holding the store lease ``timer/NAMESPACE/NAME`` fires; when it
    stops or dies another takes over within ``lease``.
    """

    interval: Annotated[PositiveDuration | None, Meta(description="tick every this long (aligned to the epoch)")] = None
    cron: Annotated[str | None, Meta(description="a cron expression: 5 fields, or 6 with seconds first")] = None
    timezone: Annotated[str, Meta(description="the IANA time zone of cron and of the time sent")] = "UTC"
    jitter: Annotated[NonNegativeDuration, Meta(description="delay each firing by a random part of this")] = \
        NonNegativeDuration(0.0)
    cluster: Annotated[Literal["every", "once"], Meta(
        description="every: each runtime fires; once: one runtime among all on the store fires each tick")] = "every"
    lease: Annotated[PositiveDuration, Meta(
        description="cluster once: how long the firing runtime's lease lasts without renewal")] = PositiveDuration(10.0)


class Schedule:
    """The next tick after an instant: ``next(after) -> datetime`` (aware)."""

    def __init__(self, zone: tzinfo, interval: float | None = None, cron: str | None = None) -> None:
        self.zone = zone
        self.interval = interval
        self.cron = cron

    def next(self, after: float) -> datetime:
        """The first tick strictly after ``after`` (a Unix time; a tick's own instant gives the next one)."""
        if self.interval is not None:
            # The epsilon (a thousandth of an interval): a tick's own instant, rounded in floats, counts as past.
            n = math.floor(after / self.interval + 1e-3) + 1
            return datetime.fromtimestamp(n * self.interval, self.zone)
        from croniter import croniter

        assert self.cron is not None
        return croniter(self.cron, datetime.fromtimestamp(after, self.zone)).get_next(datetime)


class Timer(Source):
    """The live timer; ``load()`` starts ticking, ``unload()`` stops and gives its lease up."""

    def __init__(self, schedule: Schedule, *, jitter: float = 0.0, cluster: str = "every", lease: float = 10.0,
                 store: Any = None, key: str = "timer", holder: str | None = None, **source: Any) -> None:
        super().__init__(**source)
        self.schedule = schedule
        self.jitter = jitter
        self.cluster = cluster
        self.lease = lease
        self.store = store
        self.key = key
        self.holder = holder or uuid.uuid4().hex
        self.held_until = 0.0  # monotonic: the lease is surely ours until then
        self._elector: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """True when this timer fires its ticks (always, unless ``cluster: once`` and another holds the lease)."""
        return self.cluster != "once" or self.store is None or time.monotonic() < self.held_until

    async def load(self) -> None:
        await self.run(self._tick_loop)

    async def unload(self) -> None:
        await super().unload()
        if self.cluster == "once" and self.store is not None and self.held_until:
            self.held_until = 0.0
            try:
                await self.store.release_lease(self.key, self.holder)
            except StoreError as exc:
                log.warning("%s: cannot give the lease up (it expires by itself): %s", self.label, exc, extra=self.log_fields)

    async def _elect(self) -> None:
        """Take or renew the lease, then again every ``lease / 3``."""
        failing = False
        while True:
            asked = time.monotonic()
            try:
                held = await self.store.acquire_lease(self.key, self.holder, self.lease)
                failing = False
            except StoreError as exc:
                if not failing:
                    log.warning("%s: cannot reach the store for the lease (will retry): %s", self.label, exc, extra=self.log_fields)
                failing, held = True, False
            if held and not self.held_until > asked:
                log.info("%s: this runtime fires the ticks now (cluster once)", self.label, extra=self.log_fields)
            self.held_until = asked + self.lease if held else 0.0
            await asyncio.sleep(self.lease / 3)

    async def _tick_loop(self, status: TaskStatus[Any]) -> None:
        elector = None
        if self.cluster == "once" and self.store is not None:
            elector = asyncio.get_running_loop().create_task(self._elect())
        status.started()
        ticks = 0
        try:
            now = time.time()
            while True:
                at = self.schedule.next(now)
                delay = at.timestamp() - time.time() + (random.uniform(0, self.jitter) if self.jitter else 0.0)
                if delay > 0:
                    await asyncio.sleep(delay)
                # A late loop (a long pause) skips the ticks it missed rather than firing them in a burst.
                now = max(at.timestamp(), time.time())
                if self.leading:
                    ticks += 1
                    self.spawn(self.fire({"time": at.isoformat(), "tick": ticks}))
        finally:
            if elector is not None:
                elector.cancel()
                await asyncio.gather(elector, return_exceptions=True)


def compile_timer(spec: TimerSpec, context: Context) -> Timer:
    if (spec.interval is None) == (spec.cron is None):
        raise spec_error(spec, "interval", "give either interval or cron (one of them)")
    try:
        zone: tzinfo = UTC if spec.timezone in ("UTC", "Z") else ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise spec_error(spec, "timezone", f"{spec.timezone!r} is not a known IANA time zone") from None
    if spec.cron is not None:
        from croniter import croniter

        if not croniter.is_valid(spec.cron):
            raise spec_error(spec, "cron", f"{spec.cron!r} is not a cron expression")
    schedule = Schedule(zone, float(spec.interval) if spec.interval is not None else None, spec.cron)
    return Timer(schedule, jitter=float(spec.jitter), cluster=spec.cluster, lease=float(spec.lease),
                 store=context.store, key=f"timer/{spec.namespace}/{spec.name}",
                 label=spec.subject, log_fields=spec_fields(spec), lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: timer
  name: every-minute
  cron: '0 * * * * *'
  timezone: Europe/Paris
  cluster: once
  ports:
    out:
      - name: line
        port: in
- kind: snippet
  name: line
  language: cel
  code: '["tick %v at %s\\n", self.tick, self.time]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("timer", TimerSpec, compile_timer, description=inspect.cleandoc(TimerSpec.__doc__ or ""),
                    ports={"out": "each tick as {time, tick}", "error": "ticks whose flow failed"},
                    example=EXAMPLE, plugin="triggers")
