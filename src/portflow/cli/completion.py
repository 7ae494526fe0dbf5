"""``portflow completion bash|zsh|fish``, and what the shell completes: commands and flags (click does
those), kinds, namespaces and names (read from the installed plugins and the store)."""

from __future__ import annotations

import asyncio
from typing import Any

import click
from click.shell_completion import CompletionItem

from .common import handle_errors

SHELLS = ("bash", "zsh", "fish")


def _quietly(fn: Any) -> Any:
    """Completion never fails: a store that cannot be read completes nothing."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            return [CompletionItem(v) for v in sorted(set(fn(ctx, param))) if v.startswith(incomplete)]
        except Exception:  # noqa: BLE001 - a completion must not print a traceback into the shell
            return []

    return complete


def _settings(ctx: click.Context) -> Any:
    from ..config import load_settings

    namespace = ctx.params.get("namespace")
    return load_settings({"runtime.namespace": namespace, "logging.level": "error"})


def _store_names(ctx: click.Context, what: str) -> list[str]:
    from ..store import open_store

    settings = _settings(ctx)
    resource = "values" if ctx.params.get("values") or ctx.params.get("resource") == "values" else "specs"

    async def read() -> list[str]:
        store = open_store(settings.database_url)
        await store.open()
        try:
            if what == "namespaces":
                docs = [*await store.specs.find(), *await store.values.find()]
                return [d["namespace"] for d in docs]
            docs = await getattr(store, resource).find({"namespace": settings.namespace})
            return [d["name"] for d in docs if isinstance(d.get("name"), str)]
        finally:
            await store.close()

    return asyncio.run(read())


@_quietly
def complete_namespaces(ctx: click.Context, param: click.Parameter) -> list[str]:
    return _store_names(ctx, "namespaces")


@_quietly
def complete_names(ctx: click.Context, param: click.Parameter) -> list[str]:
    return _store_names(ctx, "names")


@_quietly
def complete_kinds(ctx: click.Context, param: click.Parameter) -> list[str]:
    from ..plugin import default_registries

    return [k.name for k in default_registries(_settings(ctx).runtime_settings()).scheme.kinds()]


@click.command(short_help="Print the shell completion script for bash, zsh or fish.")
@click.argument("shell", type=click.Choice(SHELLS))
@handle_errors
def completion(shell: str) -> None:
    """Print the completion script for SHELL; it completes commands, flags, kinds, namespaces and names.

    \b
    bash:  eval "$(portflow completion bash)"    (in ~/.bashrc)
    zsh:   eval "$(portflow completion zsh)"     (in ~/.zshrc)
    fish:  portflow completion fish > ~/.config/fish/completions/portflow.fish
    """
    from click.shell_completion import get_completion_class

    from .main import cli

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "portflow", "_PORTFLOW_COMPLETE").source())
