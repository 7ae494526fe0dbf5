"""``portflow apply specs|values -f FILE``: upsert documents into the store."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
from .common import (
    RESOURCE,
    filename_option,
    format_table,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    read_docs,
    run,
    say_documents,
    singular,
)


async def apply_file(settings: Any, resource: str, docs: list[dict[str, Any]], namespace: str,
                     prune: bool) -> tuple[Any, list[str], list[str]]:
    """Check, admit and upsert ``docs`` in one transaction; returns the apply result (None when a
    document was rejected: then nothing is written), one line per rejected document, and warnings."""
    from ..apply import apply, prepare_specs, prepare_values

    warnings: list[str] = []
    if resource == "specs":
        from ..plugin import default_registries

        registries = default_registries(settings.runtime_settings())
        valid, problems = prepare_specs(docs, namespace, registries.scheme)
    else:
        valid, problems = prepare_values(docs, namespace)
    store = await open_store_for(settings)
    try:
        if resource == "specs":
            from ..admission import admission_context, admit

            context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                        settings.runtime_settings(), store)
            admitted = await admit(valid, context)
            problems, warnings = problems + admitted.problems, admitted.warnings
        if problems:
            return None, problems, warnings
        result = await apply(getattr(store, resource), valid, namespace=namespace, prune=prune, spare=docs)
    finally:
        await store.close()
    return result, problems, warnings


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
    left unchanged. Specs are compiled first: a document that is invalid or does not compile is reported
    (naming it, the field and the reason), nothing is written, and the exit status is 1. A spec of a kind
    this installation does not know is stored with a warning. The whole file is one transaction.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    docs = read_docs(filename, settings.document_limits())
    result, problems, warnings = run(apply_file(settings, resource, docs, settings.namespace, prune), quick=True)
    for line in warnings:
        say(f"warning: {line}", level="warning", err=True)
    for line in problems:
        say(f"error: {line}", level="error", err=True)
    if problems:
        noun = singular(resource) if len(problems) == 1 else resource
        say(f"error: {len(problems)} {noun} rejected; nothing applied", level="error", err=True)
        raise SystemExit(1)
    if result.rows:
        say_documents(resource, result.rows, result_table(resource, result))
    else:
        say(f"no {resource} applied", level="warning", err=True)
