"""``portflow get specs|values``: print stored documents as a table, JSON or YAML."""

from __future__ import annotations

from typing import Any

import click

from .common import (
    RESOURCE,
    docs_table,
    handle_errors,
    load_settings_for,
    mask_data,
    namespace_option,
    open_store_for,
    run,
    singular,
)


async def find_docs(settings: Any, resource: str, namespace: str | None, name: str | None) -> list[dict[str, Any]]:
    store = await open_store_for(settings)
    try:
        flt: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
        if name:
            flt["$or"] = [{"name": name}, {"id": name}]
        return await getattr(store, resource).find(flt)
    finally:
        await store.close()


async def spec_warnings(settings: Any, docs: list[dict[str, Any]], namespace_docs: list[dict[str, Any]]) -> list[str]:
    """A warning per spec whose kind no installed plugin provides (the runtime stores but never runs it),
    per spec that does not compile (a runtime keeps its last good version, or leaves it inactive), and per
    wiring mistake (a link to a name or port that does not exist, with the closest one that does), the
    namespace's other specs (``namespace_docs``) being what links resolve against."""
    from ..admission import admission_context, compiled
    from ..plugin import default_registries
    from ..wiring import Wires

    registries = default_registries(settings.runtime_settings())
    context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                settings.runtime_settings())
    shown = {d.get("id") for d in docs}
    others = [d for d in namespace_docs if d.get("id") not in shown]
    lines: list[str] = []
    async with compiled([d for d in [*docs, *others] if isinstance(d.get("kind"), str)], context) as built:
        wires = Wires(b.symbol for b in built)
        for b in built:
            if b.doc.get("id") not in shown:
                continue
            if b.warning:
                lines.append(b.warning)
            elif b.problem:
                lines.append(f"stale: {b.problem}")
            lines.extend(f"{b.symbol.describe()}: {m}" for m in wires.miswirings(b.symbol))
    return lines


@click.command(short_help="Print specs or values as a table, JSON or YAML.")
@click.argument("resource", type=RESOURCE, metavar="specs|values")
@click.argument("name", required=False)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List the documents of every namespace.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True,
              help="Output format; json and yaml can be applied again.")
@click.option("--show-data", is_flag=True, help="Show values' data (masked by default: values hold secrets).")
@click.pass_context
@handle_errors
def get(ctx: click.Context, resource: str, name: str | None, namespace: str | None, all_namespaces: bool,
        output: str, show_data: bool) -> None:
    """Print the specs or values of a namespace (or the one called NAME, by name or id)."""
    if namespace and all_namespaces:
        raise click.UsageError("-n/--namespace and -A/--all-namespaces exclude each other")
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    where = None if all_namespaces else settings.namespace
    docs = run(find_docs(settings, resource, where, name), quick=True)
    if resource == "values" and not show_data:
        docs = [{**doc, "data": mask_data(doc["data"])} if "data" in doc else doc for doc in docs]
    scope = "any namespace" if where is None else f"namespace {where!r}"
    if name and not docs:
        from ..errors import NotFoundError

        raise NotFoundError(f"no {singular(resource)} named {name!r} in {scope}")
    if resource == "specs" and docs:
        namespace_docs = run(find_docs(settings, resource, where, None), quick=True) if name else docs
        for line in run(spec_warnings(settings, docs, namespace_docs), quick=True):
            click.echo(f"warning: {line}", err=True)
    if output == "table":
        if docs:
            click.echo(docs_table(docs))
        else:
            click.echo(f"no {resource} in {scope}", err=True)
        return
    from ..spec import dump_documents

    if name and len(docs) == 1:  # one document asked for by name: print it alone, not in a list
        if output == "json":
            import json

            click.echo(json.dumps(docs[0], indent=2, ensure_ascii=False, default=str))
        else:
            import yaml

            click.echo(yaml.safe_dump(docs[0], sort_keys=False, allow_unicode=True), nl=False)
        return
    click.echo(dump_documents(docs, output), nl=False)
