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
    read_all,
    recursive_option,
    run,
    say_documents,
    split_by_resource,
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


@click.command(short_help="Delete specs and values, by file or by name.")
@click.argument("resource", type=RESOURCE, metavar="[specs|values]", required=False)
@click.option("-f", "--filename", "filenames", metavar="FILE", multiple=True,
              help="Delete the documents in this file, directory of files, or - (stdin); matched by id, else by "
                   "namespace and name. Repeatable.")
@recursive_option
@click.option("--name", "names", multiple=True, metavar="NAME", help="Delete the document with this name in -n "
              "(repeatable; needs specs or values).")
@namespace_option
@click.pass_context
@handle_errors
def delete(ctx: click.Context, resource: str | None, filenames: tuple[str, ...], recursive: bool,
           names: tuple[str, ...], namespace: str | None) -> None:
    """Delete specs or values named in files (-f) or by name (--name).

    Without `specs` or `values`, each document of -f says what it is (a `kind`: a spec; `data` and no
    kind: a value). A document is matched by its id, else by its name in its namespace (or -n). Prints
    what was deleted; naming something that does not exist is not an error.
    """
    if not filenames and not names:
        raise click.UsageError("give -f FILE or --name NAME")
    if names and resource is None:
        raise click.UsageError("--name needs `specs` or `values`: portflow delete specs --name NAME")
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    ns = settings.namespace
    groups: dict[str, list[dict[str, Any]]] = {}
    if names:
        assert resource is not None
        groups[resource] = [{"namespace": ns, "name": name} for name in names]
    if filenames:
        for kind, docs in split_by_resource(read_all(filenames, recursive, settings.document_limits()),
                                            resource).items():
            groups.setdefault(kind, []).extend(filters_for(docs, ns))
    anything = False
    for kind in ("specs", "values", "charts"):
        filters = groups.get(kind)
        deleted = run(delete_docs(settings, kind, filters), quick=True) if filters else []
        if not deleted:
            if kind in groups or resource == kind:
                say(f"no {kind} deleted (none matched)", level="warning", err=True)
            continue
        anything = True
        columns = ["id", "kind", "namespace", "name"] if kind == "specs" else ["id", "namespace", "name"]
        say_documents(kind, [("deleted", d) for d in deleted],
                      format_table(["action", *columns],
                                   [["deleted", *(str(d.get(c) or "") for c in columns)] for d in deleted]))
    if not anything and not groups:
        say(f"no {resource or 'documents'} deleted (none matched)", level="warning", err=True)
