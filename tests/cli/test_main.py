"""The command group: --version, --help everywhere, usage errors, settings and store errors."""

from __future__ import annotations

import click
import pytest

from portflow import __version__
from portflow.cli.main import COMMANDS
from portflow.cli.main import cli as portflow_cli


def walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from walk(command, ctx, (*prefix, name))


def test_every_command_is_listed_and_has_help_with_a_description(cli):
    ctx = click.Context(portflow_cli)
    found = dict(walk(portflow_cli, ctx))
    assert {"start", "test", "apply", "delete", "get", "explain", "kinds", "docs"} <= {p[0] for p in found}
    assert set(COMMANDS) <= {p[0] for p in found}
    for path, command in found.items():
        result = cli(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith(f"Usage: portflow {' '.join(path)}")
        assert (command.help or "").strip(), f"{path} has no description"
        assert command.help.strip().splitlines()[0] in " ".join(result.stdout.split()) or \
            command.help.split()[0] in result.stdout
    top = cli("--help")
    assert top.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in top.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"portflow, version {__version__}"


@pytest.mark.parametrize("args", [["frobnicate"], ["get", "specs", "--frob"], ["get", "nodes-and-more"],
                                  ["--log-format", "xml", "kinds"], ["apply", "specs"], ["delete", "specs"]])
def test_usage_errors_exit_2(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr and "Traceback" not in result.output


def test_unknown_setting_is_an_error_naming_it(cli):
    cli.write(".portflow.toml", "[runtime]\nnamspace = 'x'\n")
    result = cli("get", "specs")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "unknown setting 'runtime.namspace'" in line]


def test_bad_setting_from_a_variable(cli):
    result = cli("get", "specs", env={"PORTFLOW_LOGGING_LEVEL": "loud"})
    assert result.exit_code == 1
    assert "$PORTFLOW_LOGGING_LEVEL: logging.level: expected one of" in result.stderr


def test_store_that_cannot_be_opened_names_the_url_with_its_password_masked(cli):
    result = cli("get", "specs", env={"PORTFLOW_DATABASE_URL": "postgresql://bob:hunter2@127.0.0.1:1/db"})
    assert result.exit_code == 1
    assert "postgresql://bob:***@127.0.0.1:1/db" in result.stderr
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_store_scheme(cli):
    result = cli("get", "specs", env={"PORTFLOW_DATABASE_URL": "mongodb://u:pw@h/db"})
    assert result.exit_code == 1 and "pw" not in result.stderr and "unknown store URL" in result.stderr


def test_log_options_are_accepted(cli):
    assert cli("--log-level", "warning", "--log-format", "json", "get", "values").exit_code == 0
