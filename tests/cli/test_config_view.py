"""``portflow config view``: every setting in effect, where it came from, secrets masked."""

from __future__ import annotations

import json
import subprocess

from .test_subprocess import PORTFLOW

TOML = """
[runtime]
namespace = "team"
[environment]
API_KEY = "sk-123"
[plugins.net]
api_token = "abc-secret"
limit = 3
"""


def by_key(stdout: str) -> dict[str, dict]:
    return {row["key"]: row for row in json.loads(stdout)}


def test_each_setting_says_where_it_came_from(cli):
    cli.write(".portflow.toml", TOML)
    result = cli("--log-level", "warning", "config", "view", "-o", "json",
                 env={"PORTFLOW_DATABASE_URL": "postgresql://u:hunter2@db.example/x"})
    assert result.exit_code == 0, result.output
    rows = by_key(result.stdout)
    assert rows["database.url"] == {"key": "database.url", "value": "postgresql://u:***@db.example/x",
                                    "source": "variable $PORTFLOW_DATABASE_URL"}
    assert rows["runtime.namespace"]["value"] == "team"
    assert rows["runtime.namespace"]["source"].startswith("file ") and rows["runtime.namespace"]["source"].endswith(
        ".portflow.toml")
    assert rows["logging.level"] == {"key": "logging.level", "value": "warning", "source": "flag"}
    assert rows["history.keep"] == {"key": "history.keep", "value": 50, "source": "default"}
    assert rows["environment"]["value"] == {"API_KEY": "***"}
    assert rows["plugins.net"]["value"] == {"api_token": "***", "limit": 3}
    for secret in ("hunter2", "sk-123", "abc-secret"):
        assert secret not in result.output


def test_the_table(cli):
    result = cli("config", "view")
    assert result.exit_code == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["KEY", "VALUE", "SOURCE"]
    assert ["runtime.namespace", "default", "default"] in lines
    assert any(line[0] == "database.url" and line[-2:] == ["variable", "$PORTFLOW_DATABASE_URL"] for line in lines)


def test_a_bad_setting_is_one_line(cli):
    result = cli("config", "view", env={"PORTFLOW_HISTORY_KEEP": "many"})
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: $PORTFLOW_HISTORY_KEEP: history.keep: expected an integer, got 'many'"


def test_config_view_through_the_real_executable(tmp_path):
    out = subprocess.run([PORTFLOW, "config", "view", "-o", "yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PORTFLOW_HISTORY_KEEP": "7"},
                         check=False)
    assert out.returncode == 0, out.stderr
    assert "- key: history.keep\n  value: 7\n  source: variable $PORTFLOW_HISTORY_KEEP\n" in out.stdout
