"""register: the kinds with their docs, and the plugin's settings table."""

from __future__ import annotations

import pytest

from portflow import ConfigError, Context, Scheme
from portflow.spec import read_documents

import portflow_example


def test_registers_hash_and_counter_as_the_example_plugin(scheme):
    assert [k.name for k in scheme.kinds()] == ["counter", "hash"]
    assert all(k.plugin == "example" for k in scheme.kinds())


@pytest.mark.parametrize("name", ["counter", "hash"])
def test_each_kind_documents_itself_and_its_example_compiles(scheme, name):
    kind = scheme.kind(name)
    assert kind.description and kind.ports and kind.example and kind.spec.__doc__
    scheme.json_schema(name)
    for doc in read_documents(kind.example):
        scheme.compile(scheme.decode(doc), Context(scheme))


def test_config_sets_the_default_algorithm():
    s = Scheme()
    portflow_example.register(s, None, None, {"algorithm": "md5"})
    assert s.compile(s.decode({"kind": "hash"}), Context(s)).algorithm == "md5"
    assert s.compile(s.decode({"kind": "hash", "algorithm": "sha1"}), Context(s)).algorithm == "sha1"


@pytest.mark.parametrize(("config", "message"), [
    ({"algorithm": "crc32"}, "plugins.example: algorithm: invalid enum value 'crc32'"),
    ({"algoritm": "md5"}, "plugins.example: object contains unknown field algoritm"),
])
def test_a_bad_config_is_a_config_error(config, message):
    with pytest.raises(ConfigError) as caught:
        portflow_example.register(Scheme(), None, None, config)
    assert str(caught.value) == message
