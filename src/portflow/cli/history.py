"""``portflow history NAME`` and ``portflow rollback``: the revisions a store kept, and writing one back."""

from __future__ import annotations

import datetime
from typing import Any

import click

from .common import (
    complete_names,
    format_table,
    handle_errors,
    load_settings_for,
    mask_data,
    namespace_option,
    open_store_for,
    run,
)

values_option = click.option("--values", "values", is_flag=True,
                             help="A value (of the values collection) rather than a spec.")


def _resource(values: bool) -> str:
    return "values" if values else "specs"


def _noun(resource: str) -> str:
    return "value" if resource == "values" else "spec"


async def read_history(settings: Any, resource: str, namespace: str, name: str) -> tuple[list[Any], list[Any]]:
    """The kept revisions of the document called ``name`` (by name in ``namespace``, or by id), newest first,
    and the stored document (a list of zero or one)."""
    store = await open_store_for(settings)
    try:
        collection = getattr(store, resource)
        flt = {"$or": [{"namespace": namespace, "name": name}, {"id": name}]}
        return await collection.history(flt), await collection.find(flt, limit=1)
    finally:
        await store.close()


def _not_found(resource: str, name: str, namespace: str) -> Any:
    from ..errors import NotFoundError

    return NotFoundError(f"no {_noun(resource)} named {name!r} in namespace {namespace!r} has a history")


@click.command(short_help="List the kept revisions of a spec or value.")
@click.argument("name", shell_complete=complete_names)
@namespace_option
@values_option
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True,
              help="Output format; json and yaml hold each revision's whole document.")
@click.option("--show-data", is_flag=True, help="Show values' data in json and yaml (masked by default).")
@click.pass_context
@handle_errors
def history(ctx: click.Context, name: str, namespace: str | None, values: bool, output: str, show_data: bool) -> None:
    """List the kept revisions of the spec (or, with --values, the value) called NAME, newest first.

    Every write of a document records a revision, numbered across the store; the newest one is the
    document's current revision. OP is what the write did; CHANGED lists the fields it changed. The
    store keeps the newest revisions of each document (setting history.keep, default 50).
    `portflow rollback NAME --to REV` writes one back.
    """
    from ..revisions import changed_fields

    resource = _resource(values)
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    revs, _ = run(read_history(settings, resource, settings.namespace, name), quick=True)
    if not revs:
        raise _not_found(resource, name, settings.namespace)
    if output != "table":
        from ..spec import dump_documents

        rows = []
        for r in revs:
            doc = r.doc
            if doc is not None and resource == "values" and not show_data and "data" in doc:
                doc = {**doc, "data": mask_data(doc["data"])}
            rows.append({"revision": r.revision, "at": r.at, "op": r.op, "id": r.id, "namespace": r.namespace,
                         "name": r.name, "document": doc})
        click.echo(dump_documents(rows, output), nl=False)
        return
    table = []
    for i, r in enumerate(revs):
        older = next((o for o in revs[i + 1:] if o.id == r.id), None)
        if r.op == "delete":
            changed = ""
        elif older is None:
            changed = "(first kept)" if r.op != "insert" else ""
        else:
            changed = ", ".join(changed_fields(older.doc, r.doc)) or "(no change)"
        table.append([str(r.revision), r.at, r.op, r.id, changed])
    click.echo(format_table(["revision", "at", "op", "id", "changed"], table))


@click.command(short_help="Write back an earlier revision of a spec or value, or of a whole namespace.")
@click.argument("name", required=False, shell_complete=complete_names)
@namespace_option
@values_option
@click.option("--to", "to", type=click.IntRange(min=1), default=None, metavar="REV",
              help="The revision to return to (see `portflow history NAME`); default the one before the current.")
@click.option("--to-time", "to_time", default=None, metavar="T",
              help="Without NAME: return every spec and value of -n to what it was at T, an ISO 8601 time "
                   "(UTC unless it says otherwise) or a duration ago (10m, 2h).")
@click.pass_context
@handle_errors
def rollback(ctx: click.Context, name: str | None, namespace: str | None, values: bool, to: int | None,
             to_time: str | None) -> None:
    """Write back an earlier revision of the spec (or value) NAME, or of a whole namespace (--to-time).

    A rollback is an ordinary apply: specs are checked and compiled first, the write records a new
    revision, and running runtimes pick it up through the change stream. It fails (exit 1, nothing
    written) if the document changed while the rollback ran. Returning to a revision that deleted the
    document deletes it; returning a deleted document to an earlier revision creates it again.

    With --to-time, values are written first, then specs (one transaction each); documents created
    after T are deleted.
    """
    if (name is None) == (to_time is None):
        raise click.UsageError("give NAME (and --to REV), or -n NS --to-time T for a whole namespace")
    if to_time is not None and (to is not None or values):
        raise click.UsageError("--to-time rolls back every spec and value of -n: it takes no --to or --values")
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    if name is None:
        return _rollback_namespace(settings, str(to_time))
    message, problems, warnings = run(rollback_spec(settings, _resource(values), settings.namespace, name, to),
                                      quick=True)
    _report(_resource(values), problems, warnings)
    click.echo(message)


async def rollback_spec(settings: Any, resource: str, namespace: str, name: str,
                        to: int | None) -> tuple[str, list[str], list[str]]:
    """Write back revision ``to`` (default: the one before the current) of the document ``name``, as an
    apply. Returns what to say, the problems (nothing written when there are any) and warnings; a
    document or revision that does not exist is a ``PortflowError`` (as is a conflict). ``rollback`` and
    the browser view use it."""
    from ..errors import NotFoundError, UserError

    noun = _noun(resource)
    revs, found = await read_history(settings, resource, namespace, name)
    if not revs:
        raise _not_found(resource, name, namespace)
    if to is None:
        from ..revisions import previous

        target = previous(revs)
        if target is None:
            raise UserError(f"{noun} {name!r} has one revision ({revs[0].revision}): nothing earlier to return to")
    else:
        target = next((r for r in revs if r.revision == to), None)
        if target is None:
            kept = ", ".join(str(r.revision) for r in revs[:10])
            raise NotFoundError(f"{noun} {name!r} has no revision {to} (kept, newest first: {kept})")
    current = found[0] if found else None
    stored_rev = revs[0].revision if current is not None and revs[0].op != "delete" else None
    from ..apply import doc_ref

    if target.doc is None:
        if current is None:
            return f"{noun} {name!r} is already deleted (revision {target.revision} deleted it)", [], []
        docs: list[dict[str, Any]] = []
        remove = [current]
        expect: dict[tuple[str, ...], int] = {("id", current["id"]): stored_rev or 0}
    else:
        docs = [dict(target.doc)]
        remove = []
        expect = {doc_ref(target.doc, namespace): stored_rev} if stored_rev is not None else {}
    from .apply import apply_file

    result, problems, warnings = await apply_file(settings, resource, docs, namespace, False, expect, remove)
    if problems:
        return "", problems, warnings
    if target.doc is None:
        return f"{noun} {name!r} rolled back to revision {target.revision}: deleted", [], warnings
    if result.count("unchanged"):
        return f"{noun} {name!r} is already as at revision {target.revision}: nothing to do", [], warnings
    return (f"{noun} {name!r} rolled back to revision {target.revision} "
            f"(now revision {result.revisions.get(target.id, '?')})"), [], warnings


def _report(resource: str, problems: list[str], warnings: list[str]) -> None:
    from .apply import report

    report(resource, problems, warnings, "rolled back")


async def _namespace_state(settings: Any, resource: str, namespace: str) -> tuple[list[Any], list[dict[str, Any]]]:
    store = await open_store_for(settings)
    try:
        collection = getattr(store, resource)
        return await collection.history({"namespace": namespace}), await collection.find({"namespace": namespace})
    finally:
        await store.close()


def _rollback_namespace(settings: Any, to_time: str) -> None:
    from ..revisions import parse_time, plan_namespace
    from .apply import apply_file, result_table

    when = parse_time(to_time)
    ns = settings.namespace
    plans = {}
    for resource in ("values", "specs"):
        revs, current = run(_namespace_state(settings, resource, ns), quick=True)
        plans[resource] = plan_namespace(revs, current, when, _noun(resource))
    problems = [line for plan in plans.values() for line in plan.problems]
    _report("documents", problems, [])
    stamp = when.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    wrote = False
    for resource, plan in plans.items():
        if not (plan.put or plan.remove):
            continue
        result, rejected, warnings = run(apply_file(settings, resource, plan.put, ns, False, None, plan.remove),
                                         quick=True)
        _report(resource, rejected, warnings)
        rows = [(a, d) for a, d in result.rows if a != "unchanged"]
        if rows:
            result.rows = rows
            click.echo(result_table(resource, result))
            wrote = True
    if wrote:
        click.echo(f"namespace {ns!r} rolled back to {stamp}", err=True)
    else:
        click.echo(f"namespace {ns!r} is already as at {stamp}: nothing to do", err=True)
