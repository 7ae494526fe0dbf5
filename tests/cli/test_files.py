"""kubectl habits of apply and delete: specs and values told apart by their fields, -f DIR, -R, -f -."""

from __future__ import annotations

from .conftest import ROOT

MIXED = """
- name: greeting
  data: hello
- kind: snippet
  name: greet
  language: text
  code: hi
"""


def names(cli, collection: str) -> list[str]:
    return sorted(d["name"] for d in cli.docs(collection))


def test_apply_without_a_resource_word_reads_what_each_document_is(cli):
    result = cli("apply", "-f", str(ROOT / "examples" / "ping.yaml"))
    assert result.exit_code == 0, result.output
    assert names(cli, "specs") == ["listener", "pong", "router"] and cli.docs("values") == []
    mixed = cli("apply", "-f", cli.write("mixed.yaml", MIXED))
    assert mixed.exit_code == 0, mixed.output
    tables = mixed.stdout.strip().split("\nACTION")
    assert len(tables) == 2 and "greeting" in tables[0] and "greet " in tables[1] + " "  # values first
    assert names(cli, "values") == ["greeting"] and "greet" in names(cli, "specs")


def test_the_resource_word_still_decides(cli):
    path = cli.write("v.yaml", "- name: x\n  data: 1\n")
    assert cli("apply", "values", "-f", path).exit_code == 0
    assert names(cli, "values") == ["x"]


def test_a_document_that_is_neither_is_a_usage_error_naming_it(cli):
    path = cli.write("odd.yaml", "- name: mystery\n  code: 1\n")
    result = cli("apply", "-f", path)
    assert result.exit_code == 2
    assert f"{path}: document 'mystery' is not a spec (it has no kind), a value (no data) or a chart (no specs)" in result.stderr
    assert cli.docs("specs") == [] and cli.docs("values") == []


def test_a_bad_spec_in_a_mixed_file_writes_no_value_either(cli):
    path = cli.write("mixed.yaml", MIXED + "- kind: snippet\n  name: broken\n  language: cel\n  code: '1 +'\n")
    result = cli("apply", "-f", path)
    assert result.exit_code == 1 and "spec 'broken'" in result.stderr
    assert cli.docs("values") == [] and cli.docs("specs") == []


def test_a_directory_and_recursion(cli, tmp_path):
    flows = tmp_path / "flows"
    (flows / "team").mkdir(parents=True)
    (flows / "a.yaml").write_text("- kind: snippet\n  name: a\n  language: text\n  code: a\n")
    (flows / "b.json").write_text('[{"name": "b", "data": 2}]')
    (flows / "notes.txt").write_text("not documents")
    (flows / "team" / "c.yml").write_text("- kind: snippet\n  name: c\n  language: text\n  code: c\n")
    assert cli("apply", "-f", str(flows)).exit_code == 0
    assert names(cli, "specs") == ["a"] and names(cli, "values") == ["b"]
    assert cli("apply", "-f", str(flows), "-R").exit_code == 0
    assert names(cli, "specs") == ["a", "c"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("apply", "-f", str(empty))
    assert result.exit_code == 2 and "no *.yaml, *.yml or *.json files" in result.stderr


def test_stdin_and_several_files(cli):
    result = cli("apply", "-f", "-", "-f", cli.write("v.yaml", "- name: v\n  data: 1\n"),
                 input="- kind: snippet\n  name: s\n  language: text\n  code: s\n")
    assert result.exit_code == 0, result.output
    assert names(cli, "specs") == ["s"] and names(cli, "values") == ["v"]


def test_delete_reads_what_each_document_is(cli):
    path = cli.write("mixed.yaml", MIXED)
    assert cli("apply", "-f", path).exit_code == 0
    result = cli("delete", "-f", path)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ACTION", "deleted", "ACTION", "deleted"]
    assert cli.docs("specs") == [] and cli.docs("values") == []
    assert cli("delete", "--name", "x").exit_code == 2
