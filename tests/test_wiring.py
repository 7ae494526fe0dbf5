"""Wiring mistakes are loud: a missing name, a port the target lacks, an out-port the node lacks; each one
line with a did-you-mean, on ``Symbol.warnings`` and logged once."""

import logging

from portflow.node import OneToMany, OneToOne
from portflow.spec import PortRef, Spec
from portflow.suggest import closest, did_you_mean
from portflow.symbol import Symbol, SymbolTable


def sym(name, ports=None, node=None, kind="k"):
    spec = Spec(kind=kind, id=f"id-{name}", name=name,
                ports={out: [PortRef(**t) for t in targets] for out, targets in (ports or {}).items()})
    return Symbol(spec=spec, node=node if node is not None else OneToOne(lambda proc, pck: pck))


def test_closest_names_the_nearest_word_or_nothing():
    assert closest("pongg", ["pong", "router", "listener"]) == "pong"
    assert closest("inn", ["in", "error"]) == "in"
    assert closest("Pong", ["pong"]) == "pong"
    assert closest("zzzz", ["pong", "router"]) is None
    assert closest("pong", ["pong"]) is None
    assert did_you_mean("rooter", ["router"]) == " (did you mean 'router'?)"
    assert did_you_mean("x", []) == ""


async def test_a_port_the_target_lacks_is_a_warning_with_a_suggestion_logged_once(caplog):
    table = SymbolTable()
    pong = sym("pong", kind="snippet")
    router = sym("router", {"out": [{"name": "pong", "port": "inn"}]}, node=OneToMany(), kind="router")
    with caplog.at_level(logging.WARNING, "portflow.symbol"):
        await table.insert(pong, router)
        expected = ("spec 'router' (kind router): ports.out[0].port: spec 'pong' (kind snippet) has no in-port "
                    "'inn' (did you mean 'in'?); the connection is ignored")
        assert router.warnings == [expected]
        await table.insert(sym("other"))  # an unrelated change does not log it again
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert router.loaded  # the rest of the flow still runs


async def test_a_name_that_does_not_exist_suggests_the_closest_and_clears_when_it_appears(caplog):
    table = SymbolTable()
    head = sym("head", {"out": [{"name": "tial", "port": "in"}]})
    with caplog.at_level(logging.WARNING, "portflow.symbol"):
        await table.insert(sym("tail"), head)
    assert head.warnings == ["spec 'head' (kind k): ports.out[0].name: no spec named 'tial' in namespace "
                             "'default' (did you mean 'tail'?); inactive until it exists"]
    assert not head.loaded
    await table.insert(sym("tial"))
    assert head.warnings == [] and head.loaded
    await table.free("id-tial")  # the target goes away: the warning is back
    assert head.warnings and "no spec named 'tial'" in head.warnings[0]


async def test_an_out_port_the_node_lacks_and_targets_by_id():
    table = SymbolTable()
    a = sym("a", {"outt": [{"name": "b", "port": "in"}], "out": [{"id": "nope", "port": "in"}]})
    await table.insert(sym("b"), a)
    assert a.warnings == [
        "spec 'a' (kind k): ports.outt: kind k has no out-port 'outt' (did you mean 'out'?); "
        "its connections are ignored",
        "spec 'a' (kind k): ports.out[0].id: no spec with id 'nope' in namespace 'default'; inactive until it exists",
    ]


async def test_replacing_the_target_with_the_right_port_clears_the_warning():
    table = SymbolTable()
    a = sym("a", {"out": [{"name": "b", "port": "in[1]"}]})
    await table.insert(a, sym("b"))
    assert "has no in-port 'in[1]'" in a.warnings[0]
    from portflow.node import ManyToOne

    b2 = sym("b", node=ManyToOne())
    await table.insert(b2)
    assert a.warnings == []
