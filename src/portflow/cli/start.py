"""``portflow start``: run a namespace until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from typing import Any

import click

from ..logs import say
from .common import (
    environment_option,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    parse_environment,
    run,
    say_documents,
)

log = logging.getLogger("portflow.start")


def print_apply(kind: str, result: Any) -> None:
    """One line per created, updated or removed document, then a summary."""
    changed = [(action, doc) for action, doc in result.rows if action != "unchanged"]
    for action, doc in changed:
        label = doc.get("name") or doc.get("id")
        line = f"{action} {kind[:-1]} {doc.get('namespace')}/{label}"
        say_documents(kind, [(action, doc)], line)
    say(f"{kind}: {result.summary()}")


async def seed(store: Any, scheme: Any, namespace: str, from_specs: str | None, from_values: str | None,
               prune_specs: bool, limits: dict[str, int] | None = None) -> int:
    """Apply the files to the store; returns how many documents were rejected. Nothing is written when a
    file does not parse."""
    from ..apply import apply, prepare_specs, prepare_values
    from ..spec import read_file

    spec_docs = read_file(from_specs, **(limits or {})) if from_specs else None
    value_docs = read_file(from_values, **(limits or {})) if from_values else None
    rejected = 0
    if value_docs is not None:
        valid, problems = prepare_values(value_docs, namespace)
        for line in problems:
            say(f"error: {line}", level="error", err=True)
        rejected += len(problems)
        print_apply("values", await apply(store.values, valid, namespace=namespace))
    if spec_docs is not None:
        valid, problems = prepare_specs(spec_docs, namespace, scheme)
        for line in problems:
            say(f"error: {line}", level="error", err=True)
        rejected += len(problems)
        # A spec the file has but that was rejected is not pruned: its stored version stays.
        result = await apply(store.specs, valid, namespace=namespace, prune=prune_specs, spare=spec_docs)
        print_apply("specs", result)
    return rejected


async def serve(settings: Any, namespace: str, environment: dict[str, str], from_specs: str | None,
                from_values: str | None, reuse_port: bool = False) -> None:
    import asyncio
    import signal

    from ..plugin import default_registries
    from ..runtime import Runtime
    from ..tracing import install as install_tracing

    runtime_settings = settings.runtime_settings(listener_reuse_port=reuse_port)
    registries = default_registries(runtime_settings)
    store = await open_store_for(settings)
    try:
        await seed(store, registries.scheme, namespace, from_specs, from_values, prune_specs=True,
                   limits=settings.document_limits())
        runtime = Runtime(store, namespace=namespace, scheme=registries.scheme, languages=registries.languages,
                          hooks=registries.hooks, environment=environment, settings=runtime_settings)
        untrace = install_tracing(runtime.context.observer, namespace)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        active = sum(1 for sb in runtime.table if sb.loaded)
        log.info("namespace %r: %d spec(s), %d active", namespace, len(runtime.table), active,
                 extra={"namespace": namespace})
        await stop.wait()
        log.info("shutting down")
        grace = runtime_settings.grace
        try:
            await asyncio.wait_for(runtime.close(), timeout=grace)
        except TimeoutError:
            log.warning("shutdown took longer than %.0fs; cancelled what was left", grace)
        if untrace is not None:
            untrace()
    finally:
        await store.close()


@click.command()
@namespace_option
@click.option("--from-specs", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Make the namespace's specs exactly this file's (YAML or JSON) before starting.")
@click.option("--from-values", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Apply (upsert) the values in this file before starting.")
@environment_option
@click.option("--workers", default="1", metavar="N|auto", show_default=True,
              help="Worker processes, each a whole runtime on the same store, sharing listening sockets.")
@click.option("--worker", is_flag=True, hidden=True)
@click.pass_context
@handle_errors
def start(ctx: click.Context, namespace: str | None, from_specs: str | None, from_values: str | None,
          environment: tuple[str, ...], workers: str, worker: bool) -> None:
    """Run a namespace: load its specs, serve, and follow changes until SIGINT or SIGTERM."""
    from .workers import worker_count, worker_environment

    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    env = parse_environment(environment, settings["environment"])
    try:
        count = worker_count(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--workers'") from None
    if worker:
        env = {**env, **worker_environment()}
        run(serve(settings, settings.namespace, env, None, None, reuse_port=True))
    elif count == 1:
        run(serve(settings, settings.namespace, env, from_specs, from_values))
    else:
        run(supervise(ctx, settings, env, from_specs, from_values, count))


async def supervise(ctx: click.Context, settings: Any, env: dict[str, str], from_specs: str | None,
                    from_values: str | None, count: int) -> None:
    """Seed the store once, then keep ``count`` workers running."""
    from ..errors import UserError
    from ..plugin import default_registries
    from .workers import Supervisor, worker_argv

    if settings.database_url.startswith("memory:"):
        raise UserError("--workers needs a store the workers can share (sqlite or postgresql), "
                        "not memory://")
    store = await open_store_for(settings)
    try:
        registries = default_registries(settings.runtime_settings())
        await seed(store, registries.scheme, settings.namespace, from_specs, from_values, prune_specs=True,
                   limits=settings.document_limits())
    finally:
        await store.close()
    root = ctx.find_root().obj or {}
    root_args = [arg for key in ("log_level", "log_format") if root.get(key)
                 for arg in (f"--{key.replace('_', '-')}", root[key])]
    argv = worker_argv(root_args, settings.namespace, env)
    await Supervisor(argv, count, settings.runtime_settings().grace).run()
