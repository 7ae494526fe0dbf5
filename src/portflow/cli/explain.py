"""``portflow explain KIND`` and ``portflow kinds``: what the installed kinds are, from their declarations."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
from .common import complete_kinds, handle_errors, load_settings_for

META_FIELDS = ("id", "kind", "namespace", "name", "annotations", "env", "ports")


class KindInfo:
    """Everything ``explain`` and ``docs`` show about one kind, taken from its registration."""

    __slots__ = ("name", "plugin", "summary", "details", "aliases", "fields", "ports", "example", "schema")

    def __init__(self, name: str, plugin: str, summary: str, details: str, aliases: tuple[str, ...],
                 fields: list[dict[str, Any]], ports: dict[str, str], example: str,
                 schema: dict[str, Any] | None = None) -> None:
        self.name = name
        self.plugin = plugin
        self.summary = summary
        self.details = details
        self.aliases = aliases
        self.fields = fields
        self.ports = ports
        self.example = example
        self.schema = schema or {}


def registries(ctx: click.Context) -> Any:
    from ..plugin import default_registries

    settings = load_settings_for(ctx)
    return default_registries(settings.runtime_settings())


def kind_info(scheme: Any, name: str) -> KindInfo:
    """A kind's declaration, gathered. An unknown name raises ``UserError`` suggesting close names."""
    from ..errors import UserError

    kind = scheme.kind(name)
    if kind is None:
        import difflib

        names = [k.name for k in scheme.kinds()]
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ("; `portflow kinds` lists them" if names else
                                                                    "; no plugin provides any kind")
        raise UserError(f"unknown kind {name!r}{hint}")
    schema = scheme.json_schema(kind.name)
    fields = scheme.fields(kind.name, nested=True)
    summary = (kind.description or "").strip()
    import inspect

    details = inspect.cleandoc(kind.spec.__doc__ or "") if kind.spec.__doc__ else ""
    if details.strip() == summary:
        details = ""
    return KindInfo(kind.name, kind.plugin, summary, details, tuple(kind.aliases), fields, dict(kind.ports),
                    kind.example.strip("\n"), schema)


def default_text(f: dict[str, Any]) -> str:
    """A field's default as it would be written in a spec (durations as ``2s``)."""
    if f["required"]:
        return ""
    default = f["default"]
    if f["type"].split(" | ")[0] == "duration" and isinstance(default, (int, float)) and default is not True:
        from ..spec import format_duration

        return format_duration(float(default))
    import json

    return json.dumps(default, ensure_ascii=False)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def render_text(info: KindInfo) -> str:
    """The plain-text explanation ``portflow explain`` prints."""
    from .common import format_table

    def indent(text: str) -> str:
        return "\n".join(("  " + line).rstrip() for line in text.splitlines())

    def prose(text: str) -> str:  # docstrings mark code as ``x``; a terminal shows `x`
        return indent(text.replace("``", "`"))

    out = [f"KIND:     {info.name}", f"PLUGIN:   {info.plugin or '-'}"]
    if info.aliases:
        out.append(f"ALIASES:  {', '.join(info.aliases)}")
    out += ["", "DESCRIPTION:", prose(info.summary or "(none)")]
    if info.details:
        out += ["", prose(info.details)]
    out += ["", "FIELDS:"]
    if info.fields:
        columns = [c for c in ("constraints", "description") if any(f[c] for f in info.fields)]
        rows = [[f["name"], f["type"], "required" if f["required"] else f"default {default_text(f)}"]
                + [f[c] for c in columns] for f in info.fields]
        headers = ["field", "type", "required/default", *columns]
        out.append(indent(format_table(headers, rows)))
    else:
        out.append("  (none of its own)")
    out.append(f"  Plus the fields every spec has: {', '.join(META_FIELDS)}.")
    out += ["", "PORTS:"]
    if info.ports:
        out.append(indent(format_table(["port", "carries"], [[p, d] for p, d in info.ports.items()])))
    else:
        out.append("  (none declared)")
    if info.example:
        out += ["", "EXAMPLE:", indent(info.example)]
    return "\n".join(out)


@click.command(short_help="Explain a node kind: fields, ports, an example.")
@click.argument("kind", shell_complete=complete_kinds)
@click.option("--schema", is_flag=True, help="Print the kind's JSON Schema (for editors) instead.")
@click.pass_context
@handle_errors
def explain(ctx: click.Context, kind: str, schema: bool) -> None:
    """Explain a node kind: its fields (types, defaults), ports and an example.

    Everything comes from the kind's own declaration, so it matches what the runtime validates.
    """
    info = kind_info(registries(ctx).scheme, kind)
    if schema:
        import json

        click.echo(json.dumps(info.schema, indent=2, ensure_ascii=False))
        return
    click.echo(render_text(info))


@click.command(short_help="List the node kinds the plugins provide.")
@click.pass_context
@handle_errors
def kinds(ctx: click.Context) -> None:
    """List the node kinds the installed plugins provide: name, plugin, what it does."""
    from .common import format_table

    found = registries(ctx).scheme.kinds()
    rows = [[k.name, k.plugin or "-", first_line(k.description)] for k in found]
    if not rows:
        say("no kinds: no plugin is installed or enabled", level="warning", err=True)
        return
    table = format_table(["", "", ""], rows).splitlines()[1:]  # no header: one line per kind
    click.echo("\n".join(table))
