"""``portflow apply``: upsert by id, else by namespace and name; a table of what happened."""

from __future__ import annotations

SPECS = """
- kind: snippet
  name: greet
  language: text
  code: hello
- kind: snippet
  name: shout
  language: text
  code: HELLO
"""


def rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.strip().splitlines()]


def test_creates_then_updates_or_leaves_unchanged(cli):
    path = cli.write("flow.yaml", SPECS)
    first = cli("apply", "specs", "-f", path)
    assert first.exit_code == 0, first.output
    table = rows(first.stdout)
    assert table[0] == ["ACTION", "ID", "KIND", "NAMESPACE", "NAME"]
    assert [(r[0], r[2], r[3], r[4]) for r in table[1:]] == [
        ("created", "snippet", "default", "greet"), ("created", "snippet", "default", "shout")]
    stored = {d["name"]: d for d in cli.docs("specs")}
    assert set(stored) == {"greet", "shout"} and all(len(d["id"]) == 36 for d in stored.values())

    cli.write("flow.yaml", SPECS.replace("code: HELLO", "code: HEY"))
    second = cli("apply", "nodes", "-f", path)  # nodes: an alias of specs
    assert second.exit_code == 0
    assert [(r[0], r[4]) for r in rows(second.stdout)[1:]] == [("unchanged", "greet"), ("updated", "shout")]
    after = {d["name"]: d for d in cli.docs("specs")}
    assert after["shout"]["code"] == "HEY" and after["shout"]["id"] == stored["shout"]["id"]


def test_namespace_flag_fills_missing_namespaces(cli):
    path = cli.write("flow.yaml", SPECS + "- kind: snippet\n  name: elsewhere\n  namespace: other\n"
                                          "  language: text\n  code: x\n")
    assert cli("apply", "specs", "-n", "team", "-f", path).exit_code == 0
    assert sorted((d["namespace"], d["name"]) for d in cli.docs("specs")) == [
        ("other", "elsewhere"), ("team", "greet"), ("team", "shout")]


def test_invalid_documents_are_reported_and_nothing_is_applied(cli):
    path = cli.write("flow.yaml", """
- kind: snippet
  name: good
  language: text
  code: hi
- kind: snippet
  name: no-code
  language: text
- name: no-kind
- kind: snippet
  name: bad-port
  language: text
  code: hi
  ports:
    out: [{name: good}]
""")
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert "error: spec 'no-code' (kind snippet): code: required" in errors
    assert "error: spec 'no-kind': kind: required" in errors
    assert any(line.startswith("error: spec 'bad-port' (kind snippet): ports.out[0].port: required")
               for line in errors)
    assert errors[-1] == "error: 3 specs rejected; nothing applied"
    assert cli.docs("specs") == [] and result.stdout == ""


def test_a_rejected_document_refuses_the_whole_prune(cli):
    path = cli.write("flow.yaml", SPECS)
    assert cli("apply", "specs", "-f", path).exit_code == 0
    cli.write("other.yaml", "- kind: snippet\n  name: keep-me\n  namespace: other\n  language: text\n  code: x\n")
    assert cli("apply", "specs", "-f", str(cli.workdir / "other.yaml")).exit_code == 0

    cli.write("flow.yaml", "- kind: snippet\n  name: greet\n  language: text\n")  # now invalid: no code
    result = cli("apply", "specs", "-f", path, "--prune")
    assert result.exit_code == 1 and result.stdout == ""
    assert sorted(d["name"] for d in cli.docs("specs")) == ["greet", "keep-me", "shout"]  # nothing removed
    cli.write("flow.yaml", "- kind: snippet\n  name: greet\n  language: text\n  code: hi\n")
    result = cli("apply", "specs", "-f", path, "--prune")
    assert result.exit_code == 0
    assert [(r[0], r[4]) for r in rows(result.stdout)[1:]] == [("updated", "greet"), ("removed", "shout")]
    assert sorted(d["name"] for d in cli.docs("specs")) == ["greet", "keep-me"]  # the other namespace kept


def test_values(cli):
    path = cli.write("values.yaml", """
- name: db
  data: {user: admin, password: s3cret}
- name: nodata
""")
    result = cli("apply", "values", "-f", path)
    assert result.exit_code == 1
    assert "error: value 'nodata': data: required" in result.stderr
    assert "s3cret" not in result.output and cli.docs("values") == []


def test_reads_stdin_and_json(cli):
    result = cli("apply", "values", "-f", "-", input='[{"name": "token", "data": "abc"}]')
    assert result.exit_code == 0 and rows(result.stdout)[1][0] == "created"


def test_unreadable_or_malformed_file_is_one_line_and_nothing_is_applied(cli):
    result = cli("apply", "values", "-f", "missing.yaml")
    assert result.exit_code == 1
    assert result.stderr == "error: missing.yaml: No such file or directory\n"
    path = cli.write("broken.yaml", "- name: a\n  data: [1, 2\n")
    result = cli("apply", "values", "-f", path)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: {path}:") and cli.docs("values") == []


def test_an_id_from_another_namespace_is_refused_and_nothing_written(cli):
    path = cli.write("flow.yaml", SPECS)
    assert cli("apply", "specs", "-f", path).exit_code == 0
    stored = cli.docs("specs")
    moved = cli.write("moved.yaml", f"- id: {stored[0]['id']}\n  kind: snippet\n  name: moved\n"
                                    "  language: text\n  code: x\n- kind: snippet\n  name: fresh\n"
                                    "  language: text\n  code: y\n")
    result = cli("apply", "specs", "-n", "other", "-f", moved)
    assert result.exit_code == 1
    assert f"id {stored[0]['id']} belongs to namespace 'default', not 'other'" in result.output
    assert cli.docs("specs", {"namespace": "other"}) == []
