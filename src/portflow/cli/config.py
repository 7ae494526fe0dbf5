"""``portflow config view``: the effective settings and where each one came from."""

from __future__ import annotations

from typing import Any

import click

from .common import format_table, handle_errors, load_settings_for

SECRET_WORDS = ("password", "secret", "token", "key", "credential")


def _masked(key: str, value: Any) -> Any:
    """A setting as shown: the database URL without its password; the environment's values, secret-looking
    plugin settings and a secret-looking setting written as text (not a template) as ``***``."""
    from ..store.base import mask_url

    if key == "database.url":
        return mask_url(str(value))
    if key == "environment" and isinstance(value, dict):
        return {k: "***" for k in value}
    if isinstance(value, dict):
        return {k: "***" if any(w in k.lower() for w in SECRET_WORDS) else _masked(f"{key}.{k}", v)
                for k, v in value.items()}
    last = key.rpartition(".")[2].lower()
    if isinstance(value, str) and value and "{{" not in value and any(w in last for w in SECRET_WORDS):
        return "***"  # a secret written as text (admin.token); a template names its value and is shown
    return value


def _source(where: str | None) -> str:
    if where is None:
        return "default"
    if where == "flag":
        return "flag"
    return f"variable {where}" if where.startswith("$") else f"file {where}"


def effective(settings: Any) -> list[dict[str, Any]]:
    """One row per setting: key, value (masked), and source (``default``, ``file PATH``, ``variable $NAME``
    or ``flag``)."""
    rows = []
    for key in sorted(settings.values):
        rows.append({"key": key, "value": _masked(key, settings.values[key]),
                     "source": _source(settings.sources.get(key))})
    for name in sorted(settings.plugins):
        key = f"plugins.{name}"
        rows.append({"key": key, "value": _masked(key, settings.plugins[name]),
                     "source": _source(settings.sources.get(key))})
    return rows


@click.group(short_help="Look at the settings in effect.")
def config() -> None:
    """Look at the settings in effect (defaults < .portflow.toml or $PORTFLOW_CONFIG < PORTFLOW_* < flags)."""


@config.command(short_help="Print the effective settings and where each came from.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True,
              help="Output format.")
@click.pass_context
@handle_errors
def view(ctx: click.Context, output: str) -> None:
    """Print every setting in effect, its value and its source: default, the config file, a PORTFLOW_*
    variable, or a flag (--log-level, --log-format). Passwords, the environment table's values and
    secret-looking plugin settings are masked."""
    import json

    settings = load_settings_for(ctx)
    rows = effective(settings)
    if output == "table":
        cell = [[r["key"], r["value"] if isinstance(r["value"], str) else json.dumps(r["value"]), r["source"]]
                for r in rows]
        click.echo(format_table(["key", "value", "source"], cell))
        return
    from ..spec import dump_documents

    click.echo(dump_documents(rows, output), nl=False)
