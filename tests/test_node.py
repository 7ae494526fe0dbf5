"""The port and packet rules of uniflow-semantics §5 and the node bases of §7."""

import asyncio

from portflow.errors import FlowError
from portflow.node import ManyToOne, OneToMany, OneToOne
from portflow.observe import Observer, Subscriber
from portflow.packet import NONE, Packet
from portflow.port import InPort, OutPort
from portflow.process import Process


async def send(node, payload, port="in", proc=None):
    proc = proc or Process()
    out = OutPort("probe")
    out.link(node.inport(port))
    answer = await out.send(proc, Packet(payload))
    return answer.payload


def const(value):
    return OneToOne(lambda proc, pck: Packet(value))


async def test_unconnected_out_answers_with_its_own_output():
    double = OneToOne(lambda proc, pck: Packet(pck.payload * 2))
    assert await send(double, 21) == 42


async def test_connected_out_answers_with_downstream_answer():
    a = OneToOne(lambda proc, pck: Packet(pck.payload + 1))
    b = OneToOne(lambda proc, pck: Packet(pck.payload * 10))
    a.out_port.link(b.in_port)
    assert await send(a, 1) == 20


async def test_node_that_emits_nothing_answers_with_its_input():
    quiet = OneToOne(lambda proc, pck: None)
    assert await send(quiet, "same") == "same"


async def test_fan_out_joins_answers_in_link_order_keeping_null_payloads():
    src = OneToOne(lambda proc, pck: pck)
    for value in ("a", None, "c"):
        src.out_port.link(const(value).in_port)
    assert await send(src, 0) == ["a", None, "c"]


async def test_fan_out_skips_branches_that_answer_none():
    src = OneToOne(lambda proc, pck: pck)
    src.out_port.link(const("a").in_port)
    src.out_port.link(OneToOne(lambda proc, pck: NONE).in_port)
    assert await send(src, 0) == "a"


async def test_fan_out_with_an_error_answers_one_joined_error():
    src = OneToOne(lambda proc, pck: pck)

    def boom(proc, pck):
        raise FlowError("boom")

    src.out_port.link(const("ok").in_port)
    src.out_port.link(OneToOne(boom).in_port)
    answer = await send(src, 0)
    assert isinstance(answer, FlowError) and str(answer) == "boom"


async def test_raised_error_goes_to_error_port_when_connected():
    def fail(proc, pck):
        raise FlowError("bad input")

    node = OneToOne(fail)
    seen = []
    handler = OneToOne(lambda proc, pck: (seen.append(str(pck.payload)), Packet({"status": 400}))[1])
    node.error_port.link(handler.in_port)
    assert await send(node, 1) == {"status": 400}
    assert seen == ["bad input"]


async def test_error_travels_upstream_when_error_port_is_unconnected():
    def fail(proc, pck):
        raise FlowError("deep")

    a = OneToOne(lambda proc, pck: pck)
    b = OneToOne(fail)
    a.out_port.link(b.in_port)
    answer = await send(a, 1)
    assert isinstance(answer, FlowError) and str(answer) == "deep"


async def test_a_bug_in_an_action_becomes_an_error_packet_not_a_crash():
    node = OneToOne(lambda proc, pck: 1 / 0)
    answer = await send(node, 1)
    assert isinstance(answer, ZeroDivisionError)


async def test_concurrent_packets_in_one_process_are_handled_in_arrival_order():
    order = []

    async def slow_first(proc, pck):
        order.append(("start", pck.payload))
        await asyncio.sleep(0.05 if pck.payload == 0 else 0.0)
        order.append(("end", pck.payload))
        return Packet(pck.payload * 10)

    node = OneToOne(slow_first)
    proc = Process()
    answers = await asyncio.gather(*(send(node, i, proc=proc) for i in range(4)))
    assert answers == [0, 10, 20, 30]
    assert order == [(e, i) for i in range(4) for e in ("start", "end")]


async def test_different_processes_do_not_wait_for_each_other():
    release = asyncio.Event()

    async def gated(proc, pck):
        if pck.payload == "blocked":
            await release.wait()
        return pck

    node = OneToOne(gated)
    blocked = asyncio.create_task(send(node, "blocked"))
    assert await asyncio.wait_for(send(node, "free"), 1) == "free"
    release.set()
    assert await blocked == "blocked"


async def test_one_to_many_writes_each_output_to_its_port_and_joins():
    node = OneToMany(lambda proc, pck: [Packet(pck.payload), None, Packet(pck.payload + 2)])
    for i in range(3):
        node.out(i).link(OneToOne(lambda proc, pck: pck).in_port)
    assert await send(node, 1) == [1, 3]


async def test_one_to_many_out_is_out_zero_and_ports_are_created_lazily():
    node = OneToMany(lambda proc, pck: [pck])
    assert node.outport("out") is node.outport("out[0]")
    node.outport("out[3]")
    assert len(node.out_ports) == 4


async def test_one_to_many_emitting_nothing_echoes_the_input():
    node = OneToMany(lambda proc, pck: [None, Packet("dropped")])  # out[1] never created
    assert await send(node, "in") == "in"


async def test_many_to_one_waits_for_a_full_row_and_echoes_partial_inputs():
    merge = ManyToOne(lambda proc, inputs: Packet([p.payload for p in inputs]))
    merge.inport("in[1]")
    proc = Process()
    assert await send(merge, "a", "in[0]", proc) == "a"  # partial: echoed
    assert await send(merge, "b", "in[1]", proc) == ["a", "b"]


async def test_many_to_one_rows_are_per_process():
    merge = ManyToOne(lambda proc, inputs: Packet([p.payload for p in inputs]))
    merge.inport("in[1]")
    p1, p2 = Process(), Process()
    await send(merge, "a1", "in[0]", p1)
    assert await send(merge, "b2", "in[1]", p2) == "b2"
    assert await send(merge, "b1", "in[1]", p1) == ["a1", "b1"]


async def test_unlinked_out_port_returns_the_fallback():
    out = OutPort("out")
    proc = Process()
    assert (await out.send(proc, Packet(1))) is NONE
    fb = Packet("fb")
    assert (await out.send(proc, Packet(1), fb)) is fb


async def test_a_send_over_one_unobserved_link_is_the_handler_own_coroutine():
    """A hop costs the handler's coroutine only; with an observer or several links the port adds its own."""
    seen = []

    async def handler(proc, pck):
        seen.append(pck.payload)
        return Packet(pck.payload + 1)

    out = OutPort("out")
    out.link(InPort("in", handler=handler))
    proc = Process()
    hop = out.send(proc, Packet(1))
    assert hop.cr_code is handler.__code__ and seen == []  # nothing runs before it is awaited
    assert (await hop).payload == 2 and seen == [1]
    out.observer = Observer()
    observed = out.send(proc, Packet(5))
    assert observed.cr_code is not handler.__code__
    assert (await observed).payload == 6 and seen == [1, 5]


async def test_an_observer_installed_on_a_port_sees_each_hop_with_its_answer():
    a = OneToOne(lambda proc, pck: Packet(pck.payload + 1))
    b = OneToOne(lambda proc, pck: Packet(pck.payload * 2))
    a.out_port.link(b.in_port)
    seen = []

    class Watch(Subscriber):
        def hop_ended(self, hop):
            seen.append((hop.source.name, hop.target.name, hop.packet.payload, hop.answer.payload))

    observer = Observer()
    observer.subscribe(Watch())
    a.out_port.observer = observer
    assert await send(a, 1) == 4
    assert seen == [("out", "in", 2, 4)]  # a's out-port sent 2 to b's in-port, which answered 4


async def test_in_port_without_handler_answers_an_error():
    out = OutPort("out")
    out.link(InPort("in"))
    answer = await out.send(Process(), Packet(1))
    assert answer.is_error


async def test_a_plain_action_may_answer_later_with_a_coroutine():
    async def later(value):
        await asyncio.sleep(0)
        if value < 0:
            raise FlowError("negative")
        return Packet(value * 2)

    node = OneToOne(lambda proc, pck: later(pck.payload))
    assert await send(node, 21) == 42
    answer = await send(node, -1)
    assert isinstance(answer, FlowError) and str(answer) == "negative"


async def test_a_cancelled_waiter_does_not_block_the_packets_behind_it():
    release = asyncio.Event()

    async def gated(proc, pck):
        if pck.payload == "first":
            await release.wait()
        return pck

    node = OneToOne(gated)
    proc = Process()
    first = asyncio.ensure_future(send(node, "first", proc=proc))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(send(node, "second", proc=proc))
    third = asyncio.ensure_future(send(node, "third", proc=proc))
    await asyncio.sleep(0)
    second.cancel()
    release.set()
    assert await first == "first"
    assert await asyncio.wait_for(third, 1) == "third"
    assert node._run._busy == {}  # nothing left behind


def test_a_port_table_serves_both_names_of_port_zero():
    from portflow.node import Node, port_lookup
    from portflow.port import OutPort

    assert port_lookup({"out": 1}, "out[0]") == 1 and port_lookup({"out[0]": 2}, "out") == 2
    assert port_lookup({"out": 1}, "out[1]") is None and port_lookup({}, "out") is None

    class Two(Node):
        OUTPORTS = {"out": "first", "out[1]": "second"}

        def __init__(self) -> None:
            self.first, self.second = OutPort("out[0]", self), OutPort("out[1]", self)

    node = Two()
    assert node.outport("out") is node.first and node.outport("out[0]") is node.first
    assert node.outport("out[1]") is node.second and node.outport("error") is None and node.inport("in") is None
