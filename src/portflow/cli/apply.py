"""``portflow apply specs|values -f FILE``: upsert documents into the store."""

from __future__ import annotations

from typing import Any

import click

from ..logs import say
from .common import (
    RESOURCE,
    WRITE_ORDER,
    filename_option,
    format_table,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    read_all,
    recursive_option,
    run,
    say_documents,
    singular,
    split_by_resource,
)


async def apply_file(settings: Any, resource: str, docs: list[dict[str, Any]], namespace: str,
                     prune: bool, expect: dict[Any, int] | None = None,
                     remove: list[dict[str, Any]] | None = None, *,
                     dry_run: bool = False) -> tuple[Any, list[str], list[str]]:
    """Check, admit and upsert ``docs`` in one transaction; returns the apply result (None when a
    document was rejected: then nothing is written), one line per rejected document, and warnings.

    A document's ``revision`` field, or ``expect`` (by ``apply.doc_ref``), is the revision it must replace;
    ``remove`` lists stored documents to delete in the same transaction. ``dry_run``: decide everything,
    write nothing."""
    from ..apply import apply, prepare_charts, prepare_specs, prepare_values, take_revisions

    warnings: list[str] = []
    expected, problems = take_revisions(docs, namespace)
    expected.update(expect or {})
    if problems:
        return None, problems, warnings
    if resource == "specs":
        from ..plugin import default_registries

        registries = default_registries(settings.runtime_settings())
        valid, problems = prepare_specs(docs, namespace, registries.scheme)
    elif resource == "charts":
        valid, problems = prepare_charts(docs, namespace)
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
        result = await apply(getattr(store, resource), valid, namespace=namespace, prune=prune, spare=docs,
                             expect=expected, remove=remove or (), dry_run=dry_run)
    finally:
        await store.close()
    return result, problems, warnings


def result_table(resource: str, result: Any) -> str:
    columns = ["id", "kind", "namespace", "name"] if resource == "specs" else ["id", "namespace", "name"]
    rows = [[action, *(str(doc.get(c) or "") for c in columns)] for action, doc in result.rows]
    return format_table(["action", *columns], rows)


async def check_specs(settings: Any, docs: list[dict[str, Any]], namespace: str) -> tuple[list[str], list[str]]:
    """What apply_file would refuse in ``docs`` (specs), writing nothing: problem lines and warnings."""
    from ..admission import admission_context, admit
    from ..apply import prepare_specs, take_revisions
    from ..plugin import default_registries

    docs = [dict(d) for d in docs]
    _, problems = take_revisions(docs, namespace)
    registries = default_registries(settings.runtime_settings())
    valid, more = prepare_specs(docs, namespace, registries.scheme)
    problems += more
    if problems:
        return problems, []
    store = await open_store_for(settings)
    try:
        context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                    settings.runtime_settings(), store)
        admitted = await admit(valid, context)
    finally:
        await store.close()
    return admitted.problems, admitted.warnings


def report(resource: str, problems: list[str], warnings: list[str], done: str = "applied") -> None:
    """Warnings and rejected documents on stderr; exit 1 (``nothing <done>``) when there is a rejected one."""
    for line in warnings:
        say(f"warning: {line}", level="warning", err=True)
    for line in problems:
        say(f"error: {line}", level="error", err=True)
    if problems:
        noun = singular(resource) if len(problems) == 1 else resource
        say(f"error: {len(problems)} {noun} rejected; nothing {done}", level="error", err=True)
        raise SystemExit(1)


@click.command(short_help="Create or update specs and values from files.")
@click.argument("resource", type=RESOURCE, metavar="[specs|values]", required=False)
@filename_option
@recursive_option
@namespace_option
@click.option("--prune", is_flag=True,
              help="Also delete the namespace's documents that the files lack (of each collection applied).")
@click.option("--expect-revision", type=click.IntRange(min=0), default=None, metavar="REV",
              help="Apply only if the stored document is still at revision REV (the input holds one document); "
                   "else exit 1 and write nothing. A document's own `revision:` field does the same.")
@click.option("--dry-run", is_flag=True, help="Print what would change (as `portflow diff` does); write nothing.")
@click.pass_context
@handle_errors
def apply(ctx: click.Context, resource: str | None, filenames: tuple[str, ...], recursive: bool,
          namespace: str | None, prune: bool, expect_revision: int | None, dry_run: bool) -> None:
    """Create or update specs and values from files (-f FILE, -f DIR, -f - for stdin).

    Without `specs` or `values`, each document says what it is: one with a `kind` is a spec, one with
    `data` and no kind is a value. A document is matched by its id, else by its namespace and name: a
    match is updated, anything else is created (with a new id). Documents without a namespace go to -n.
    Prints what was created, updated or left unchanged. Specs are compiled first: a document that is
    invalid or does not compile is reported (naming it, the field and the reason), nothing is written, and
    the exit status is 1. A spec of a kind this installation does not know is stored with a warning. Each
    collection is one transaction; values are written before specs.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    sourced = read_all(filenames, recursive, settings.document_limits())
    groups = split_by_resource(sourced, resource)
    if not groups:
        groups = {resource or "specs": []}
    expect = None
    if expect_revision is not None:
        if len(sourced) != 1:
            raise click.UsageError(f"--expect-revision needs input of one document; {', '.join(filenames)} "
                                   f"holds {len(sourced)}")
        from ..apply import doc_ref

        expect = {doc_ref(sourced[0][1], settings.namespace): expect_revision}
    if len(groups) > 1:  # refuse bad specs before the values are written
        report("specs", *run(check_specs(settings, groups["specs"], settings.namespace), quick=True))
    for kind in WRITE_ORDER:
        if kind not in groups:
            continue
        result, problems, warnings = run(apply_file(settings, kind, groups[kind], settings.namespace, prune,
                                                    expect, dry_run=dry_run), quick=True)
        report(kind, problems, warnings)
        if dry_run:
            from .diff import dry_run_report

            dry_run_report(settings, kind, result, groups[kind])
            continue
        if result.rows:
            say_documents(kind, result.rows, result_table(kind, result))
        else:
            click.echo(f"no {kind} applied", err=True)
