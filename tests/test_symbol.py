"""Symbol table rules of uniflow-semantics §4: linking in any order, activation, hooks, lifecycle ports."""

import pytest

from portflow.errors import FlowError
from portflow.node import OneToOne
from portflow.packet import Packet
from portflow.port import OutPort
from portflow.process import Process
from portflow.spec import PortRef, Spec
from portflow.symbol import Hooks, Symbol, SymbolTable


class Recorder(OneToOne):
    def __init__(self, log, name, fail=False, fn=None):
        super().__init__(fn or (lambda proc, pck: pck))
        self.log, self.name, self.fail = log, name, fail

    async def load(self):
        if self.fail:
            raise FlowError(f"{self.name} cannot start")
        self.log.append(("load", self.name))

    async def unload(self):
        self.log.append(("unload", self.name))

    async def close(self):
        self.log.append(("close", self.name))
        await super().close()


def sym(name, ports=None, node=..., log=None, ns="default", fail=False, fn=None):
    spec = Spec(kind="k", id=f"id-{ns}-{name}", name=name, namespace=ns,
                ports={out: [PortRef(**t) for t in targets] for out, targets in (ports or {}).items()})
    if node is ...:
        node = Recorder(log if log is not None else [], name, fail, fn)
    return Symbol(spec=spec, node=node)


async def call(sb, payload=1):
    out = OutPort("probe")
    out.link(sb.node.inport("in"))
    return (await out.send(Process(), Packet(payload))).payload


async def test_links_in_any_order_and_loads_downstream_first():
    log = []
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "b", "port": "in"}]}, log=log, fn=lambda p, k: Packet(k.payload + 1))
    b = sym("b", {"out": [{"name": "c", "port": "in"}]}, log=log, fn=lambda p, k: Packet(k.payload * 10))
    c = sym("c", log=log, fn=lambda p, k: Packet(-k.payload))
    await table.insert(a)
    assert log == [] and not a.loaded  # b is missing: a stays inactive
    await table.insert(c)
    assert log == [("load", "c")]
    await table.insert(b)  # the last missing piece activates everything upstream, downstream first
    assert log == [("load", "c"), ("load", "b"), ("load", "a")]
    assert await call(a, 1) == -20


async def test_activation_needs_every_transitive_target():
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "b", "port": "in"}]})
    b = sym("b", {"out": [{"name": "ghost", "port": "in"}]})
    await table.insert(a, b)
    assert not table.is_active(a) and not table.is_active(b)
    assert not a.loaded and not b.loaded


async def test_unknown_kind_symbol_has_no_node_and_keeps_upstream_inactive():
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "u", "port": "in"}]})
    u = sym("u", node=None)
    await table.insert(a, u)
    assert not a.loaded


async def test_links_never_cross_namespaces():
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "b", "port": "in"}]}, ns="one")
    b = sym("b", ns="two")
    await table.insert(a, b)
    assert not a.loaded and b.loaded
    assert a.node.out_port.links == ()


async def test_targets_by_id():
    table = SymbolTable()
    b = sym("b", fn=lambda p, k: Packet("from b"))
    a = sym("a", {"out": [{"id": b.id, "port": "in"}]})
    await table.insert(a, b)
    assert a.loaded and await call(a) == "from b"


async def test_free_unloads_dependents_in_reverse_and_replace_reactivates_them():
    log = []
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "b", "port": "in"}]}, log=log)
    b = sym("b", log=log, fn=lambda p, k: Packet("old"))
    await table.insert(a, b)
    assert await call(a) == "old"
    log.clear()
    b2 = sym("b", log=log, fn=lambda p, k: Packet("new"))
    await table.insert(b2)  # same id: replace
    assert log == [("unload", "a"), ("unload", "b"), ("close", "b"), ("load", "b"), ("load", "a")]
    assert await call(a) == "new"
    log.clear()
    await table.free(b2.id)
    assert log == [("unload", "a"), ("unload", "b"), ("close", "b")]
    assert not a.loaded and a.node.out_port.links == ()


async def test_failed_load_hook_keeps_node_and_upstream_inactive_and_others_serving():
    log = []
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "bad", "port": "in"}]}, log=log)
    bad = sym("bad", log=log, fail=True)
    other = sym("other", log=log)
    await table.insert(a, bad, other)
    assert not bad.loaded and not a.loaded and other.loaded
    assert "cannot start" in bad.error


async def test_plugin_hooks_run_on_load_and_unload():
    hooks = Hooks()
    seen = []
    hooks.on_load(lambda sb: seen.append(("load", sb.name)))

    async def on_unload(sb):
        seen.append(("unload", sb.name))

    hooks.on_unload(on_unload)
    table = SymbolTable(hooks)
    a = sym("a")
    await table.insert(a)
    await table.close()
    assert seen == [("load", "a"), ("unload", "a")]


async def test_lifecycle_ports_receive_the_spec_in_order():
    events = []
    table = SymbolTable()
    watcher = sym("watcher", fn=lambda p, k: events.append(k.payload["name"]) or Packet(None))
    a = sym("a", {"init": [{"name": "watcher", "port": "in"}], "active": [{"name": "watcher", "port": "in"}],
                  "deactive": [{"name": "watcher", "port": "in"}], "deinit": [{"name": "watcher", "port": "in"}]})
    await table.insert(watcher, a)
    assert events == ["a", "a"]
    await table.free(a.id)
    assert events == ["a", "a", "a", "a"]


async def test_older_lifecycle_port_names_fire_like_active_deactive_deinit():
    # begin/term/final are what earlier uniflow releases called active/deactive/deinit.
    events = []
    hooks = Hooks()
    hooks.on_load(lambda sb: events.append(f"hook-load {sb.name}") if sb.name == "b" else None)
    hooks.on_unload(lambda sb: events.append(f"hook-unload {sb.name}") if sb.name == "b" else None)
    table = SymbolTable(hooks)
    seen = sym("seen", fn=lambda p, k: events.append(f"port {k.payload['name']}") or Packet(None))
    b = sym("b", {"begin": [{"name": "seen", "port": "in"}], "term": [{"name": "seen", "port": "in"}],
                  "final": [{"name": "seen", "port": "in"}]})
    await table.insert(seen, b)
    assert b.loaded and events == ["hook-load b", "port b"]
    await table.free(b.id)
    assert events == ["hook-load b", "port b", "port b", "hook-unload b", "port b"]


async def test_lifecycle_error_aborts_the_load():
    table = SymbolTable()

    def refuse(p, k):
        raise FlowError("not now")

    guard = sym("guard", fn=refuse)
    a = sym("a", {"init": [{"name": "guard", "port": "in"}]})
    await table.insert(guard, a)
    assert not a.loaded and "init port: not now" in a.error


async def test_cycles_still_load():
    table = SymbolTable()
    a = sym("a", {"error": [{"name": "b", "port": "in"}]})
    b = sym("b", {"error": [{"name": "a", "port": "in"}]})
    await table.insert(a, b)
    assert a.loaded and b.loaded


async def test_close_frees_everything():
    log = []
    table = SymbolTable()
    await table.insert(sym("a", {"out": [{"name": "b", "port": "in"}]}, log=log), sym("b", log=log))
    await table.close()
    assert len(table) == 0
    assert log.index(("unload", "a")) < log.index(("unload", "b"))


@pytest.mark.parametrize("n", [50])
async def test_a_long_chain_inserted_backwards_loads_once_each(n):
    log = []
    table = SymbolTable()
    syms = [sym(f"s{i}", {"out": [{"name": f"s{i + 1}", "port": "in"}]} if i < n - 1 else None, log=log)
            for i in range(n)]
    await table.insert_many(syms)
    assert sorted(log) == sorted(("load", f"s{i}") for i in range(n))
    assert [name for _, name in log] == [f"s{i}" for i in reversed(range(n))]


async def test_replacing_a_node_under_traffic_loses_no_packet():
    """A packet inside the old node finishes downstream through it; later packets reach the new node."""
    import asyncio

    gate = asyncio.Event()
    table = SymbolTable()

    async def slow(p, k):
        await gate.wait()
        return k

    head = sym("head", {"out": [{"name": "mid", "port": "in"}]})
    mid = sym("mid", {"out": [{"name": "tail", "port": "in"}]}, fn=slow)
    tail = sym("tail", fn=lambda p, k: Packet(f"tail saw {k.payload}"))
    await table.insert(head, mid, tail)
    inflight = asyncio.create_task(call(head, "first"))
    await asyncio.sleep(0.01)
    await table.insert(sym("mid", {"out": [{"name": "tail", "port": "in"}]}, fn=lambda p, k: Packet(f"new {k.payload}")))
    assert await call(head, "second") == "tail saw new second"
    gate.set()
    assert await inflight == "tail saw first"


async def test_out_port_replace_is_in_place():
    from portflow.port import InPort

    out = OutPort("out")
    a, b, c = InPort("a"), InPort("b"), InPort("c")
    out.link(a)
    out.link(b)
    out.replace(a, c)
    assert out.links == (c, b)
    out.replace(b, None)
    assert out.links == (c,)
