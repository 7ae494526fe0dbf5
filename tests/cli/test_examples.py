"""``portflow examples``: the example flows that come with portflow, listed and written out."""

from __future__ import annotations

from .conftest import ROOT


def test_lists_the_examples(cli):
    result = cli("examples")
    assert result.exit_code == 0
    rows = [line.split(None, 1) for line in result.stdout.splitlines()]
    assert rows[0] == ["NAME", "ABOUT"]
    assert [r[0] for r in rows[1:]] == sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
    assert dict(rows[1:])["ping"] == "3 specs: listener, router, snippet"


def test_prints_or_writes_one(cli, tmp_path):
    printed = cli("examples", "ping")
    assert printed.exit_code == 0 and printed.stdout == (ROOT / "examples" / "ping.yaml").read_text()
    wrote = cli("examples", "system.yaml", "-o", str(tmp_path))
    assert wrote.exit_code == 0 and (tmp_path / "system.yaml").read_text() == (ROOT / "examples" / "system.yaml").read_text()
    cli("examples", "ping", "-o", str(tmp_path / "mine.yaml"))
    assert cli("apply", "-f", str(tmp_path / "mine.yaml")).exit_code == 0


def test_an_unknown_example_names_the_known_ones(cli):
    result = cli("examples", "nope")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no example 'nope' (there are: amqp, file, hello_test, mqtt, nats, ping, redis, system, timer)"
