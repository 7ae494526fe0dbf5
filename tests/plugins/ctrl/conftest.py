"""Helpers for the ctrl plugin's tests: send a packet into a node, record what reaches a port, build a
scheme/context with the real languages (when present), and run YAML flows through the runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portflow.errors import FlowError
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.plugins.ctrl import register
from portflow.process import Process
from portflow.scheme import Context, Scheme
from portflow.spec import Spec
from portflow.symbol import Hooks
from support.probe import send_to


class Recorder(OneToOne):
    """A sink that records every payload (and the process it came in) and answers ``reply(payload)``."""

    def __init__(self, reply: Callable[[Any], Any] | None = None) -> None:
        self.seen: list[Any] = []
        self.procs: list[Process] = []
        self.reply = reply
        super().__init__()

    def action(self, proc: Process, pck: Packet) -> Any:
        self.seen.append(pck.payload)
        self.procs.append(proc)
        if self.reply is None:
            return pck
        return Packet(self.reply(pck.payload))


@pytest.fixture
def send():
    return send_to


@pytest.fixture
def recorder():
    return Recorder


@pytest.fixture
def context() -> Context:
    """A compile context with the ctrl kinds and the built-in languages."""
    try:
        from portflow.lang import builtin_languages
    except ImportError:  # the languages package is not there yet
        pytest.skip("portflow.lang is not available")
    scheme = Scheme()
    languages = builtin_languages()
    hooks = Hooks()
    register(scheme, languages, hooks)
    return Context(scheme=scheme, languages=languages, hooks=hooks)


@pytest.fixture
def build(context: Context):
    """``build(yaml_or_dict)``: decode and compile one spec with the ctrl kinds."""
    from portflow.spec import read_documents

    def make(doc: Any) -> Any:
        if isinstance(doc, str):
            (doc,) = read_documents(doc)
        spec = context.scheme.decode(doc)
        return context.scheme.compile(spec, context)

    return make


# -- a test kind for block and step: `add {value}` -------------------------------------------------

class AddSpec(Spec, kw_only=True):
    value: Any = 0


class Add(OneToOne):
    """payload + value; a string payload 'boom' fails. Records load/unload/close."""

    def __init__(self, value: Any, events: list) -> None:
        self.value, self.events = value, events
        super().__init__()

    def action(self, proc, pck):
        if pck.payload == "boom":
            raise FlowError(f"add {self.value}: boom")
        return Packet(pck.payload + self.value)

    async def load(self):
        self.events.append(("load", self.value))

    async def unload(self):
        self.events.append(("unload", self.value))

    async def close(self):
        self.events.append(("close", self.value))
        await super().close()


@pytest.fixture
def events() -> list:
    return []


@pytest.fixture
def ctx(events: list) -> Context:
    """A compile context with the ctrl kinds and the test kind ``add``, without languages."""
    scheme = Scheme()
    register(scheme)
    scheme.register("add", AddSpec, lambda spec, c: Add(spec.value, events))
    return Context(scheme=scheme, hooks=Hooks())
