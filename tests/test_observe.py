"""The hop observer: installed by the symbol table, seen by subscribers, absent when nobody subscribes."""

from __future__ import annotations

import asyncio

from portflow.node import OneToOne
from portflow.observe import Subscriber
from portflow.packet import Packet
from portflow.process import Process
from portflow.scheme import Context, Scheme
from portflow.spec import PortRef, Spec
from portflow.symbol import Symbol, SymbolTable


def spec(name: str, **ports: str) -> Spec:
    return Spec(kind="x", id=f"id-{name}", name=name, ports={out: [PortRef(port="in", name=target)]
                                                           for out, target in ports.items()})


async def two_nodes() -> tuple[SymbolTable, OneToOne, OneToOne]:
    table = SymbolTable()
    a = OneToOne(lambda proc, pck: Packet(pck.payload + 1))
    b = OneToOne(lambda proc, pck: Packet(pck.payload * 2))
    await table.insert(Symbol(spec("a", out="b"), a), Symbol(spec("b"), b))
    return table, a, b


class Log(Subscriber):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def process_started(self, proc, packet=None):
        self.events.append(("start", proc))

    def process_exited(self, proc):
        self.events.append(("exit", proc))

    def hop_started(self, hop):
        self.events.append(("hop", hop.process, hop.source.name, hop.symbol.name, hop.target.name,
                            hop.packet.payload))

    def hop_ended(self, hop):
        self.events.append(("answer", hop.answer.payload))


async def test_nothing_is_installed_until_somebody_subscribes_and_nothing_after():
    table, a, _b = await two_nodes()
    assert a.out_port.observer is None  # unobserved: send() checks one attribute, nothing more
    unsubscribe = table.observer.subscribe(Log())
    assert a.out_port.observer is table.observer
    unsubscribe()
    assert a.out_port.observer is None


async def test_a_subscriber_sees_process_start_each_hop_with_symbol_and_answer_and_exit():
    table, a, _b = await two_nodes()
    log = Log()
    table.observer.subscribe(log)
    proc = Process()
    assert (await a.in_port.handler(proc, Packet(1))).payload == 4
    await proc.exit()
    assert log.events == [("start", proc), ("hop", proc, "out", "b", "in", 2), ("answer", 4), ("exit", proc)]


async def test_a_context_from_the_runtime_shares_the_tables_observer():
    from portflow.runtime import Runtime
    from portflow.store.memory import MemoryStore

    store = MemoryStore()
    await store.open()
    try:
        async with Runtime(store, scheme=Scheme(), watch=False) as rt:
            assert rt.context.observer is rt.table.observer and rt.context.table is rt.table
            assert rt.context.store is store and isinstance(rt.context, Context)
    finally:
        await store.close()


async def test_an_async_subscriber_holds_the_hop_until_it_lets_go():
    table, a, _b = await two_nodes()
    release = asyncio.Event()
    held = []

    class Breakpoint(Subscriber):
        def hop_started(self, hop):
            held.append(hop.packet.payload)
            return release.wait()

    table.observer.subscribe(Breakpoint())
    answer = asyncio.ensure_future(a.in_port.handler(Process(), Packet(1)))
    await asyncio.sleep(0.01)
    assert held == [2] and not answer.done()  # paused at the hop into b
    release.set()
    assert (await answer).payload == 4


async def test_hops_inside_a_block_reach_the_runtimes_observer_also_after_a_reload(flow):
    from support.probe import call

    block = """
kind: block
name: calc
specs:
  - kind: snippet
    name: plus
    language: cel
    code: "self + 1"
    ports:
      out:
        - name: twice
          port: in
  - kind: snippet
    name: twice
    language: cel
    code: "self * 2"
inbounds:
  in:
    - name: plus
      port: in
outbounds:
  out:
    - name: twice
      port: out
"""
    runtime = await flow(block)
    log = Log()
    runtime.context.observer.subscribe(log)
    assert await call(runtime, "calc", 1) == 4
    hops = [e[3] for e in log.events if e[0] == "hop"]
    assert hops == ["twice"]  # the hop between the two children, seen from the runtime
    sb = runtime.table.lookup("default", "calc")
    await sb.node.unload()
    await sb.node.load()
    log.events.clear()
    assert await call(runtime, "calc", 2) == 6
    assert [e[3] for e in log.events if e[0] == "hop"] == ["twice"]
