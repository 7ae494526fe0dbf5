"""The timer kind in real runtimes: interval and cron ticks, jitter, bad specs, and ``cluster: once`` over
one store (two runtimes in this process, and two ``portflow start`` processes, one killed with SIGKILL)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from portflow.apply import apply, prepare_specs
from portflow.errors import SpecError
from portflow.plugin import default_registries
from portflow.plugins.triggers.timer import TimerSpec, compile_timer
from portflow.runtime import Runtime
from portflow.scheme import Context
from portflow.spec import PositiveDuration, read_documents
from portflow.store import open_store
from support.sink import sink


def ticker(timer: str, who: str = "a") -> str:
    """A timer whose every tick is POSTed to the sink at ``/WHO``."""
    return f"""
- kind: timer
  name: tick
{timer}
  ports:
    out:
      - name: wrap
        port: in
- kind: snippet
  name: wrap
  language: cel
  code: '{{"body": self}}'
  ports:
    out:
      - name: post
        port: in
- kind: http
  name: post
  url: '{{{{ .SINK }}}}/{{{{ .WHO }}}}'
  env:
    SINK:
      data: '{{{{ .SINK }}}}'
    WHO:
      data: '{{{{ .WHO }}}}'
"""


def times(received, who=None):
    return [body["time"] for path, body in received if who is None or path == f"/{who}"]


async def test_an_interval_timer_sends_time_and_tick_at_aligned_instants(flow):
    async with sink() as s:
        await flow(ticker("  interval: 100ms"), environment={"SINK": s.url, "WHO": "a"})
        got = await s.wait_for(lambda r: len(r) >= 3)
        bodies = [b for _, b in got[:3]]
        assert [b["tick"] for b in bodies] == [1, 2, 3]
        stamps = [datetime.fromisoformat(b["time"]).timestamp() for b in bodies]
        for stamp in stamps:
            assert round(stamp * 10) == pytest.approx(stamp * 10, abs=1e-3)  # multiples of 100 ms
        # Each tick is a later instant; a loop busy past an instant skips it (the suite's load can), so the
        # gaps are whole intervals, not always one.
        assert all(round((b - a) * 10) >= 1 for a, b in itertools.pairwise(stamps))
        assert bodies[0]["time"].endswith("+00:00")


async def test_jitter_delays_the_firing_but_time_stays_the_scheduled_instant(flow):
    async with sink() as s:
        await flow(ticker("  interval: 200ms\n  jitter: 150ms"), environment={"SINK": s.url, "WHO": "a"})
        got = await s.wait_for(lambda r: len(r) >= 3)
        for _, body in got[:3]:
            stamp = datetime.fromisoformat(body["time"]).timestamp()
            assert round(stamp * 5) == pytest.approx(stamp * 5, abs=1e-3)


async def test_a_cron_timer_with_seconds_ticks_in_its_time_zone(flow):
    async with sink() as s:
        await flow(ticker("  cron: '* * * * * *'\n  timezone: Asia/Tokyo"), environment={"SINK": s.url, "WHO": "a"})
        got = await s.wait_for(lambda r: len(r) >= 2)
        first, second = (b for _, b in got[:2])
        assert first["time"].endswith("+09:00") and (first["tick"], second["tick"]) == (1, 2)
        a, b = datetime.fromisoformat(first["time"]), datetime.fromisoformat(second["time"])
        assert a.microsecond == 0 and (b - a).total_seconds() == 1


@pytest.mark.parametrize(("fields", "field", "text"), [
    ({}, "interval", "either interval or cron"),
    ({"interval": PositiveDuration(1.0), "cron": "* * * * *"}, "interval", "either interval or cron"),
    ({"cron": "every day"}, "cron", "not a cron expression"),
    ({"interval": PositiveDuration(1.0), "timezone": "Mars/Olympus"}, "timezone", "not a known IANA time zone"),
])
def test_bad_timer_specs_are_one_line_naming_the_field(fields, field, text):
    spec = TimerSpec(kind="timer", name="t", **fields)
    with pytest.raises(SpecError) as info:
        compile_timer(spec, Context(default_registries().scheme))
    message = str(info.value)
    assert f"{field}: " in message and text in message and "\n" not in message


# ------------------------------------------------------------------------------------------ cluster: once

ONCE = "  interval: 100ms\n  cluster: once\n  lease: 1s"


async def _runtime(url: str, who: str, sink_url: str, spec_text: str) -> Runtime:
    store = open_store(url)
    await store.open()
    docs, problems = prepare_specs(read_documents(spec_text), "default")
    assert not problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, namespace="default", environment={"SINK": sink_url, "WHO": who})
    await runtime.start()
    return runtime


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    import psycopg

    url = request.getfixturevalue("postgres_url")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS portflow_specs, portflow_values, portflow_changelog, portflow_leases")
    return url


async def test_cluster_once_fires_each_tick_on_one_runtime_and_a_successor_takes_over(shared_url):
    async with sink() as s:
        a = await _runtime(shared_url, "a", s.url, ticker(ONCE))
        b = await _runtime(shared_url, "b", s.url, ticker(ONCE))
        try:
            got = await s.wait_for(lambda r: len(r) >= 15)
            assert len(set(times(got))) == len(times(got)), "a tick fired twice"
            holder = {path for path, _ in got[-5:]}
            assert len(holder) == 1
            first = a if holder == {"/a"} else b
            other = "/b" if holder == {"/a"} else "/a"
            await first.close()  # unloads: gives the lease up
            await s.wait_for(lambda r: sum(path == other for path, _ in r) >= 5)
            fired = times(s.received)
            assert len(set(fired)) == len(fired), "a tick fired twice"
        finally:
            await a.close()
            await b.close()
            await a.store.close()
            await b.store.close()


async def test_cluster_every_fires_on_each_runtime(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    async with sink() as s:
        a = await _runtime(url, "a", s.url, ticker("  interval: 100ms"))
        b = await _runtime(url, "b", s.url, ticker("  interval: 100ms"))
        try:
            await s.wait_for(lambda r: len(times(r, "a")) >= 3 and len(times(r, "b")) >= 3)
            assert set(times(s.received, "a")[:3]) & set(times(s.received, "b"))
        finally:
            for rt in (a, b):
                await rt.close()
                await rt.store.close()


def _start(url: str, who: str, sink_url: str, specs: Path | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = url
    args = ["--from-specs", str(specs)] if specs else []
    return subprocess.Popen([sys.executable, "-m", "portflow.cli.main", "start", *args, "-e", f"SINK={sink_url}",
                             "-e", f"WHO={who}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_cluster_once_survives_a_killed_holder(shared_url, tmp_path):
    specs = tmp_path / "timer.yaml"
    specs.write_text(ticker(ONCE))
    async with sink() as s:
        procs = {"a": _start(shared_url, "a", s.url, specs)}
        try:
            await s.wait_for(lambda r: len(r) >= 1, timeout=30)
            procs["b"] = _start(shared_url, "b", s.url, None)
            await s.wait_for(lambda r: len(r) >= 10, timeout=30)
            assert {path for path, _ in s.received} == {"/a"}  # a holds the lease; b waits
            procs["a"].send_signal(signal.SIGKILL)
            procs["a"].wait(10)
            killed_at = len(s.received)
            await s.wait_for(lambda r: len(times(r, "b")) >= 5, timeout=30)
            fired = times(s.received)
            assert len(set(fired)) == len(fired), f"a tick fired twice: {s.received}"
            assert {path for path, _ in s.received[:killed_at]} == {"/a"}
            assert max(times(s.received, "a")) < min(times(s.received, "b"))
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(15)
                proc.stderr.close()


def test_an_interval_schedule_moves_past_each_tick_at_todays_float_precision():
    from datetime import UTC

    from portflow.plugins.triggers.timer import Schedule

    schedule, now = Schedule(UTC, 0.1), 1764662752.0
    seen = []
    for _ in range(2000):
        at = schedule.next(now)
        seen.append(at)
        now = at.timestamp()
    assert len(set(seen)) == 2000
    assert all(round((b - a).total_seconds(), 6) == 0.1 for a, b in itertools.pairwise(seen))


async def test_a_failed_tick_is_logged_with_the_specs_fields(flow, caplog):
    """With --log-format json these are the line's namespace, spec and kind fields."""
    import asyncio
    import logging

    caplog.set_level(logging.INFO, logger="portflow.triggers")
    await flow("""
- kind: timer
  name: beat
  interval: 50ms
  ports:
    out:
      - name: boom
        port: in
- kind: throw
  name: boom
""", namespace="fields")
    for _ in range(200):
        failed = [r for r in caplog.records if "the flow failed" in r.getMessage()]
        if failed:
            break
        await asyncio.sleep(0.02)
    assert failed, caplog.text
    record = failed[0]
    assert (record.namespace, record.spec, record.kind) == ("fields", "beat", "timer")
