"""``portflow get specs|values``: print stored documents as a table, JSON or YAML."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
from .common import (
    RESOURCE,
    complete_names,
    docs_table,
    handle_errors,
    load_settings_for,
    mask_data,
    namespace_option,
    open_store_for,
    run,
    singular,
    table_columns,
)


async def find_docs(settings: Any, resource: str, namespace: str | None, name: str | None,
                    revisions: bool = False) -> list[dict[str, Any]]:
    """The documents; with ``revisions``, each with its ``revision`` added (for ``-o wide``)."""
    store = await open_store_for(settings)
    try:
        flt: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
        if name:
            flt["$or"] = [{"name": name}, {"id": name}]
        collection = getattr(store, resource)
        docs = await collection.find(flt)
        if revisions and docs:
            revs = await collection.revisions([d["id"] for d in docs])
            docs = [dict(d, revision=revs.get(d["id"], 0)) for d in docs]
        return docs
    finally:
        await store.close()


def _shown(resource: str, doc: dict[str, Any], show_data: bool) -> dict[str, Any]:
    return {**doc, "data": mask_data(doc["data"])} if resource == "values" and not show_data and "data" in doc else doc


async def watch_docs(settings: Any, resource: str, namespace: str | None, name: str | None, output: str,
                     show_data: bool, count: int | None) -> None:
    """Print the documents, then every change after them, as it happens (``count``: stop after that many)."""
    import json
    import sys

    from ..spec import dump_documents

    store = await open_store_for(settings)
    try:
        collection = getattr(store, resource)
        flt: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
        if name:
            flt["$or"] = [{"name": name}, {"id": name}]
        async with collection.watch(flt) as changes:  # started first: no change falls between
            docs = [_shown(resource, d, show_data) for d in await collection.find(flt)]
            if output == "table":
                click.echo(docs_table(docs) if docs else f"no {resource} yet; watching", err=not docs)
            else:
                click.echo(dump_documents(docs, output), nl=False)
            sys.stdout.flush()
            seen = 0
            async for event in changes:
                found = [] if event.op == "delete" else await collection.find({"id": event.id}, limit=1)
                doc = _shown(resource, found[0], show_data) if found else None
                if output == "table":
                    kind = [str((doc or {}).get("kind") or "-")] if resource == "specs" else []
                    click.echo("  ".join([event.op, event.id, *kind, event.namespace, event.name or "-"]))
                elif output == "json":
                    click.echo(json.dumps({"op": event.op, "id": event.id, "document": doc}, ensure_ascii=False,
                                          default=str))
                else:
                    import yaml

                    click.echo("---\n" + yaml.safe_dump({"op": event.op, "id": event.id, "document": doc},
                                                         sort_keys=False, allow_unicode=True), nl=False)
                sys.stdout.flush()
                seen += 1
                if count is not None and seen >= count:
                    return
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
@click.argument("name", required=False, shell_complete=complete_names)
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List the documents of every namespace.")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json", "yaml"]), default="table",
              show_default=True, help="Output format; wide adds each document's REVISION; json and yaml can be "
                                      "applied again.")
@click.option("--show-data", is_flag=True, help="Show values' data (masked by default: values hold secrets).")
@click.option("-w", "--watch", is_flag=True,
              help="After printing, print each change as it happens (from the store's change stream) until "
                   "interrupted: a line per change in a table, a document per change in json or yaml.")
@click.option("--count", type=click.IntRange(min=1), default=None, metavar="N",
              help="With -w: stop after N changes.")
@click.pass_context
@handle_errors
def get(ctx: click.Context, resource: str, name: str | None, namespace: str | None, all_namespaces: bool,
        output: str, show_data: bool, watch: bool, count: int | None) -> None:
    """Print the specs or values of a namespace (or the one called NAME, by name or id)."""
    if namespace and all_namespaces:
        raise click.UsageError("-n/--namespace and -A/--all-namespaces exclude each other")
    if count is not None and not watch:
        raise click.UsageError("--count goes with -w/--watch")
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    where = None if all_namespaces else settings.namespace
    if watch:
        run(watch_docs(settings, resource, where, name, "table" if output == "wide" else output, show_data, count))
        return
    docs = run(find_docs(settings, resource, where, name, revisions=output == "wide"), quick=True)
    if resource == "values" and not show_data:
        docs = [{**doc, "data": mask_data(doc["data"])} if "data" in doc else doc for doc in docs]
    scope = "any namespace" if where is None else f"namespace {where!r}"
    if name and not docs:
        from ..errors import NotFoundError

        raise NotFoundError(f"no {singular(resource)} named {name!r} in {scope}")
    if resource == "specs" and docs:
        plain = [{k: v for k, v in d.items() if k != "revision"} for d in docs]
        namespace_docs = run(find_docs(settings, resource, where, None), quick=True) if name else docs
        namespace_plain = [{k: v for k, v in d.items() if k != "revision"} for d in namespace_docs]
        for line in run(spec_warnings(settings, plain, namespace_plain), quick=True):
            say(f"warning: {line}", level="warning", err=True)
    if output in ("table", "wide"):
        if docs and output == "wide":
            columns = [c for c in table_columns(docs) if c != "revision"] + ["revision"]
            click.echo(docs_table(docs, columns))
        elif docs:
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
