"""``portflow diff -f FILE``: what ``apply`` would change, as a unified diff per document, secrets masked."""

from __future__ import annotations

from typing import Any

import click

from .common import fail, load_settings_for, namespace_option, open_store_for, read_docs, run


def split_resources(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Specs (documents with a ``kind``) and values (documents with ``data`` and no ``kind``)."""
    values = [d for d in docs if "kind" not in d and "data" in d]
    specs = [d for d in docs if not ("kind" not in d and "data" in d)]
    return {"values": values, "specs": specs}


async def namespace_secrets(settings: Any, namespace: str, docs: list[dict[str, Any]]) -> list[str]:
    """The texts of the namespace's stored values and of the values in ``docs``: hidden in every diff."""
    from ..diff import secret_texts

    store = await open_store_for(settings)
    try:
        stored = await store.values.find({"namespace": namespace})
    finally:
        await store.close()
    return secret_texts([*stored, *(d for d in docs if "kind" not in d)])


async def plan(settings: Any, groups: dict[str, list[dict[str, Any]]], namespace: str,
               prune: bool) -> tuple[list[Any], list[str], list[str], list[str]]:
    """A dry-run apply of each group: (changes, problems, warnings, secrets)."""
    from ..diff import changes
    from .apply import apply_file

    found: list[Any] = []
    problems: list[str] = []
    warnings: list[str] = []
    for resource, docs in groups.items():
        if not docs:
            continue
        result, rejected, warned = await apply_file(settings, resource, docs, namespace, prune, dry_run=True)
        problems += rejected
        warnings += warned
        if result is not None:
            found += changes(resource, result.rows, result.before)
    secrets = await namespace_secrets(settings, namespace, [d for docs in groups.values() for d in docs])
    return found, problems, warnings, secrets


def show(found: list[Any], secrets: list[str]) -> None:
    """Print the diffs on stdout and a one-line summary on stderr."""
    from ..diff import render

    text = render(found, secrets)
    if text:
        click.echo(text, nl=False)
    counts = {a: sum(1 for c in found if c.action == a) for a in ("created", "updated", "removed")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "no changes"
    click.echo(summary, err=True)


def dry_run_report(settings: Any, resource: str, result: Any, docs: list[dict[str, Any]]) -> None:
    """What ``apply --dry-run`` prints: the same diffs as ``diff``, then that nothing was written."""
    from ..diff import changes

    found = changes(resource, result.rows, result.before)
    show(found, run(namespace_secrets(settings, settings.namespace, docs), quick=True))
    click.echo("dry run: nothing written", err=True)


@click.command(short_help="Show what apply would change, without writing.")
@click.option("-f", "--filename", required=True, metavar="FILE",
              help="A YAML or JSON file of specs and/or values (- reads stdin).")
@namespace_option
@click.option("--prune", is_flag=True, help="Also show the namespace's documents that apply --prune would delete.")
@click.pass_context
def diff(ctx: click.Context, filename: str, namespace: str | None, prune: bool) -> None:
    """Show what `apply -f FILE` would change, document by document, as a unified diff of YAML (stored
    version against the file's), like `kubectl diff`. Values' data is masked on both sides (a changed
    leaf reads `*** (changed)`), and no value's text shows in a spec. Documents with a `kind` are specs,
    documents with `data` and no `kind` are values. Nothing is written.

    Exit status: 0 no changes, 1 changes, 2 an error (a document that apply would reject).
    """
    from ..errors import PortflowError

    try:
        settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
        docs = read_docs(filename, settings.document_limits())
        found, problems, warnings, secrets = run(plan(settings, split_resources(docs), settings.namespace, prune),
                                                 quick=True)
    except PortflowError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 2)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        fail(f"{len(problems)} document(s) apply would reject", 2)
    show(found, secrets)
    raise SystemExit(1 if found else 0)
