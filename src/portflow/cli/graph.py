"""``portflow graph``: the picture of a namespace (from the store, or from a file) as Mermaid, DOT or SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .common import handle_errors, load_settings_for, namespace_option, open_store_for, read_docs, run


async def namespace_picture(settings: Any, docs: list[dict[str, Any]], namespace: str, title: str) -> Any:
    """The picture of ``docs``: each compiled as ``get`` and ``lint`` do, for the reasons a spec cannot be
    active and the links the wiring check refuses."""
    from ..admission import admission_context, compiled
    from ..graph import picture
    from ..plugin import default_registries
    from ..spec import check_meta, new_id
    from ..wiring import Wires

    registries = default_registries(settings.runtime_settings())
    context = admission_context(registries.scheme, registries.languages, registries.hooks,
                                settings.runtime_settings())
    docs = [dict(d) for d in docs]
    for doc in docs:
        doc["namespace"] = doc.get("namespace") or namespace
        doc["id"] = doc.get("id") or new_id()
    reasons: dict[str, str] = {}
    broken: list[tuple[str, str, int]] = []
    valid = [d for d in docs if not check_meta(d)]
    for doc in docs:
        if check_meta(doc):
            reasons[doc["id"]] = "; ".join(check_meta(doc))
    async with compiled(valid, context) as built:
        for b in built:
            b.symbol.error = b.problem or (f"unknown kind {b.doc.get('kind')!r}" if b.warning else None)
        wires = Wires(b.symbol for b in built)
        reasons.update(wires.inactive())
        for b in built:
            broken.extend((b.symbol.id, m.out, m.index) for m in wires.miswirings(b.symbol) if not m.missing)
    subject = {b_id: reason.split(": ", 1)[1] if reason.startswith("spec ") and ": " in reason else reason
               for b_id, reason in reasons.items()}
    return picture(docs, title, namespace, subject, broken)


async def stored_docs(settings: Any, namespace: str) -> list[dict[str, Any]]:
    store = await open_store_for(settings)
    try:
        return list(await store.specs.find({"namespace": namespace}))
    finally:
        await store.close()


def render(pic: Any, output: str) -> str:
    from ..graph import dot, mermaid

    if output == "mermaid":
        return mermaid(pic)
    if output == "dot":
        return dot(pic)
    from ..layout import layout
    from ..svg import svg

    return svg(pic, layout(pic))


@click.command(short_help="Draw a namespace's specs and links (Mermaid, DOT or SVG).")
@namespace_option
@click.option("-f", "--filename", default=None, metavar="FILE",
              help="Draw the specs of this file (compiled, not run) instead of the store's.")
@click.option("-o", "--output", type=click.Choice(["mermaid", "dot", "svg"]), default="mermaid", show_default=True,
              help="mermaid and dot are text; svg is laid out here (needs the `graph` extra).")
@click.pass_context
@handle_errors
def graph(ctx: click.Context, namespace: str | None, filename: str | None, output: str) -> None:
    """Draw the specs of a namespace as nodes (name and kind) and their links as edges labelled with their
    ports: error links dashed, links to a port the target lacks in red, a missing target as a dashed node,
    block and step children grouped inside their parent. A spec that cannot be active is marked, with the
    reason (compiled as `get` and `lint` compile, nothing run). Prints to stdout.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    ns = settings.namespace
    if filename:
        docs = read_docs(filename, settings.document_limits())
        title = f"{'stdin' if filename == '-' else Path(filename).name} (namespace {ns})"
    else:
        docs = run(stored_docs(settings, ns), quick=True)
        title = f"namespace {ns}"
    pic = run(namespace_picture(settings, docs, ns, title), quick=True)
    click.echo(render(pic, output), nl=False)
