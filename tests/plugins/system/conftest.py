"""Helpers for the system plugin's tests: a scheme with the system kinds (and sql, net, ctrl when they are
installed), a ``record`` kind that remembers what reaches it, and runtimes started on the test's store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from portflow.apply import apply, prepare_specs, prepare_values
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.process import Process
from portflow.runtime import Runtime
from portflow.scheme import Context, Scheme
from portflow.spec import Spec, read_documents
from portflow.symbol import Hooks
from support.probe import send_to


class RecordSpec(Spec, kw_only=True):
    """Test kind: remembers every payload (and its process) and answers ``{seen: payload}``."""


class Record(OneToOne):
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.procs: list[Process] = []
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Any:
        self.seen.append(pck.payload)
        self.procs.append(proc)
        return {"seen": pck.payload}


def languages_or_none() -> Any:
    try:
        from portflow.lang import builtin_languages
    except ImportError:
        return None
    return builtin_languages()


def system_scheme(*plugins: str) -> tuple[Scheme, Any, Hooks]:
    """A scheme with the system kinds, ``record``, and the named plugins (registered before system)."""
    import importlib

    scheme, hooks = Scheme(), Hooks()
    languages = languages_or_none()
    for name in plugins:
        module = importlib.import_module(f"portflow.plugins.{name}")
        module.register(scheme, languages, hooks)
    from portflow.plugins.system import register

    register(scheme, languages, hooks)
    scheme.register("record", RecordSpec, lambda spec, ctx: Record(), plugin="tests")
    return scheme, languages, hooks


@pytest.fixture
def send() -> Callable[..., Any]:
    return send_to


@pytest.fixture
async def runtime(store: Any) -> AsyncIterator[Callable[..., Any]]:
    """``await runtime(specs_yaml, namespace=..., values=..., plugins=(...), environment=...)``: apply the
    documents to the test's store and start a runtime on them with the system kinds. Closed at teardown."""
    started: list[Runtime] = []

    async def start(specs: str = "", *, namespace: str = "default", values: str | None = None,
                    plugins: tuple[str, ...] = (), environment: dict[str, str] | None = None,
                    settings: dict[str, Any] | None = None) -> Runtime:
        scheme, languages, hooks = system_scheme(*plugins)
        if values:
            docs, problems = prepare_values(read_documents(values), namespace)
            assert not problems, problems
            await apply(store.values, docs, namespace=namespace)
        if specs:
            docs, problems = prepare_specs(read_documents(specs), namespace, scheme)
            assert not problems, problems
            await apply(store.specs, docs, namespace=namespace)
        rt = Runtime(store, namespace=namespace, scheme=scheme, languages=languages if languages is not None
                     else object(), hooks=hooks, environment=environment, settings=settings)
        started.append(rt)
        problems = await rt.start()
        assert not problems, problems
        return rt

    try:
        yield start
    finally:
        for rt in reversed(started):
            await rt.close()


def node_of(rt: Runtime, name: str) -> Any:
    sb = rt.table.lookup(rt.namespace, name)
    assert sb is not None and sb.node is not None, f"no live node {name!r}: {sb and sb.error}"
    return sb.node


def context_for(store: Any) -> Context:
    """A compile context holding ``store`` (for codecs without a Runtime)."""
    scheme, languages, hooks = system_scheme()
    return Context(scheme=scheme, languages=languages, hooks=hooks, store=store)
