"""``portflow diff`` and ``apply --dry-run``: what apply would change, per document, secrets masked; nothing
written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PING = (ROOT / "examples" / "ping.yaml").read_text(encoding="utf-8")


def test_diff_of_a_new_file_then_no_change_then_one_field(cli):
    path = cli.write("ping.yaml", PING)
    first = cli("diff", "-f", path)
    assert first.exit_code == 1
    assert first.stdout.count("--- /dev/null\n") == 3 and "+++ file spec default/pong\n" in first.stdout
    assert "+code: pong\n" in first.stdout and "+id:" not in first.stdout  # no id is made up
    assert first.stderr == "3 created\n"
    assert cli.docs("specs") == []  # diff writes nothing
    assert cli("apply", "specs", "-f", path).exit_code == 0
    same = cli("diff", "-f", path)
    assert (same.exit_code, same.stdout, same.stderr) == (0, "", "no changes\n")
    changed = cli("diff", "-f", cli.write("ping2.yaml", PING.replace("code: pong", "code: pang")))
    assert changed.exit_code == 1
    assert changed.stdout.splitlines() == [
        "--- stored spec default/pong", "+++ file spec default/pong", "@@ -3,4 +3,4 @@",
        " namespace: default", " name: pong", " language: text", "-code: pong", "+code: pang"]


def test_values_are_masked_on_both_sides_and_never_shown_in_a_spec(cli):
    cli("apply", "values", "-f", cli.write("v.yaml", "- name: db\n  data: {user: admin, password: s3cret-old}\n"))
    path = cli.write("both.yaml", """
- name: db
  data: {user: admin, password: s3cret-new}
- kind: snippet
  name: leak
  language: text
  code: 's3cret-old in a spec'
""")
    result = cli("diff", "-f", path)
    assert result.exit_code == 1
    assert "s3cret" not in result.output and "admin" not in result.output
    assert "   user: '***'\n-  password: '***'\n+  password: '*** (changed)'\n" in result.stdout
    assert "+code: *** in a spec\n" in result.stdout


def test_prune_shows_removals_and_rejected_documents_exit_2(cli):
    cli("apply", "specs", "-f", cli.write("ping.yaml", PING))
    only = cli.write("only.yaml", "- kind: snippet\n  name: pong\n  language: text\n  code: pong\n")
    pruned = cli("diff", "--prune", "-f", only)
    assert pruned.exit_code == 1 and pruned.stderr == "2 removed\n"
    assert "--- stored spec default/listener\n+++ /dev/null\n" in pruned.stdout
    bad = cli("diff", "-f", cli.write("bad.yaml", "- kind: snippet\n  name: x\n  language: cel\n  code: '1 +'\n"))
    assert bad.exit_code == 2 and "error: spec 'x' (kind snippet): code: cel: Syntax error" in bad.stderr
    assert bad.stderr.endswith("error: 1 document(s) apply would reject\n") and bad.stdout == ""
    missing = cli("diff", "-f", "nope.yaml")
    assert missing.exit_code == 2 and missing.stderr == "error: nope.yaml: No such file or directory\n"


def test_apply_dry_run_prints_the_diff_and_writes_nothing(cli):
    path = cli.write("ping.yaml", PING)
    cli("apply", "specs", "-f", path)
    before = cli.docs("specs")
    result = cli("apply", "specs", "--dry-run", "-f", cli.write("p2.yaml", PING.replace("code: pong", "code: pang")))
    assert result.exit_code == 0
    assert "-code: pong\n+code: pang\n" in result.stdout
    assert result.stderr == "1 updated\ndry run: nothing written\n"
    assert cli.docs("specs") == before


def test_diff_through_the_real_executable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    exe = str(Path(sys.executable).with_name("portflow"))

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=60, check=False)

    ping = tmp_path / "ping.yaml"
    ping.write_text(PING, encoding="utf-8")
    assert sh("apply", "specs", "-f", str(ping)).returncode == 0
    assert sh("diff", "-f", str(ping)).returncode == 0
    ping.write_text(PING.replace("code: pong", "code: pang"), encoding="utf-8")
    changed = sh("diff", "-f", str(ping))
    assert changed.returncode == 1 and "+code: pang\n" in changed.stdout
