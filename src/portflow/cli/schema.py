"""``portflow schema``: one JSON Schema for whole spec files, for editors' completion and checks."""

from __future__ import annotations

import json

import click

from .common import handle_errors, load_settings_for


@click.command(short_help="Write the JSON Schema of spec files (for editors).")
@click.option("-o", "--output", "path", default="-", metavar="FILE", show_default=True,
              help="Write it to FILE (- : stdout).")
@click.pass_context
@handle_errors
def schema(ctx: click.Context, path: str) -> None:
    """Write one JSON Schema for spec files: every installed kind, selected by `kind`, with templates
    allowed in every typed field. Point an editor at it; for VS Code's YAML extension, the first line of
    a spec file:

    \b
        # yaml-language-server: $schema=./portflow.schema.json
    """
    from ..file_schema import file_schema
    from ..plugin import default_registries

    settings = load_settings_for(ctx)
    text = json.dumps(file_schema(default_registries(settings.runtime_settings()).scheme), indent=2,
                      ensure_ascii=False) + "\n"
    if path == "-":
        click.echo(text, nl=False)
        return
    from pathlib import Path

    Path(path).write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}", err=True)
