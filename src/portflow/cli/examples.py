"""``portflow examples [NAME]``: the example flows that come with portflow (in the wheel too)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import click

from .common import format_table, handle_errors


def example_files() -> dict[str, Any]:
    """The examples by name (``ping`` for ``ping.yaml``), as importlib resources."""
    folder = resources.files("portflow.examples")
    return {f.name.rsplit(".", 1)[0]: f for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.is_file() and f.name.endswith(".yaml")}


def summary(text: str) -> str:
    """The first sentence of an example's leading comment, else the kinds of its specs."""
    comment = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("# ").strip())
    first = " ".join(c for c in comment if c).split(". ")[0].rstrip(":.")
    if first:
        return first
    import yaml

    docs = yaml.safe_load(text) or []
    kinds = sorted({str(d["kind"]) for d in docs if isinstance(d, dict) and d.get("kind")})
    return f"{len(docs)} specs: {', '.join(kinds)}"


@click.command(short_help="List the example flows, or write one out.")
@click.argument("name", required=False)
@click.option("-o", "--output", "path", default=None, metavar="FILE",
              help="Write the example to FILE (a directory: FILE/NAME.yaml) instead of stdout.")
@handle_errors
def examples(name: str | None, path: str | None) -> None:
    """List the example flows that come with portflow, or print the one called NAME.

    \b
        portflow examples ping > ping.yaml
        portflow start --from-specs ping.yaml -e PORT=8000
    """
    files = example_files()
    if name is None:
        if path is not None:
            raise click.UsageError("-o needs the NAME of an example")
        click.echo(format_table(["name", "about"], [[n, summary(f.read_text(encoding="utf-8"))]
                                                     for n, f in files.items()]))
        return
    found = files.get(name.removesuffix(".yaml"))
    if found is None:
        from ..errors import NotFoundError

        raise NotFoundError(f"no example {name!r} (there are: {', '.join(files) or 'none'})")
    text = found.read_text(encoding="utf-8")
    if path is None:
        click.echo(text, nl=False)
        return
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        target = target / found.name
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}", err=True)
