"""Hostile files (issue 12 items 8 and 10): alias bombs, huge and deeply nested documents, lone
surrogates — each refused with one line naming the file, by apply, start/test --from-specs and the
yaml language the admin API compiles."""

from __future__ import annotations

import json

import pytest

from portflow.errors import CompileError, DocumentError
from portflow.lang.yaml import Yaml
from portflow.spec import read_documents


def alias_bomb(depth: int = 9) -> str:
    """A YAML text of ~400 bytes whose aliases expand to 9**depth strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, depth):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nkind: snippet\nname: bomb\nlanguage: text\ncode: x\nz: *a{depth - 1}\n"


@pytest.mark.parametrize("command", [("apply", "specs"), ("start",), ("test",)])
def test_an_alias_bomb_is_refused_in_one_line(cli, command):
    path = cli.write("bomb.yaml", alias_bomb())
    assert len(alias_bomb()) < 500
    args = [*command, "-f", path] if command[0] == "apply" else [*command, "--from-specs", path]
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"error: {path}: YAML aliases expand to more than 1000000 nodes"]
    assert cli.docs("specs") == []


def test_modest_aliases_still_work():
    docs = read_documents("- &b {kind: snippet, name: a, language: text, code: hi}\n- {<<: *b, name: b}\n")
    assert docs[1] == {"kind": "snippet", "name": "b", "language": "text", "code": "hi"}


def test_a_document_over_the_size_bound_is_refused():
    with pytest.raises(DocumentError, match=r"^big\.yaml: larger than 1000 bytes$"):
        read_documents("- kind: snippet\n  code: " + "x" * 2000 + "\n", "big.yaml", max_bytes=1000)


def test_a_yaml_snippet_alias_bomb_does_not_compile():
    with pytest.raises(CompileError, match="YAML aliases expand to more than"):
        Yaml().compile(alias_bomb())


def test_deeply_nested_json_is_one_clear_line(cli):
    path = cli.write("deep.json", "[" * 100_000 + "]" * 100_000)
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1
    assert result.stderr == f"error: {path}: nested too deeply\n"


def test_a_lone_surrogate_is_one_clear_line_on_sqlite(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PORTFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    path = cli.write("odd.json", json.dumps([{"kind": "snippet", "name": "a\udc80b", "language": "text",
                                              "code": "x"}]))
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and "internal error" not in result.stderr
    assert "not valid Unicode" in result.stderr


def test_the_bounds_are_settings(cli, monkeypatch):
    path = cli.write("flow.yaml", "- &s {kind: snippet, name: a, language: text, code: hi}\n"
                                  "- {<<: *s, name: b}\n- {<<: *s, name: c}\n")
    monkeypatch.setenv("PORTFLOW_DOCUMENTS_MAX_NODES", "20")
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1 and result.stderr == f"error: {path}: YAML aliases expand to more than 20 nodes\n"
    monkeypatch.setenv("PORTFLOW_DOCUMENTS_MAX_NODES", "1000")
    monkeypatch.setenv("PORTFLOW_DOCUMENTS_MAX_BYTES", "50")
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1 and result.stderr == f"error: {path}: larger than 50 bytes\n"
