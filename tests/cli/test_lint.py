"""``portflow lint``: every problem ``start`` would find, one line each with file, line, spec and field;
``get`` shows the same wiring mistakes for stored specs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BAD = """\
- kind: listener
  name: listener
  port: 8000
  ports:
    out:
      - name: rooter
        port: in
    error:
      - name: pong
        port: in

- kind: listener
  name: second
  port: '8000'
  ports:
    out:
      - name: router
        port: in
    error:
      - name: pong
        port: in

- kind: router
  name: router
  routes:
    - method: GET
      path: /ping
      port: out[0]
  ports:
    out[0]:
      - name: pong
        port: inn

- kind: snippet
  name: pong
  language: text
  code: pong

- kind: snippet
  name: broken
  language: cel
  code: '1 +'

- kind: snipet
  name: odd

- kind: snippet
  name: pong
  language: text
  code: x
"""


def lines(result):
    return result.stdout.splitlines()


def test_every_problem_is_one_line_with_file_line_spec_and_field(cli):
    path = cli.write("bad.yaml", BAD)
    result = cli("lint", "-f", path)
    assert result.exit_code == 1
    out = lines(result)
    assert f"{path}:6: spec 'listener' (kind listener): ports.out[0].name: no spec named 'rooter' in namespace " \
           "'default' (did you mean 'router'?); inactive until it exists" in out
    assert f"{path}:14: spec 'second' (kind listener): port: port 8000 is also listened on by spec 'listener' " \
           f"(kind listener) ({path}:3)" in out
    assert f"{path}:32: spec 'router' (kind router): ports.out[0][0].port: spec 'pong' (kind snippet) has no " \
           "in-port 'inn' (did you mean 'in'?); the connection is ignored" in out
    compile_error = [line for line in out if line.startswith(f"{path}:42: spec 'broken' (kind snippet): code: ")]
    assert len(compile_error) == 1 and "Syntax error" in compile_error[0]
    assert f"{path}:44: spec 'odd' (kind snipet): kind: unknown kind 'snipet' (did you mean 'snippet'?); " \
           "`portflow kinds` lists the installed ones" in out
    assert f"{path}:48: spec 'pong' (kind snippet): name: 'pong' is used twice in namespace 'default' " \
           f"(first at {path}:35)" in out
    assert len(out) == 6, out  # 'broken' did not compile: whether anything sends to it is not asked
    assert result.stderr == "1 file: 6 error(s), 0 warning(s)\n"
    assert cli.docs("specs") == []  # nothing written


def test_warnings_only_exit_0_and_json_for_editors(cli):
    path = cli.write("ping.yaml", (ROOT / "examples" / "ping.yaml").read_text(encoding="utf-8"))
    result = cli("lint", "-f", path, "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{
        "file": path, "line": 5, "subject": "spec 'listener' (kind listener)", "field": "ports",
        "message": "the error port is not wired: a failing flow answers a bare 500 (wire ports.error to answer "
                   "errors yourself)",
        "severity": "warning"}]


def test_decode_errors_and_meta_fields_and_files_as_one_namespace(cli):
    broken = cli.write("broken.yaml", "- kind: snippet\n  name: a\n  code: [unclosed\n")
    meta = cli.write("meta.yaml", "- name: nokind\n- kind: snippet\n  name: b\n  code: b\n  ports:\n    out:\n"
                                  "      - name: c\n        port: in\n")
    other = cli.write("other.json", '[{"kind": "snippet", "name": "c", "language": "text", "code": "c"}]')
    result = cli("lint", "-f", broken, "-f", meta, "-f", other, "-f", "missing.yaml")
    assert result.exit_code == 1
    out = lines(result)
    assert out[0].startswith("missing.yaml: No such file")
    assert any(line.startswith(f"{broken}:4: ") for line in out), out
    assert f"{meta}:1: spec 'nokind': kind: required" in out
    assert f"{meta}:2: spec 'b' (kind snippet): language: required" in out
    # b -> c resolves across the files, and counts although b does not compile: nothing else to say
    assert len(out) == 4, out


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_every_example_lints_without_errors(cli, example):
    result = cli("lint", "-f", str(ROOT / "examples" / example), "-e", "PORT=8000")  # as `make lint` does
    assert result.exit_code == 0, result.output
    assert not [line for line in lines(result) if not line.endswith("(warning)")]


def test_get_shows_the_wiring_mistakes_of_stored_specs(cli):
    path = cli.write("specs.yaml", """
- kind: snippet
  name: head
  language: text
  code: x
  ports:
    out:
      - name: tial
        port: in
- kind: snippet
  name: tail
  language: text
  code: y
""")
    assert cli("apply", "specs", "-f", path).exit_code == 0
    expected = ("warning: spec 'head' (kind snippet): ports.out[0].name: no spec named 'tial' in namespace "
                "'default' (did you mean 'tail'?); inactive until it exists")
    assert expected in cli("get", "specs").stderr.splitlines()
    assert expected in cli("get", "specs", "head").stderr.splitlines()  # resolved against the namespace
    assert cli("get", "specs", "tail").stderr == ""


def test_lint_through_the_real_executable(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- kind: snippet\n  name: a\n  code: a\n  ports:\n    out:\n      - name: bb\n        port: in\n"
                   "- kind: snippet\n  name: b\n  code: b\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    exe = str(Path(sys.executable).with_name("portflow"))
    result = subprocess.run([exe, "lint", "-f", str(bad)], capture_output=True, text=True, env=env, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert f"{bad}:6: spec 'a' (kind snippet): ports.out[0].name: no spec named 'bb' in namespace 'default' " \
           "(did you mean 'b'?); inactive until it exists" in result.stdout.splitlines()
    assert not (tmp_path / "portflow.db").exists()  # lint opens no store


def test_specs_with_env_compile_when_what_they_bind_is_given(cli):
    listener = """\
- kind: listener
  name: {name}
  port: '{{{{ .PORT }}}}'
  env:
    PORT:
      data: '{{{{ .PORT }}}}'
  ports:
    out:
      - name: s
        port: in
    error:
      - name: s
        port: in
"""
    path = cli.write("two.yaml", listener.format(name="a") + listener.format(name="b") +
                     "- kind: snippet\n  name: s\n  language: text\n  code: x\n")
    assert cli("lint", "-f", path).exit_code == 0  # without -e the templates wait: nothing to compile
    result = cli("lint", "-f", path, "-e", "PORT=8000")
    assert result.exit_code == 1
    assert lines(result) == [f"{path}:16: spec 'b' (kind listener): port: port 8000 is also listened on by spec 'a' "
                             f"(kind listener) ({path}:3)"]
    bad = cli("lint", "-f", path, "-e", "PORT=70000")
    assert f"{path}:3: spec 'a' (kind listener): port: expected int <= 65535, got '70000'" in lines(bad)


def test_values_in_the_files_bind_by_name_and_their_text_never_shows(cli):
    path = cli.write("bound.yaml", """\
- name: token
  data: hunter2-secret
- kind: auth
  name: auth
  scheme: bearer
  token: '{{ .TOKEN }}'
  env:
    TOKEN:
      name: token
      data: '{{ . }}'
  ports:
    out:
      - name: listener
        port: in
- kind: listener
  name: listener
  port: '{{ .P }}'
  env:
    P:
      name: token
      data: '{{ . }}'
""")
    result = cli("lint", "-f", path)
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert lines(result) == [
        f"{path}:3: spec 'auth' (kind auth): nothing sends to this node (no spec's ports name it) (warning)",
        f"{path}:15: spec 'listener' (kind listener): ports: the error port is not wired: a failing flow answers a "
        "bare 500 (wire ports.error to answer errors yourself) (warning)",
        f"{path}:17: spec 'listener' (kind listener): port: expected int, got str"]  # the value was bound
