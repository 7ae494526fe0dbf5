"""``portflow explain`` and ``portflow kinds``: from each kind's declaration."""

from __future__ import annotations

import json


def test_explain_shows_fields_ports_and_example(cli):
    result = cli("explain", "assert")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("KIND:     assert\nPLUGIN:   testing\n")
    fields = {line.split()[0]: line.split() for line in text.split("FIELDS:")[1].split("PORTS:")[0].splitlines()[2:]
              if line.strip() and not line.strip().startswith("Plus")}
    assert fields["expect"][:3] == ["expect", "str", "required"]
    assert fields["timeout"][:4] == ["timeout", "duration", "|", "null"]
    assert "Plus the fields every spec has: id, kind, namespace, name, annotations, env, ports." in text
    ports = [line.split(None, 1) for line in text.split("PORTS:")[1].split("EXAMPLE:")[0].splitlines()[2:]
             if line.strip()]
    assert ["out", "[payload, index] when the check passed (chain further asserts here)"] in ports
    assert "EXAMPLE:\n  kind: assert\n" in text


def test_explain_alias_and_schema(cli):
    result = cli("explain", "test", "--schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$defs"]["TestSpec"]["required"] == ["kind"]


def test_unknown_kind_suggests(cli):
    result = cli("explain", "asert")
    assert result.exit_code == 1
    assert result.stderr == "error: unknown kind 'asert'; did you mean assert?\n"


def test_kinds_lists_one_line_per_kind(cli):
    result = cli("kinds")
    assert result.exit_code == 0
    lines = {line.split()[0]: line.split(None, 2) for line in result.stdout.splitlines()}
    assert lines["assert"][1] == "testing" and lines["test"][1] == "testing"
    assert lines["test"][2] == "A workflow test: drive the flow on out[0], check its answer on out[1]."
    assert "snippet" in lines
