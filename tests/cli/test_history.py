"""``portflow history``, ``portflow rollback`` and ``apply --expect-revision``: what a user sees."""

from __future__ import annotations

import datetime

SPEC = """
- kind: snippet
  name: greet
  language: text
  code: {code}
"""


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.strip().splitlines()]


def apply_code(cli, code: str, *extra: str):
    path = cli.write("greet.yaml", SPEC.format(code=code))
    return cli("apply", "specs", "-f", path, *extra)


def revision_of(cli, name: str) -> int:
    table = rows(cli("history", name).stdout)
    return int(table[1][0])


def test_history_lists_every_write_newest_first(cli):
    for code in ("one", "two", "three"):
        assert apply_code(cli, code).exit_code == 0
    result = cli("history", "greet")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert table[0] == ["REVISION", "AT", "OP", "ID", "CHANGED"]
    assert [(r[2], r[4:]) for r in table[1:]] == [("update", ["code"]), ("update", ["code"]), ("insert", [])]
    revs = [int(r[0]) for r in table[1:]]
    assert revs == sorted(revs, reverse=True)
    assert len({r[3] for r in table[1:]}) == 1  # one document
    as_json = cli("history", "greet", "-o", "json")
    import json

    assert [r["document"]["code"] for r in json.loads(as_json.stdout)] == ["three", "two", "one"]


def test_history_of_a_value_never_shows_its_data(cli):
    path = cli.write("v.yaml", "- name: token\n  data: s3cr3t\n")
    assert cli("apply", "values", "-f", path).exit_code == 0
    for output in ("table", "json", "yaml"):
        result = cli("history", "token", "--values", "-o", output)
        assert result.exit_code == 0 and "s3cr3t" not in result.output
    assert "s3cr3t" in cli("history", "token", "--values", "-o", "json", "--show-data").stdout


def test_history_of_an_unknown_name_is_one_line_exit_1(cli):
    result = cli("history", "nothing")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no spec named 'nothing' in namespace 'default' has a history"


def test_rollback_returns_to_the_previous_revision_as_a_new_one(cli):
    apply_code(cli, "one")
    apply_code(cli, "two")
    before = revision_of(cli, "greet")
    result = cli("rollback", "greet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"spec 'greet' rolled back to revision {before - 1} (now revision {before + 1})"
    assert [d["code"] for d in cli.docs("specs")] == ["one"]
    assert rows(cli("history", "greet").stdout)[1][2] == "update"


def test_rollback_to_a_named_revision_and_to_a_delete(cli):
    apply_code(cli, "one")
    first = revision_of(cli, "greet")
    apply_code(cli, "two")
    apply_code(cli, "three")
    assert cli("rollback", "greet", "--to", str(first)).exit_code == 0
    assert [d["code"] for d in cli.docs("specs")] == ["one"]
    assert cli("delete", "specs", "--name", "greet").exit_code == 0
    deleted = revision_of(cli, "greet")
    back = cli("rollback", "greet")  # a deleted document comes back as it was
    assert back.exit_code == 0 and [d["code"] for d in cli.docs("specs")] == ["one"]
    again = cli("rollback", "greet", "--to", str(deleted))
    assert again.exit_code == 0 and again.stdout.strip().endswith("deleted") and cli.docs("specs") == []


def test_rollback_to_a_revision_that_is_not_kept(cli):
    apply_code(cli, "one")
    rev = revision_of(cli, "greet")
    result = cli("rollback", "greet", "--to", "999")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: spec 'greet' has no revision 999 (kept, newest first: {rev})"
    only = cli("rollback", "greet")
    assert only.exit_code == 1 and "nothing earlier to return to" in only.stderr


def test_rollback_of_a_spec_is_admitted_like_any_apply(cli):
    """A revision that does not compile (written straight to the store) is refused, naming the spec and
    the field; nothing is written."""
    import asyncio

    from portflow.store import open_store

    async def write_broken() -> None:
        async with open_store(cli.url) as store:
            await store.specs.insert([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                       "language": "cel", "code": "1 +"}])

    asyncio.run(write_broken())
    broken = revision_of(cli, "calc")
    path = cli.write("x.yaml", "- kind: snippet\n  name: calc\n  language: cel\n  code: '2 + 2'\n")
    assert cli("apply", "specs", "-f", path).exit_code == 0
    result = cli("rollback", "calc", "--to", str(broken))
    assert result.exit_code == 1 and result.stdout == ""
    assert "spec 'calc'" in result.stderr and "code" in result.stderr
    assert result.stderr.strip().endswith("error: 1 spec rejected; nothing rolled back")
    assert cli.docs("specs")[0]["code"] == "2 + 2"


def test_a_namespace_returns_to_a_time(cli):
    apply_code(cli, "one")
    path = cli.write("v.yaml", "- name: setting\n  data: a\n")
    assert cli("apply", "values", "-f", path).exit_code == 0
    [at] = [r["at"] for r in __import__("json").loads(cli("history", "greet", "-o", "json").stdout)]
    when = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
    # everything after `at`: a changed spec, a new spec, a changed value
    apply_code(cli, "two")
    cli("apply", "specs", "-f", cli.write("n.yaml", "- kind: snippet\n  name: later\n  language: text\n  code: x\n"))
    cli("apply", "values", "-f", cli.write("v.yaml", "- name: setting\n  data: b\n"))
    value_at = [r["at"] for r in __import__("json").loads(cli("history", "setting", "--values", "-o", "json").stdout)]
    assert all(datetime.datetime.fromisoformat(a.replace("Z", "+00:00")) >= when for a in value_at)
    stamp = max(when, datetime.datetime.fromisoformat(value_at[-1].replace("Z", "+00:00")))
    result = cli("rollback", "-n", "default", "--to-time", stamp.isoformat())
    assert result.exit_code == 0, result.output
    assert sorted((r[0], r[-1]) for r in rows(result.stdout) if r[0] != "ACTION") == [
        ("removed", "later"), ("updated", "greet"), ("updated", "setting")]
    assert [(d["name"], d["code"]) for d in cli.docs("specs")] == [("greet", "one")]
    assert [d["data"] for d in cli.docs("values")] == ["a"]
    again = cli("rollback", "-n", "default", "--to-time", stamp.isoformat())
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_rollback_usage(cli):
    assert cli("rollback").exit_code == 2
    assert cli("rollback", "x", "--to-time", "1h").exit_code == 2
    bad = cli("rollback", "-n", "default", "--to-time", "yesterday")
    assert bad.exit_code == 1 and "neither a time" in bad.stderr


def test_expect_revision_applies_only_over_that_revision(cli):
    apply_code(cli, "one")
    rev = revision_of(cli, "greet")
    stale = apply_code(cli, "two", "--expect-revision", str(rev - 1))
    assert stale.exit_code == 1 and stale.stdout == ""
    assert stale.stderr.strip() == (f"error: spec 'greet': expected revision {rev - 1}, but it is at revision {rev} "
                                    "(changed since it was read); nothing applied")
    assert cli.docs("specs")[0]["code"] == "one"
    fresh = apply_code(cli, "two", "--expect-revision", str(rev))
    assert fresh.exit_code == 0 and cli.docs("specs")[0]["code"] == "two"


def test_a_revision_field_in_the_file_is_an_expected_revision_never_stored(cli):
    apply_code(cli, "one")
    rev = revision_of(cli, "greet")
    path = cli.write("greet.yaml", SPEC.format(code="two") + f"  revision: {rev + 5}\n")
    assert cli("apply", "specs", "-f", path).exit_code == 1
    cli.write("greet.yaml", SPEC.format(code="two") + f"  revision: {rev}\n")
    assert cli("apply", "specs", "-f", path).exit_code == 0
    assert [("revision" in d, d["code"]) for d in cli.docs("specs")] == [(False, "two")]


def test_expect_revision_needs_one_document(cli):
    path = cli.write("two.yaml", SPEC.format(code="a") + SPEC.format(code="b").replace("greet", "other"))
    result = cli("apply", "specs", "-f", path, "--expect-revision", "1")
    assert result.exit_code == 2 and "needs input of one document" in result.stderr


def test_the_apply_core_takes_a_revision_field_too(cli):
    """apply() itself (what start --from-specs goes through) takes a document's `revision`: an expectation,
    checked, never stored."""
    import asyncio

    import pytest

    from portflow.apply import apply, prepare_specs
    from portflow.errors import RevisionConflict
    from portflow.store import open_store

    def spec(**extra):
        docs, problems = prepare_specs([{"kind": "snippet", "name": "s", "language": "text", "code": "x", **extra}],
                                       "default")
        assert not problems
        return docs

    async def go() -> None:
        async with open_store(cli.url) as store:
            with pytest.raises(RevisionConflict, match="expected revision 3, but it does not exist"):
                await apply(store.specs, spec(revision=3), namespace="default")
            assert await store.specs.find() == []
            await apply(store.specs, spec(), namespace="default")
            [doc] = await store.specs.find()
            rev = (await store.specs.revisions([doc["id"]]))[doc["id"]]
            await apply(store.specs, spec(code="y", revision=rev), namespace="default")
            [doc] = await store.specs.find()
            assert doc["code"] == "y" and "revision" not in doc

    asyncio.run(go())


def test_get_wide_shows_each_document_revision(cli):
    apply_code(cli, "one")
    apply_code(cli, "two")
    result = cli("get", "specs", "-o", "wide")
    assert result.exit_code == 0
    header, row = (line.split() for line in result.stdout.splitlines())
    assert header[-1] == "REVISION" and int(row[-1]) == revision_of(cli, "greet")
    values = cli("get", "values", "-o", "wide")
    assert values.exit_code == 0 and values.stdout == ""


def test_a_namespace_rollback_past_the_kept_history_is_refused(cli):
    apply_code(cli, "one")
    apply_code(cli, "two")
    before = cli("rollback", "-n", "default", "--to-time", "2000-01-01T00:00:00Z")
    assert before.exit_code == 0 and cli.docs("specs") == []  # created after T: removed
    env = {"PORTFLOW_HISTORY_KEEP": "1"}
    cli("apply", "specs", "-f", cli.write("greet.yaml", SPEC.format(code="one")), env=env)
    cli("apply", "specs", "-f", cli.write("greet.yaml", SPEC.format(code="two")), env=env)  # trims the insert
    result = cli("rollback", "-n", "default", "--to-time", "2000-01-01T00:00:00Z", env=env)
    assert result.exit_code == 1
    assert "spec 'greet': the kept history starts at" in result.stderr and "history.keep" in result.stderr
    assert [d["code"] for d in cli.docs("specs")] == ["two"]
