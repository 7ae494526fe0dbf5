"""``portflow get specs|values``: print stored documents as a table, JSON or YAML."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
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


async def spec_warnings(settings: Any, docs: list[dict[str, Any]]) -> list[str]:
    """A warning per spec whose kind no installed plugin provides (the runtime stores but never runs it),
    and per spec that does not compile (a runtime keeps its last good version, or leaves it inactive)."""
    from ..admission import admission_context, admit
    from ..plugin import default_registries

    registries = default_registries(settings.runtime_settings())
    context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                settings.runtime_settings())
    admitted = await admit([d for d in docs if isinstance(d.get("kind"), str)], context)
    return admitted.warnings + [f"stale: {line}" for line in admitted.problems]


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
        for line in run(spec_warnings(settings, docs), quick=True):
            say(f"warning: {line}", level="warning", err=True)
    if output == "table":
        if docs:
            click.echo(docs_table(docs))
        else:
            say(f"no {resource} in {scope}", level="warning", err=True)
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
