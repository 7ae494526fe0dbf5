"""``portflow test [REGEX]``: run a namespace's workflow tests (``test`` nodes) and report each one."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import click

from ..logs import is_json, say
from .common import (
    environment_option,
    from_charts_option,
    handle_errors,
    load_settings_for,
    namespace_option,
    open_store_for,
    parse_environment,
    read_charts,
    read_docs,
    run,
)


class LoadFailed(Exception):
    """The namespace did not load cleanly: ``problems`` holds one line each (a spec and its field)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_seed(scheme: Any, namespace: str, from_specs: str | None, from_values: str | None,
              limits: dict[str, int] | None = None) -> tuple[list, list]:
    """The files' (specs, values), checked; an invalid document aborts the run (``LoadFailed``)."""
    from ..apply import prepare_specs, prepare_values

    specs, spec_problems = prepare_specs(read_docs(from_specs, limits) if from_specs else [], namespace, scheme)
    values, value_problems = prepare_values(read_docs(from_values, limits) if from_values else [], namespace)
    if value_problems or spec_problems:
        raise LoadFailed(value_problems + spec_problems)
    return specs, values


def inactive_tests(runtime: Any, runner: Any, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(name, why) for each matching test spec that compiled but never became active, so never ran."""
    out = []
    for sb in runtime.table:
        kind = runtime.scheme.kind(sb.kind)
        if kind is None or kind.name != "test":
            continue
        name = f"{sb.namespace}/{sb.label}"
        if not pattern.search(name) or (runner is not None and name in runner):
            continue
        missing = [f"{out} -> {ref.name or ref.id}" for out, ref, t in runtime.table.targets(sb)
                   if t is None or t.node is None]
        if sb.error:
            why = sb.error
        elif missing:
            why = "inactive: missing target " + ", ".join(missing)
        else:
            why = "inactive: a node it leads to is missing or did not compile"
        out.append((name, why))
    return out


async def run_tests(settings: Any, namespace: str, environment: dict[str, str], pattern: re.Pattern[str],
                    from_specs: str | None, from_values: str | None, timeout: float | None,
                    from_charts: str | None = None, debug: bool = False) -> list[Any]:
    """Load the namespace (never writing to the configured store), run the matching tests, print each."""
    from ..errors import FlowError
    from ..plugin import default_registries
    from ..plugins.testing.runner import Result, find_runner
    from ..runtime import Runtime

    runtime_settings = settings.runtime_settings()
    registries = default_registries(runtime_settings)
    private = bool(from_specs or from_values or from_charts)
    if private:  # a fresh in-memory store holding only the files' documents
        from ..apply import apply
        from ..store import open_store

        specs, values = read_seed(registries.scheme, namespace, from_specs, from_values, settings.document_limits())
        charts = read_charts(from_charts, namespace, settings.document_limits()) if from_charts else []
        store = open_store(f"memory://portflow-test-{uuid.uuid4().hex}")
        await store.open()
    else:
        store = await open_store_for(settings)
    try:
        if private:
            await apply(store.values, values, namespace=namespace)
            await apply(store.charts, charts, namespace=namespace)
            await apply(store.specs, specs, namespace=namespace)
        runtime = Runtime(store, namespace=namespace, scheme=registries.scheme, languages=registries.languages,
                          hooks=registries.hooks, environment=environment, settings=runtime_settings, watch=False)
        from ..tracing import install as install_tracing

        untrace = install_tracing(runtime.context.observer, namespace)  # a trace per test, as start traces
        try:
            with quiet_load_errors():
                problems = await runtime.start()
            if problems:
                raise LoadFailed(problems)
            runner = find_runner(runtime.context)
            results = [Result(name, FlowError(why), 0.0) for name, why in inactive_tests(runtime, runner, pattern)]
            for result in results:
                print_result(result)
            if runner is not None and debug:
                from ..errors import UserError
                from .debug_prompt import debugging

                quit, ran = await debugging(runtime, lambda: runner.run(pattern, timeout=timeout,
                                                                        on_result=print_result), hold=True)
                if quit:
                    raise UserError("the tests were stopped by quit")
                results += ran or []
            elif runner is not None:
                results += await runner.run(pattern, timeout=timeout, on_result=print_result)
            return sorted(results, key=lambda r: r.name)
        finally:
            await runtime.close()
            if untrace is not None:
                untrace()
    finally:
        await store.close()
        if private:
            from ..store.memory import forget

            forget(store.url)


@contextlib.contextmanager
def quiet_load_errors() -> Iterator[None]:
    """Keep the runtime from logging the load errors that ``test`` prints itself (unless at debug level)."""
    logger = logging.getLogger("portflow.runtime")
    if logging.getLogger().level <= logging.DEBUG:
        yield
        return

    def drop_errors(record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR

    logger.addFilter(drop_errors)
    try:
        yield
    finally:
        logger.removeFilter(drop_errors)


def print_result(result: Any) -> None:
    from ..spec import format_duration

    took = format_duration(result.duration, 1e-6)
    line = f"{'PASS' if result.passed else 'FAIL'}\t{result.name}\t{took}"
    if is_json():  # one line per test, its failure a field
        about = {"test": result.name, "result": "pass" if result.passed else "fail", "duration": took}
        if not result.passed:
            about["error"] = result.message
        say(line.replace("\t", " "), level="info" if result.passed else "error", logger="portflow.test", extra=about)
        return
    say(line)
    if not result.passed:
        for text in result.message.splitlines() or [""]:
            say(f"    {text}")


def write_junit(path: str, results: list[Any]) -> None:
    """JUnit XML, one testsuite per namespace, for CI systems."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="portflow", tests=str(len(results)),
                        failures=str(sum(1 for r in results if not r.passed)),
                        time=f"{sum(r.duration for r in results):.6f}")
    by_namespace: dict[str, list[Any]] = {}
    for result in results:
        by_namespace.setdefault(result.name.split("/", 1)[0], []).append(result)
    for namespace, group in sorted(by_namespace.items()):
        suite = ET.SubElement(suites, "testsuite", name=namespace, tests=str(len(group)),
                              failures=str(sum(1 for r in group if not r.passed)), errors="0", skipped="0",
                              time=f"{sum(r.duration for r in group):.6f}")
        for result in group:
            case = ET.SubElement(suite, "testcase", classname=namespace, name=result.name.split("/", 1)[-1],
                                 time=f"{result.duration:.6f}")
            if not result.passed:
                message = result.message
                failure = ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "",
                                        type=type(result.error).__name__)
                failure.text = message
    ET.indent(suites)
    with open(path, "wb") as fh:
        ET.ElementTree(suites).write(fh, encoding="utf-8", xml_declaration=True)


def compile_pattern(ctx: click.Context, param: click.Parameter, value: str | None) -> re.Pattern[str]:
    try:
        return re.compile(value or "")
    except re.error as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None


def parse_timeout(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from ..spec import parse_duration

    try:
        seconds = float(parse_duration(float(value) if value.replace(".", "", 1).isdigit() else value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return seconds or None


@click.command(short_help="Run a namespace's workflow tests.")
@click.argument("regex", required=False, callback=compile_pattern)
@namespace_option
@click.option("--from-specs", default=None, metavar="FILE",
              help="Test these specs (YAML or JSON) on a private in-memory store instead of the stored namespace.")
@click.option("--from-values", "--from-secrets", "from_values", default=None, metavar="FILE",
              help="Values for that private store (YAML or JSON; --from-secrets: uniflow v0.12's name).")
@from_charts_option
@environment_option
@click.option("--junit", default=None, metavar="FILE", help="Also write the results as JUnit XML, for CI systems.")
@click.option("--timeout", default=None, metavar="DURATION", callback=parse_timeout,
              help="Fail a test that runs longer than this ('30s', '1m'); default: no limit.")
@click.option("--debug", is_flag=True,
              help="Open the debugger's prompt first; the tests run at 'continue', stopping at its breakpoints.")
@click.pass_context
@handle_errors
def test(ctx: click.Context, regex: re.Pattern[str], namespace: str | None, from_specs: str | None,
         from_values: str | None, from_charts: str | None, environment: tuple[str, ...], junit: str | None,
         timeout: float | None, debug: bool) -> None:
    """Run the namespace's workflow tests (test nodes) whose NAMESPACE/NAME matches REGEX.

    Tests run concurrently, each in a process of its own. One line per test: PASS or FAIL, its name and
    how long it took, a failure followed by its error; then a count. Exit status 0 when every test
    passed, 1 otherwise or when a spec does not load. With --from-specs/--from-values the tests run on a
    private in-memory store seeded from those files; without them, on the namespace as stored. Either
    way nothing is written to the configured store.
    """
    settings = load_settings_for(ctx, **{"runtime.namespace": namespace})
    env = parse_environment(environment, settings["environment"])
    try:
        results = run(run_tests(settings, settings.namespace, env, regex, from_specs, from_values, timeout,
                                from_charts, debug=debug))
    except LoadFailed as exc:
        for line in exc.problems:
            say(f"error: {line}", level="error", err=True)
        raise SystemExit(1) from None
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    if not results:
        pattern = f" matching {regex.pattern!r}" if regex.pattern else ""
        say(f"warning: no tests{pattern} in namespace {settings.namespace!r}", level="warning", err=True)
    say(f"{passed} passed, {failed} failed", logger="portflow.test", extra={"passed": passed, "failed": failed})
    if junit:
        write_junit(junit, results)
    if failed:
        raise SystemExit(1)
