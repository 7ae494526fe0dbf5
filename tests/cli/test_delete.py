"""``portflow delete``: by the documents of a file, or by name."""

from __future__ import annotations


def seed(cli):
    path = cli.write("values.yaml", """
- name: a
  data: 1
- name: b
  data: 2
- name: c
  namespace: other
  data: 3
""")
    assert cli("apply", "values", "-f", path).exit_code == 0


def test_delete_by_name(cli):
    seed(cli)
    result = cli("delete", "values", "--name", "a", "--name", "zzz")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ACTION", "ID", "NAMESPACE", "NAME"] and lines[1].split()[2:] == ["default", "a"]
    assert sorted(d["name"] for d in cli.docs("values")) == ["b", "c"]


def test_delete_by_file_uses_each_documents_namespace_or_the_flag(cli):
    seed(cli)
    path = cli.write("gone.yaml", "- name: b\n- name: c\n  namespace: other\n")
    result = cli("delete", "values", "-f", path)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3
    assert [d["name"] for d in cli.docs("values")] == ["a"]


def test_delete_by_id_and_nothing_matched(cli):
    seed(cli)
    ident = cli.docs("values", {"name": "a"})[0]["id"]
    path = cli.write("byid.json", f'[{{"id": "{ident}"}}]')
    assert cli("delete", "values", "-f", path).exit_code == 0
    none = cli("delete", "values", "--name", "a")
    assert none.exit_code == 0 and none.stdout == "" and "none matched" in none.stderr


def test_needs_a_file_or_a_name(cli):
    result = cli("delete", "values")
    assert result.exit_code == 2 and "give -f FILE or --name NAME" in result.stderr
