"""The ctrl plugin registers every kind with its docs: description, ports, an example that decodes."""

from __future__ import annotations

import pytest

from portflow.plugins.ctrl import register
from portflow.scheme import Scheme
from portflow.spec import read_documents

KINDS = {"snippet", "if", "switch", "split", "merge", "for", "pipe", "step", "block", "fork", "retry", "try",
         "throw", "sleep", "nop", "reduce", "session", "print", "cache"}


def scheme() -> Scheme:
    s = Scheme()
    register(s, None, None)
    return s


def test_every_kind_is_registered_with_aliases():
    s = scheme()
    assert {k.name for k in s.kinds()} == KINDS
    assert s.kind("loop").name == "for"
    assert s.kind("wait").name == "sleep"
    assert all(k.plugin == "ctrl" for k in s.kinds())


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_documents_itself(name):
    s = scheme()
    kind = s.kind(name)
    assert kind.description and kind.ports and kind.example
    assert kind.spec.__doc__
    s.json_schema(name)
    s.fields(name)
    for doc in read_documents(kind.example):
        s.decode(doc)


def test_entry_point_names_this_register():
    from importlib.metadata import entry_points

    (ep,) = [ep for ep in entry_points(group="portflow.plugins") if ep.name == "ctrl"]
    assert ep.value == "portflow.plugins.ctrl:register"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_example_compiles(context, name):
    kind = context.scheme.kind(name)
    for doc in read_documents(kind.example):
        context.scheme.compile(context.scheme.decode(doc), context)
