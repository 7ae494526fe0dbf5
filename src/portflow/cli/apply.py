"""``portflow apply specs|values -f FILE``: upsert documents into the store."""

from __future__ import annotations

from typing import Any

import click

from .common import RESOURCE, filename_option, format_table, handle_errors, load_settings_for, namespace_option, \
    open_store_for, read_docs, run, singular


async def apply_file(settings: Any, resource: str, docs: list[dict[str, Any]], namespace: str,
                     prune: bool) -> tuple[Any, list[str]]:
    """Check and upsert ``docs``; returns the apply result and one line per rejected document."""
    from ..apply import apply, prepare_specs, prepare_values

    if resource == "specs":
        from ..plugin import default_registries

        scheme = default_registries(settings.runtime_settings()).scheme
        valid, problems = prepare_specs(docs, namespace, scheme)
    else:
        valid, problems = prepare_values(docs, namespace)
    store = await open_store_for(settings)
    try:
        result = await apply(getattr(store, resource), valid, namespace=namespace, prune=prune, spare=docs)
    finally:
        await store.close()
    return result, problems


def result_table(resource: str, result: Any) -> str:
    columns = ["id", "kind", "namespace", "name"] if resource == "specs" else ["id", "namespace", "name"]
    rows = [[action, *(str(doc.get(c) or "") for c in columns)] for action, doc in result.rows]
    return format_table(["action", *columns], rows)


@click.command(short_help="Create or update specs or values from a file.")
@click.argument("resource", type=RESOURCE, metavar="specs|values")
@filename_option
@namespace_option
@click.option("--prune", is_flag=True,
              help="Also delete the namespace's documents that the file lacks.")
@click.pass_context
@handle_errors
def apply(ctx: click.Context, resource: str, filename: str, namespace: str | None, prune: bool) -> None:
    """Create or update specs or values from a file.

    A document is matched by its id, else by its namespace and name: a match is updated, anything else is
    created (with a new id). Documents without a namespace go to -n. Prints what was created, updated or
    left unchanged. An invalid document is reported (naming it and the field) and skipped; the others are
    still applied, and the exit status is 1.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    docs = read_docs(filename)
    result, problems = run(apply_file(settings, resource, docs, settings.namespace, prune), quick=True)
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if result.rows:
        click.echo(result_table(resource, result))
    else:
        click.echo(f"no {resource} applied", err=True)
    if problems:
        click.echo(f"error: {len(problems)} {singular(resource) if len(problems) == 1 else resource} rejected",
                   err=True)
        raise SystemExit(1)
