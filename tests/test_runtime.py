"""Runtime: load, bind, template, reconcile (uniflow-semantics §2 and §4)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from portflow.apply import apply, prepare_specs, prepare_values
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.runtime import Runtime
from portflow.scheme import Scheme
from portflow.spec import Spec, read_documents
from portflow.store import open_store
from support.probe import call


class ConstSpec(Spec, kw_only=True):
    value: Any = None


class PortSpec(Spec, kw_only=True):
    port: int


class Const(OneToOne):
    def __init__(self, value: Any, loads: list):
        super().__init__(lambda proc, pck: Packet(value))
        self.value, self.loads = value, loads

    async def load(self):
        self.loads.append(("load", self.value))


def make_scheme(compiled: list, loads: list) -> Scheme:
    scheme = Scheme()

    def const(spec, ctx):
        compiled.append(spec.name)
        return Const(spec.value, loads)

    def relay(spec, ctx):
        compiled.append(spec.name)
        return OneToOne(lambda proc, pck: pck)

    scheme.register("const", ConstSpec, const)
    scheme.register("relay", Spec, relay)
    scheme.register("needs-port", PortSpec, lambda spec, ctx: Const(spec.port, loads))
    return scheme


async def seed(store, specs: str, values: str | None = None, namespace="default"):
    if values:
        docs, problems = prepare_values(read_documents(values), namespace)
        assert not problems
        await apply(store.values, docs, namespace=namespace)
    docs, problems = prepare_specs(read_documents(specs), namespace)
    assert not problems, problems
    await apply(store.specs, docs, namespace=namespace)


async def until(predicate, timeout=3.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def registries():
    compiled, loads = [], []
    return make_scheme(compiled, loads), compiled, loads


FLOW = """
- kind: relay
  name: head
  ports:
    out:
      - name: tail
        port: in
- kind: const
  name: tail
  value: 42
"""


async def test_load_links_and_serves(store, registries):
    scheme, _compiled, _loads = registries
    await seed(store, FLOW)
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        assert await call(rt, "head") == 42
        assert all(sb.loaded for sb in rt.table)


async def test_unknown_kind_is_kept_not_compiled_and_says_why(store, registries, caplog):
    scheme, _, _ = registries
    await seed(store, "- kind: mystery\n  name: m\n")
    with caplog.at_level(logging.WARNING, "portflow.symbol"):
        async with Runtime(store, scheme=scheme, languages=object()) as rt:
            sb = rt.table.lookup("default", "m")
            assert sb is not None and sb.node is None
            assert "unknown kind 'mystery'" in sb.error
    assert "unknown kind 'mystery'" in caplog.text


async def test_invalid_spec_is_reported_and_the_valid_ones_load(store, registries, caplog):
    scheme, _, _ = registries
    await store.specs.insert([{"id": "1", "namespace": "default", "name": "bad", "kind": "needs-port",
                               "port": "eighty"}])
    await seed(store, FLOW)
    with caplog.at_level(logging.ERROR, "portflow.runtime"):
        async with Runtime(store, scheme=scheme, languages=object()) as rt:
            assert "spec 'bad' (kind needs-port): port: expected int" in "\n".join(rt.problems)
            assert await call(rt, "head") == 42
    assert "spec 'bad' (kind needs-port): port" in caplog.text


async def test_environment_templates_and_typed_decoding(store, registries):
    scheme, _, loads = registries
    await seed(store, """
- kind: needs-port
  name: listener
  port: '{{ .PORT }}'
  env:
    PORT:
      data: '{{ .PORT }}'
""")
    async with Runtime(store, scheme=scheme, languages=object(), environment={"PORT": "8000"}) as rt:
        sb = rt.table.lookup("default", "listener")
        assert sb.spec.port == 8000 and ("load", 8000) in loads


async def test_missing_environment_key_fails_the_spec_with_the_field(store, registries):
    scheme, _, _ = registries
    await seed(store, """
- kind: needs-port
  name: listener
  port: '{{ .PORT }}'
  env:
    PORT:
      data: '{{ .PORT }}'
""")
    async with Runtime(store, scheme=scheme, languages=object(), environment={"OTHER": "1"}) as rt:
        sb = rt.table.lookup("default", "listener")
        assert sb.node is None and "port: expected int" in sb.error


async def test_values_bind_by_name_and_id_and_changes_rebind(store, registries):
    scheme, _, _ = registries
    await seed(store, """
- kind: const
  name: by-name
  value: 'pw={{ .DB.password }}'
  env:
    DB:
      name: db
      data: '{{ . }}'
- kind: const
  name: by-id
  value: '{{ .TOKEN }}'
  env:
    TOKEN:
      id: value-1
      data: 'Bearer {{ . }}'
""", values="""
- name: db
  data: {password: s3cret}
- id: value-1
  name: token
  data: abc
""")
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        assert await call(rt, "by-name") == "pw=s3cret"
        assert await call(rt, "by-id") == "Bearer abc"
        doc = (await store.values.find({"name": "db"}))[0]
        await store.values.update([{**doc, "data": {"password": "rotated"}}])
        await until(lambda: rt.table.lookup("default", "by-name").node.value == "pw=rotated")
        assert rt.table.lookup("default", "by-id").node.value == "Bearer abc"


async def test_missing_value_keeps_spec_inactive_until_it_appears(store, registries):
    scheme, _, _ = registries
    await seed(store, """
- kind: const
  name: c
  value: '{{ .K }}'
  env:
    K:
      name: later
      data: '{{ . }}'
""")
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        sb = rt.table.lookup("default", "c")
        assert sb.node is None and "no value with name 'later'" in sb.error
        await store.values.insert([{"id": "v", "namespace": "default", "name": "later", "data": "now"}])
        await until(lambda: (s := rt.table.lookup("default", "c")) is not None and s.loaded)
        assert await call(rt, "c") == "now"


async def test_missing_target_activates_when_added(store, registries, caplog):
    scheme, _, _ = registries
    await seed(store, FLOW.split("- kind: const")[0])
    with caplog.at_level(logging.WARNING, "portflow.runtime"):
        async with Runtime(store, scheme=scheme, languages=object()) as rt:
            head = rt.table.lookup("default", "head")
            assert not head.loaded
            assert "spec 'head' (kind relay): ports.out[0].name: no spec named 'tail' in namespace 'default'" \
                in caplog.text
            assert head.warnings == [caplog.records[-1].getMessage()]
            await seed(store, FLOW)
            await until(lambda: head.loaded)
            assert head.warnings == []
            assert await call(rt, "head") == 42


async def test_reconcile_rebuilds_only_what_changed(store, registries):
    scheme, compiled, _ = registries
    await seed(store, FLOW + "- kind: const\n  name: other\n  value: 1\n")
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        assert sorted(compiled) == ["head", "other", "tail"]
        compiled.clear()
        doc = (await store.specs.find({"name": "tail"}))[0]
        await store.specs.update([{**doc, "value": 43}])
        await until(lambda: compiled == ["tail"])
        await until(lambda: rt.table.lookup("default", "head").loaded)
        assert await call(rt, "head") == 43
        assert rt.table.lookup("default", "other").node is not None


async def test_deleted_spec_is_freed_and_upstream_deactivated(store, registries):
    scheme, _, _ = registries
    await seed(store, FLOW)
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        await store.specs.delete({"name": "tail"})
        await until(lambda: rt.table.lookup("default", "tail") is None)
        assert not rt.table.lookup("default", "head").loaded


async def test_other_namespaces_are_ignored(store, registries):
    scheme, compiled, _ = registries
    await seed(store, FLOW)
    await seed(store, "- kind: const\n  name: elsewhere\n  value: 1\n", namespace="other")
    async with Runtime(store, scheme=scheme, languages=object()) as rt:
        assert rt.table.lookup("other", "elsewhere") is None
        await seed(store, "- kind: const\n  name: elsewhere2\n  value: 2\n", namespace="other")
        await asyncio.sleep(0.1)
        assert "elsewhere2" not in compiled


async def test_a_change_from_another_os_process_reaches_the_runtime(tmp_path, registries):
    scheme, compiled, _ = registries
    url = f"sqlite:///{tmp_path}/flows.db"
    store = open_store(url)
    await store.open()
    try:
        await seed(store, FLOW + "- kind: const\n  name: other\n  value: 1\n")
        async with Runtime(store, scheme=scheme, languages=object()) as rt:
            compiled.clear()
            script = textwrap.dedent(f"""
                import asyncio
                from portflow.store import open_store
                async def main():
                    async with open_store({url!r}) as st:
                        doc = (await st.specs.find({{"name": "tail"}}))[0]
                        await st.specs.update([{{**doc, "value": "from another process"}}])
                asyncio.run(main())
            """)
            subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
            await until(lambda: compiled == ["tail"], timeout=5)
            await until(lambda: rt.table.lookup("default", "head").loaded)
            assert await call(rt, "head") == "from another process"
            assert compiled == ["tail"]  # exactly that symbol; its dependents were relinked, not rebuilt
    finally:
        await store.close()


async def test_value_data_never_reaches_the_log(store, caplog):
    """Even when a spec that uses a secret fails to compile, the log shows the failure, not the secret."""
    await seed(store, """
- kind: snippet
  name: leaky
  language: javascript
  code: 'export default function () { return {{ .TOKEN }} }'
  env:
    TOKEN:
      name: api-token
      data: '{{ . }}'
- kind: snippet
  name: typed
  language: text
  code: x
  timeout: '{{ .TOKEN }}'
  env:
    TOKEN:
      name: api-token
      data: '{{ . }}'
""", values="- name: api-token\n  data: sk-live-51HsecretVALUE\n")
    with caplog.at_level(logging.DEBUG):
        async with Runtime(store) as rt:
            assert rt.table.lookup("default", "leaky").node is None
            assert rt.table.lookup("default", "typed").node is None
            errors = "\n".join(rt.problems)
    assert "spec 'leaky' (kind snippet)" in caplog.text and "spec 'typed' (kind snippet)" in caplog.text
    assert "sk-live-51HsecretVALUE" not in caplog.text
    assert "sk-live-51HsecretVALUE" not in errors
