"""``portflow start``: run a namespace until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from typing import Any

import click

from ..logs import say
from .common import (
    environment_option,
    from_charts_option,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    parse_environment,
    read_charts,
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


async def seed_charts(settings: Any, namespace: str, path: str) -> None:
    """Apply the charts of ``--from-charts`` (checked first: an invalid one writes nothing)."""
    from ..apply import apply

    charts = read_charts(path, namespace, settings.document_limits())
    store = await open_store_for(settings)
    try:
        print_apply("charts", await apply(store.charts, charts, namespace=namespace))
    finally:
        await store.close()


async def serve(settings: Any, namespace: str, environment: dict[str, str], from_specs: str | None,
                from_values: str | None, reuse_port: bool = False, debug: bool = False,
                strict: bool = False) -> None:
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
        async with Operating(settings, runtime, stop, reuse_port) as operating:
            await runtime.start()
            import gc

            gc.freeze()  # what is loaded now lives as long as the server: keep it out of every later collection
            active = sum(1 for sb in runtime.table if sb.loaded)
            log.info("namespace %r: %d spec(s), %d active", namespace, len(runtime.table), active,
                     extra={"namespace": namespace})
            if not await operating.loaded(strict):
                await runtime.close()
                raise SystemExit(1)
            try:
                if debug:
                    from .debug_prompt import debugging

                    await debugging(runtime, stop.wait)
                else:
                    await stop.wait()
            finally:  # the debugger's prompt failing closes the runtime as cleanly as a signal does
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


class Operating:
    """What ``start`` runs beside the runtime: the admin address (or, in a worker, its reports to the
    supervisor) and the metrics subscriber; the readiness check after load (``--strict``)."""

    def __init__(self, settings: Any, runtime: Any, stopping: Any, worker: bool) -> None:
        import os

        from ..admin.run import RUN_DIR, RUN_METRICS

        self.runtime = runtime
        self.settings = settings
        self.ui: Any = None
        self.token: Any = None
        self.stopping = stopping
        self.listen = "" if worker else settings["admin.listen"]
        self.server_name = settings["listener.server"]
        self.run_dir = os.environ.get(RUN_DIR) if worker else None
        self.metrics_on = bool(self.listen) or bool(self.run_dir and os.environ.get(RUN_METRICS))
        self.metrics: Any = None
        self.server: Any = None
        self._detach: Any = None

    async def __aenter__(self) -> Operating:
        if self.metrics_on:
            from ..admin.metrics import Metrics

            self.metrics = Metrics(self.runtime)
            self._detach = self.metrics.attach()
        if self.listen:
            from ..admin.server import AdminApp, start_admin
            from ..admin.token import AdminToken
            from ..admin.ui import UI

            self.token = AdminToken(self.settings["admin.token"], self.runtime.namespace, self.runtime.store,
                                    lambda token: self.ui.set_token(token))
            self.ui = UI(self.settings, self.runtime.namespace, await self.token.start(), self.ready,
                         self.metrics.snapshot, runtime=self.runtime)
            app = AdminApp(self.ready, self.exposition, self.ui)
            self.server = await start_admin(self.listen, app, self.server_name)
        return self

    def ready(self) -> dict[str, Any]:
        from ..admin.readiness import check

        report = check(self.runtime).as_json()
        if self.stopping.is_set():
            report["ready"] = False
            report["not_ready"].insert(0, {"spec": None, "kind": None, "reason": "shutting down",
                                           "message": "shutting down"})
        return report

    def exposition(self) -> tuple[bytes, str]:
        from ..admin.metrics import exposition

        return exposition(self.metrics.collector())

    async def loaded(self, strict: bool) -> bool:
        """After load: report; False when ``strict`` and anything is not ready (each printed as an error)."""
        from ..admin.readiness import check

        report = check(self.runtime)
        run_dir = self.run_dir
        if run_dir:
            from ..admin.recent import Recent
            from ..admin.run import report_forever

            recent = Recent(self.runtime) if self.metrics is not None else None  # the supervisor's view watches

            async def reporting(status: Any) -> None:
                status.started()
                await report_forever(run_dir, self.runtime, self.metrics, recent)

            await self.runtime.lifetime.start(reporting, name="portflow-report")
        if strict and (not report.ready or report.warnings):
            for line in report.lines(strict=True):
                click.echo(f"error: not ready: {line}", err=True)
            return False
        if not report.ready:
            log.warning("namespace %r is not ready: %d spec(s) not active (the admin address's /readyz, or "
                        "start --strict, lists them)", self.runtime.namespace, len(report.not_ready))
        return True

    async def __aexit__(self, *exc: object) -> None:
        if self._detach is not None:
            self._detach()
        if self.ui is not None:
            self.ui.close()
        if self.token is not None:
            await self.token.close()
        if self.server is not None:
            await self.server.stop(grace=1.0)


@click.command()
@namespace_option
@click.option("--from-specs", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Make the namespace's specs exactly this file's (YAML or JSON) before starting.")
@click.option("--from-values", "--from-secrets", "from_values", type=click.Path(dir_okay=False), default=None,
              metavar="FILE",
              help="Apply (upsert) the values in this file before starting (--from-secrets: uniflow v0.12's name).")
@from_charts_option
@environment_option
@click.option("--workers", default="1", metavar="N|auto", show_default=True,
              help="Worker processes, each a whole runtime on the same store, sharing listening sockets.")
@click.option("--admin", "admin", default=None, metavar="HOST:PORT",
              help="Serve /healthz, /readyz and /metrics here (setting admin.listen; off by default). "
                   "Unauthenticated and read-only: bind loopback or a private address.")
@click.option("--strict", is_flag=True,
              help="Exit 1 when anything is not ready after load (a spec not active, a listener not bound, "
                   "a wiring warning), printing each; for supervisors and CI.")
@click.option("--worker", is_flag=True, hidden=True)
@click.option("--debug", is_flag=True,
              help="Open the debugger's prompt while serving: breakpoints, held hops, processes ('help' there).")
@click.pass_context
@handle_errors
def start(ctx: click.Context, namespace: str | None, from_specs: str | None, from_values: str | None,
          from_charts: str | None, environment: tuple[str, ...], workers: str, admin: str | None, strict: bool,
          worker: bool, debug: bool) -> None:
    """Run a namespace: load its specs, serve, and follow changes until SIGINT or SIGTERM."""
    from .workers import worker_count, worker_environment

    settings = load_settings_for(ctx, **{"runtime.namespace": namespace, "admin.listen": admin})
    if settings["admin.listen"]:
        from ..admin.server import parse_listen

        parse_listen(settings["admin.listen"])  # a bad address fails before anything starts
    if from_charts and not worker:
        run(seed_charts(settings, settings.namespace, from_charts), quick=True)
    env = parse_environment(environment, settings["environment"])
    try:
        count = worker_count(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--workers'") from None
    if debug and (worker or count != 1):
        raise click.BadParameter("the debugger runs one runtime: use it without --workers", param_hint="'--debug'")
    if worker:
        env = {**env, **worker_environment()}
        run(serve(settings, settings.namespace, env, None, None, reuse_port=True))
    elif count == 1:
        run(serve(settings, settings.namespace, env, from_specs, from_values, debug=debug, strict=strict))
    else:
        run(supervise(ctx, settings, env, from_specs, from_values, count, strict))


async def supervise(ctx: click.Context, settings: Any, env: dict[str, str], from_specs: str | None,
                    from_values: str | None, count: int, strict: bool = False) -> None:
    """Seed the store once, then keep ``count`` workers running; serve the admin address for all of them."""
    import os

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
    except BaseException:
        await store.close()
        raise
    root = ctx.find_root().obj or {}
    root_args = [arg for key in ("log_level", "log_format") if root.get(key)
                 for arg in (f"--{key.replace('_', '-')}", root[key])]
    from ..admin.run import RunDirectory

    listen = settings["admin.listen"]
    from ..template import has_template

    keep_store = bool(listen) and has_template(settings["admin.token"])  # a bound admin.token follows the values
    if not keep_store:
        await store.close()
    run_dir = RunDirectory(metrics=bool(listen))
    os.environ.update(run_dir.environment())  # the workers inherit it
    argv = worker_argv(root_args, settings.namespace, env)
    supervisor = Supervisor(argv, count, settings.runtime_settings().grace, exited=run_dir.worker_exited)

    def ready() -> dict[str, Any]:
        return run_dir.readiness(supervisor.pids(), count)

    def metrics_text() -> tuple[bytes, str]:
        from ..admin.metrics import Collector, exposition

        return exposition(Collector(lambda: run_dir.snapshots(supervisor.pids().values())))

    server: Any = None
    ui: Any = None
    token: Any = None
    try:
        if listen:
            from ..admin.metrics import merge
            from ..admin.server import AdminApp, start_admin
            from ..admin.ui import UI

            def snapshot() -> dict[str, Any]:
                return merge(run_dir.snapshots(supervisor.pids().values()))

            from ..admin.run import Workers
            from ..admin.token import AdminToken

            token = AdminToken(settings["admin.token"], settings.namespace, store, lambda t: ui.set_token(t))
            ui = UI(settings, settings.namespace, await token.start(), ready, snapshot,
                    workers=Workers(run_dir, lambda: supervisor.pids().values()))
            server = await start_admin(listen, AdminApp(ready, metrics_text, ui), settings["listener.server"])
        await supervisor.run(check=strict_check(supervisor, run_dir, count) if strict else None)
    finally:
        if server is not None:
            ui.close()
            await server.stop(grace=1.0)
        if token is not None:
            await token.close()
        if keep_store:
            await store.close()
        run_dir.remove()
    if supervisor.failed:
        raise SystemExit(1)


async def strict_check(supervisor: Any, run_dir: Any, count: int) -> bool:
    """``--strict`` with workers: once every worker has loaded and reported, whether all are ready (each
    problem printed as an error)."""
    import asyncio

    while True:
        pids = supervisor.pids()
        if len(pids) == count and all(p is not None and run_dir.report(p) is not None for p in pids.values()):
            break
        await asyncio.sleep(0.05)
    report = run_dir.readiness(supervisor.pids(), count)
    lines = [e["message"] for e in report["not_ready"]] + [e["message"] for e in report["warnings"]]
    for line in lines:
        click.echo(f"error: not ready: {line}", err=True)
    return not lines
