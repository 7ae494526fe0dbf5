"""``portflow get``: tables like uniflow's, JSON/YAML that can be applied again, values masked."""

from __future__ import annotations

import json

import yaml


def seed_values(cli):
    path = cli.write("values.yaml", """
- name: db
  data: {user: admin, password: s3cret}
- name: token
  namespace: other
  data: abc
""")
    assert cli("apply", "values", "-f", path).exit_code == 0


def test_values_table_masks_data(cli):
    seed_values(cli)
    result = cli("get", "values")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAMESPACE", "NAME", "DATA"]
    assert lines[1].split()[1:] == ["default", "db", '{"user":"***","password":"***"}']
    assert "s3cret" not in result.output
    shown = cli("get", "values", "--show-data", "-o", "json")
    assert json.loads(shown.stdout)[0]["data"] == {"user": "admin", "password": "s3cret"}


def test_all_namespaces_one_name_and_formats(cli):
    seed_values(cli)
    every = cli("get", "values", "-A", "-o", "yaml")
    assert sorted(d["name"] for d in yaml.safe_load(every.stdout)) == ["db", "token"]
    one = cli("get", "values", "token", "-n", "other", "-o", "json")
    doc = json.loads(one.stdout)
    assert doc["name"] == "token" and doc["data"] == "***"
    by_id = cli("get", "values", doc["id"], "-n", "other", "-o", "yaml")
    assert yaml.safe_load(by_id.stdout)["name"] == "token"


def test_missing_name_is_an_error_and_empty_is_not(cli):
    result = cli("get", "specs", "nothing")
    assert result.exit_code == 1 and result.stderr == "error: no spec named 'nothing' in namespace 'default'\n"
    empty = cli("get", "specs")
    assert empty.exit_code == 0 and empty.stdout == "" and "no specs in namespace 'default'" in empty.stderr
    assert cli("get", "specs", "-o", "json").stdout == "[]\n"


def test_namespace_and_all_exclude_each_other(cli):
    assert cli("get", "specs", "-n", "x", "-A").exit_code == 2


def test_specs_table_columns_and_round_trip(cli):
    path = cli.write("flow.yaml", """
- kind: snippet
  name: greet
  language: text
  code: |
    hello
    world
  ports:
    out: [{name: shout, port: in}]
- kind: snippet
  name: shout
  language: cel
  code: self.upperAscii()
- kind: mystery
  name: unknown-thing
""")
    assert cli("apply", "specs", "-f", path).exit_code == 0
    result = cli("get", "specs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["ID", "KIND", "NAMESPACE", "NAME"] and {"LANGUAGE", "CODE"} <= set(header)
    assert "PORTS" not in header  # in one row of three: under half
    assert "hello…" in lines[1] and "world" not in result.stdout
    assert "warning: spec 'unknown-thing' (kind mystery): unknown kind 'mystery'; stored, not compiled" \
        in result.stderr
    dumped = cli("get", "specs", "-o", "yaml").stdout
    cli.write("again.yaml", dumped)
    again = cli("apply", "specs", "-f", "again.yaml")
    assert [line.split()[0] for line in again.stdout.splitlines()[1:]] == ["unchanged"] * 3
