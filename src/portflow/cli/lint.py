"""``portflow lint -f FILE...``: what ``start`` would find in spec files, without running or writing."""

from __future__ import annotations

import json
from typing import Any

import click

from .common import (
    environment_option,
    handle_errors,
    load_settings_for,
    namespace_option,
    parse_environment,
    run,
)


async def lint_paths(settings: Any, paths: list[str], namespace: str, environment: dict[str, str]) -> list[Any]:
    from ..admission import admission_context
    from ..lint import lint_files
    from ..plugin import default_registries

    registries = default_registries(settings.runtime_settings())
    context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                settings.runtime_settings())
    return await lint_files(paths, namespace, context, settings.document_limits(), environment)


@click.command(short_help="Check spec files without running or writing them.")
@click.option("-f", "--filename", "filenames", multiple=True, required=True, metavar="FILE",
              help="A YAML or JSON file of specs (repeatable; - reads stdin). The files are one namespace.")
@namespace_option
@environment_option
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per problem (FILE:LINE: spec 'x' (kind k): field: message); json: a list.")
@click.pass_context
@handle_errors
def lint(ctx: click.Context, filenames: tuple[str, ...], namespace: str | None, environment: tuple[str, ...],
         output: str) -> None:
    """Check spec files as `start --from-specs` would load them, without running or writing anything.

    Reports documents that do not parse, fields that do not validate, code that does not compile (every
    language), unknown kinds, duplicate names, links to names or ports that do not exist (with the closest
    name that does), and two listeners on one port; and warns about nodes nothing sends to and listeners
    whose error port is not wired. Exit status 1 when there is an error, 0 when there are only warnings.

    Documents with `data` and no `kind` are values. A spec with `env` is compiled when what it binds is
    given: the values it names (in the files) and -e for the rest, as `start` binds them.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    env = parse_environment(environment, settings["environment"])
    findings = run(lint_paths(settings, list(filenames), settings.namespace, env), quick=True)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if output == "json":
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        for f in findings:
            click.echo(f"{f}" if f.severity == "error" else f"{f} (warning)")
    files = f"{len(filenames)} file{'s' if len(filenames) != 1 else ''}"
    if findings:
        click.echo(f"{files}: {errors} error(s), {warnings} warning(s)", err=True)
    else:
        click.echo(f"{files}: no problems", err=True)
    if errors:
        raise SystemExit(1)
