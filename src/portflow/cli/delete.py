"""``portflow delete specs|values``: remove documents named by a file or by name."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
from .common import (
    RESOURCE,
    format_table,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    read_docs,
    run,
    say_documents,
)


def filters_for(docs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """One filter per document: its id, else its namespace (or -n) and name."""
    out = []
    for doc in docs:
        ident, name = doc.get("id"), doc.get("name")
        if isinstance(ident, str) and ident:
            out.append({"id": ident})
        elif isinstance(name, str) and name:
            ns = doc.get("namespace")
            out.append({"namespace": ns if isinstance(ns, str) and ns else namespace, "name": name})
    return out


async def delete_docs(settings: Any, resource: str, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delete what ``filters`` match; returns the deleted documents."""
    store = await open_store_for(settings)
    try:
        collection = getattr(store, resource)
        found = await collection.find({"$or": filters})
        if found:
            await collection.delete({"id": [doc["id"] for doc in found]})
        return found
    finally:
        await store.close()


@click.command(short_help="Delete specs or values, by file or by name.")
@click.argument("resource", type=RESOURCE, metavar="specs|values")
@click.option("-f", "--filename", metavar="FILE", default=None,
              help="Delete the documents in this file (matched by id, else by namespace and name).")
@click.option("--name", "names", multiple=True, metavar="NAME", help="Delete the document with this name in -n "
              "(repeatable).")
@namespace_option
@click.pass_context
@handle_errors
def delete(ctx: click.Context, resource: str, filename: str | None, names: tuple[str, ...],
           namespace: str | None) -> None:
    """Delete specs or values named in a file (-f) or by name (--name).

    A document in the file is matched by its id, else by its name in its namespace (or -n). Prints what
    was deleted; naming something that does not exist is not an error.
    """
    if not filename and not names:
        raise click.UsageError("give -f FILE or --name NAME")
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    ns = settings.namespace
    filters = [{"namespace": ns, "name": name} for name in names]
    if filename:
        filters += filters_for(read_docs(filename, settings.document_limits()), ns)
    deleted = run(delete_docs(settings, resource, filters), quick=True) if filters else []
    if not deleted:
        say(f"no {resource} deleted (none matched)", level="warning", err=True)
        return
    columns = ["id", "kind", "namespace", "name"] if resource == "specs" else ["id", "namespace", "name"]
    say_documents(resource, [("deleted", d) for d in deleted],
                  format_table(["action", *columns], [["deleted", *(str(d.get(c) or "") for c in columns)]
                                                      for d in deleted]))
