"""One apply is one transaction (issue 12 item 7): Collection.commit is all or nothing on every store,
and a portflow apply killed with SIGKILL at any moment leaves all of its changes or none."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portflow.apply import apply, prepare_specs
from portflow.errors import ConflictError
from portflow.store.base import Batch


def spec(name: str, code: str = "x", **extra) -> dict:
    return {"kind": "snippet", "name": name, "namespace": "default", "language": "text", "code": code, **extra}


async def test_commit_is_all_or_nothing_and_one_run_of_events(store):
    await store.specs.insert([dict(spec("a"), id="a"), dict(spec("b"), id="b")])
    async with store.specs.watch() as changes:
        with pytest.raises(ConflictError):  # the update renames c onto a, after an insert
            await store.specs.commit(Batch(insert=[dict(spec("new"), id="n")],
                                           update=[dict(spec("a", "y"), id="b")], delete=["a"]))
        assert sorted(d["name"] for d in await store.specs.find()) == ["a", "b"]
        await store.specs.commit(Batch(insert=[dict(spec("new"), id="n")], update=[dict(spec("b", "y"), id="b")],
                                       delete=["a"]))
        events = [await anext(changes) for _ in range(3)]
    assert [(e.op, e.id) for e in events] == [("insert", "n"), ("update", "b"), ("delete", "a")]
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 3))
    assert sorted((d["name"], d["code"]) for d in await store.specs.find()) == [("b", "y"), ("new", "x")]


async def test_a_conflicting_rename_after_inserts_commits_nothing(store):
    await store.specs.insert([dict(spec("one"), id="1"), dict(spec("two"), id="2")])
    docs, problems = prepare_specs([spec(f"fresh-{i}") for i in range(50)] + [dict(spec("two"), id="1")],
                                   "default")
    assert not problems
    with pytest.raises(ConflictError):
        await apply(store.specs, docs, namespace="default")
    assert sorted(d["name"] for d in await store.specs.find()) == ["one", "two"]


PORTFLOW = str(Path(sys.executable).with_name("portflow"))
N = 20_000


def _count(db: Path) -> tuple[int, int]:
    """(rows, rows whose code is the new one), read by another connection as the apply runs."""
    with sqlite3.connect(db, timeout=10) as conn:
        total = conn.execute("SELECT count(*) FROM portflow_specs").fetchone()[0]
        new = conn.execute("SELECT count(*) FROM portflow_specs WHERE json_extract(doc, '$.code') = 'v2'"
                           ).fetchone()[0]
    return total, new


@pytest.mark.timeout(300)
def test_apply_killed_with_sigkill_leaves_all_or_nothing(tmp_path):
    db = tmp_path / "portflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{db}"
    old = tmp_path / "old.yaml"
    old.write_text("".join(f"- {{kind: snippet, name: s{i}, language: text, code: v1}}\n" for i in range(N)))
    subprocess.run([PORTFLOW, "apply", "specs", "-f", str(old)], env=env, check=True, capture_output=True,
                   timeout=240)
    new = tmp_path / "new.yaml"  # N updates and N inserts
    new.write_text("".join(f"- {{kind: snippet, name: s{i}, language: text, code: v2}}\n" for i in range(2 * N)))
    proc = subprocess.Popen([PORTFLOW, "apply", "specs", "-f", str(new)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                total, _ = _count(db)
            except sqlite3.OperationalError:
                continue
            if total != N:  # something of the apply is committed: kill it right now
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    total, updated = _count(db)
    assert (total, updated) in ((N, 0), (2 * N, 2 * N)), f"half-done: {total} rows, {updated} updated"
