"""``portflow explain KIND`` and ``portflow kinds``: what the installed kinds are, from their declarations."""

from __future__ import annotations

from typing import Any

import click

from .common import handle_errors, load_settings_for

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
    props = _properties(schema)
    from ..scheme import _schema_hook
    from ..spec import Duration

    type_description = _schema_hook(Duration).get("description")
    fields = []
    for f in scheme.fields(kind.name):
        described = dict(f)
        description = (props.get(f["name"]) or {}).get("description", "")
        described["description"] = "" if description == type_description else description
        fields.append(described)
        fields.extend(_nested(kind.spec, f["name"]))
    summary = (kind.description or "").strip()
    import inspect

    details = inspect.cleandoc(kind.spec.__doc__ or "") if kind.spec.__doc__ else ""
    if details.strip() == summary:
        details = ""
    return KindInfo(kind.name, kind.plugin, summary, details, tuple(kind.aliases), fields, dict(kind.ports),
                    kind.example.strip("\n"), schema)


def _nested(cls: Any, name: str, depth: int = 0) -> list[dict[str, Any]]:
    """Rows for the fields of a struct-typed field (``target.port``; ``routes[].path`` for a list)."""
    import typing

    import msgspec

    from ..scheme import type_name

    info = next((f for f in msgspec.structs.fields(cls) if f.encode_name == name), None)
    if info is None or depth > 2:
        return []

    def find(tp: Any, prefix: str) -> tuple[Any, str] | None:
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            return tp, prefix
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (list, tuple, set, frozenset) and args:
            return find(args[0], prefix + "[]")
        if origin is dict and len(args) == 2:
            return find(args[1], prefix + ".*")
        for arg in args:
            found = find(arg, prefix)
            if found:
                return found
        return None

    found = find(info.type, name)
    if found is None:
        return []
    inner, prefix = found
    rows = []
    for sub in msgspec.structs.fields(inner):
        default = None
        if sub.default is not msgspec.NODEFAULT:
            default = sub.default
        elif sub.default_factory is not msgspec.NODEFAULT:
            default = sub.default_factory()
        rows.append({"name": f"{prefix}.{sub.encode_name}", "type": type_name(sub.type), "required": sub.required,
                     "default": msgspec.to_builtins(default, enc_hook=float), "description": ""})
        rows.extend({**row, "name": f"{prefix}.{row['name']}"} for row in _nested(inner, sub.encode_name, depth + 1))
    return rows


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return schema.get("$defs", {}).get(ref.rsplit("/", 1)[1], {}).get("properties", {})
    return schema.get("properties", {})


def default_text(f: dict[str, Any]) -> str:
    """A field's default as it would be written in a spec (durations as ``2s``)."""
    if f["required"]:
        return ""
    default = f["default"]
    if f["type"].split(" | ")[0] == "duration" and isinstance(default, (int, float)) and default is not True:
        from ..plugins.testing.runner import format_duration

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
        rows = [[f["name"], f["type"], "required" if f["required"] else f"default {default_text(f)}",
                 f["description"]] for f in info.fields]
        headers = ["field", "type", "required/default", "description"]
        if not any(f["description"] for f in info.fields):
            headers, rows = headers[:3], [row[:3] for row in rows]
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
@click.argument("kind")
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
        click.echo("no kinds: no plugin is installed or enabled", err=True)
        return
    table = format_table(["", "", ""], rows).splitlines()[1:]  # no header: one line per kind
    click.echo("\n".join(table))
