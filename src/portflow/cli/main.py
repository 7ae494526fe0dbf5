"""``portflow``: the root command group. Subcommands are imported lazily, so ``--help`` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__
from .common import setup_logging

# command name -> "module:function", imported only when that command runs (or help lists it).
COMMANDS = {
    "start": "portflow.cli.start:start",
    "test": "portflow.cli.test:test",
    "apply": "portflow.cli.apply:apply",
    "delete": "portflow.cli.delete:delete",
    "get": "portflow.cli.get:get",
    "explain": "portflow.cli.explain:explain",
    "kinds": "portflow.cli.explain:kinds",
    "docs": "portflow.cli.docs:docs",
    "lint": "portflow.cli.lint:lint",
    "diff": "portflow.cli.diff:diff",
    "graph": "portflow.cli.graph:graph",
    "history": "portflow.cli.history:history",
    "rollback": "portflow.cli.history:rollback",
    "completion": "portflow.cli.completion:completion",
    "config": "portflow.cli.config:config",
    "schema": "portflow.cli.schema:schema",
    "examples": "portflow.cli.examples:examples",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="portflow")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
              help="Log verbosity (setting logging.level; default info). debug also shows tracebacks.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log line format (setting logging.format; default text).")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None, log_format: str | None) -> None:
    """portflow: a flow-based workflow engine.

    Node specs live in a database (setting database.url; SQLite at ~/.portflow/portflow.db by
    default). `portflow start` runs a namespace; the other commands manage and test its specs.
    """
    ctx.ensure_object(dict)
    ctx.obj["log_level"] = log_level
    ctx.obj["log_format"] = log_format
    setup_logging(log_level or "info", log_format or "text")


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="portflow", standalone_mode=False)
    except click.exceptions.ClickException as exc:  # a usage error: as a JSON line too with --log-format json
        from ..logs import is_json, say

        if is_json():
            say(f"error: {exc.format_message()}", level="error", err=True)
        else:
            exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
