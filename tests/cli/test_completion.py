"""``portflow completion``: the scripts, and what they complete (commands, flags, kinds, namespaces, names)."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.shell_completion import ShellComplete

from portflow.cli.main import cli as portflow_cli

from .test_subprocess import PORTFLOW


def complete(args: list[str], incomplete: str) -> list[str]:
    return [c.value for c in ShellComplete(portflow_cli, {}, "portflow", "_PORTFLOW_COMPLETE")
            .get_completions(args, incomplete)]


@pytest.mark.parametrize(("shell", "hook"), [
    ("bash", "complete -o nosort -F _portflow_completion portflow"),
    ("zsh", "compdef _portflow_completion portflow"),
    ("fish", "complete --no-files --command portflow"),
])
def test_each_shell_gets_a_script(cli, shell, hook):
    result = cli("completion", shell)
    assert result.exit_code == 0 and f"_PORTFLOW_COMPLETE={shell}_complete" in result.stdout
    assert hook in result.stdout


def test_an_unknown_shell_is_a_usage_error(cli):
    assert cli("completion", "powershell").exit_code == 2


def test_commands_flags_and_kinds(cli):
    assert "history" in complete([], "hi") and "rollback" in complete([], "ro")
    assert {"--watch", "--namespace", "--output"} <= set(complete(["get"], "--"))
    assert complete(["explain"], "liste") == ["listener"]
    assert complete(["get"], "") == ["specs", "values"] and complete(["apply"], "v") == ["values"]


def test_namespaces_and_names_come_from_the_store(cli):
    path = cli.write("f.yaml", "- kind: snippet\n  name: greet\n  namespace: team\n  language: text\n  code: x\n"
                               "- name: token\n  namespace: ops\n  data: s\n")
    assert cli("apply", "-f", path).exit_code == 0
    assert complete(["get", "specs", "-n"], "") == ["ops", "team"]
    assert complete(["get", "specs", "-n", "team"], "g") == ["greet"]
    assert complete(["get", "values", "-n", "ops"], "") == ["token"]
    assert complete(["history", "--values", "-n", "ops"], "") == ["token"]
    assert complete(["get", "specs"], "") == []  # nothing in `default`


def test_a_store_that_cannot_be_read_completes_nothing(cli, monkeypatch):
    monkeypatch.setenv("PORTFLOW_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert complete(["get", "specs", "-n"], "") == []


def test_completion_through_the_real_executable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env.update(PORTFLOW_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", _PORTFLOW_COMPLETE="bash_complete",
               COMP_WORDS="portflow roll", COMP_CWORD="1")
    out = subprocess.run([PORTFLOW], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.stdout.split() == ["plain,rollback"]
