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


class Counting(Subscriber):
    """Only counts: the observer makes no Hop object for it."""

    def __init__(self) -> None:
        self.hops: list[tuple] = []

    def hop_timed(self, source, target, proc, packet, answer, seconds):
        assert seconds >= 0
        self.hops.append((source.name, target.name, packet.payload, answer.payload))


async def test_a_counting_subscriber_gets_plain_values_and_no_hop_object(monkeypatch):
    import portflow.observe as observe

    table, a, _b = await two_nodes()
    counting = Counting()
    table.observer.subscribe(counting)
    made = []
    monkeypatch.setattr(observe.Hop, "__init__", lambda self, *args: made.append(args))
    assert (await a.in_port.handler(Process(), Packet(1))).payload == 4
    assert counting.hops == [("out", "in", 2, 4)] and made == []


async def test_a_subscriber_that_refuses_a_process_sees_nothing_of_it_nor_of_its_children():
    table, a, _b = await two_nodes()

    class Sampler(Log):
        def process_started(self, proc, packet=None):
            if proc.parent is None and packet.payload == 2:
                return False  # the request that carries 2 is left out
            return super().process_started(proc, packet)

    sampler, counting = Sampler(), Counting()
    table.observer.subscribe(sampler)
    table.observer.subscribe(counting)
    refused, child, taken = Process(), None, Process()
    assert (await a.in_port.handler(refused, Packet(1))).payload == 4
    child = Process(refused)
    await a.in_port.handler(child, Packet(1))
    await child.exit()
    await refused.exit()
    assert (await a.in_port.handler(taken, Packet(5))).payload == 12
    await taken.exit()
    assert sampler.events == [("start", taken), ("hop", taken, "out", "b", "in", 6), ("answer", 12), ("exit", taken)]
    assert len(counting.hops) == 3  # the other subscriber saw every hop


async def test_a_subscriber_that_comes_while_a_process_runs_sees_its_next_hops_and_its_exit():
    table, a, _b = await two_nodes()
    counting = Counting()
    table.observer.subscribe(counting)
    proc = Process()
    await a.in_port.handler(proc, Packet(1))
    late = Log()
    table.observer.subscribe(late)
    await a.in_port.handler(proc, Packet(2))
    await proc.exit()
    assert late.events == [("start", proc), ("hop", proc, "out", "b", "in", 3), ("answer", 6), ("exit", proc)]


async def test_a_subscriber_that_left_is_not_told_of_the_exit():
    table, a, _b = await two_nodes()
    log = Log()
    unsubscribe = table.observer.subscribe(log)
    table.observer.subscribe(Counting())
    proc = Process()
    await a.in_port.handler(proc, Packet(1))
    unsubscribe()
    await proc.exit()
    assert [e[0] for e in log.events] == ["start", "hop", "answer"]


async def test_two_subscribers_refuse_processes_each_for_itself():
    table, a, _b = await two_nodes()

    class Refusing(Log):
        def __init__(self, refused: int) -> None:
            super().__init__()
            self.refused = refused

        def process_started(self, proc, packet=None):
            if packet is not None and packet.payload in (self.refused, 4):
                return False  # the hop's packet (the process's number + 1); 4 is refused by both
            return super().process_started(proc, packet)

    one, two, counting = Refusing(2), Refusing(3), Counting()
    for subscriber in (one, two, counting):
        table.observer.subscribe(subscriber)
    procs = [Process() for _ in range(4)]
    for n, proc in enumerate(procs):
        await a.in_port.handler(proc, Packet(n))
        await proc.exit()
    seen = lambda log: [e[1] for e in log.events if e[0] == "start"]  # noqa: E731
    assert seen(one) == [procs[0], procs[2]] and seen(two) == [procs[0], procs[1]]
    assert [e[1] for e in one.events if e[0] == "hop"] == [procs[0], procs[2]]
    assert len(counting.hops) == 4  # the one that saw every process saw every hop
