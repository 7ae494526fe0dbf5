"""The plugin registers its kinds into a scheme of the caller's, and their specs decode and compile."""

from __future__ import annotations

import pytest

from portflow.errors import SpecError
from portflow.plugins.net import register
from portflow.plugins.net.router import Router
from portflow.scheme import Context, Scheme
from portflow.spec import read_documents


@pytest.fixture
def scheme():
    s = Scheme()
    register(s, None, None)
    return s


def test_kinds(scheme):
    assert {k.name for k in scheme.kinds()} == {"listener", "router", "http", "proxy", "gateway", "websocket"}
    assert all(k.plugin == "net" and k.example and k.ports for k in scheme.kinds())
    for kind in scheme.kinds():
        read_documents(kind.example)  # every example parses


def test_listener_spec_decodes_template_output(scheme):
    spec = scheme.decode({"kind": "listener", "name": "l", "port": "8000", "read_timeout": "2s"})
    assert spec.port == 8000 and spec.read_timeout == 2.0 and spec.max_body == 10 * 1024 * 1024 and spec.host == ""
    with pytest.raises(SpecError, match="port"):
        scheme.decode({"kind": "listener", "name": "l", "port": "<no value>"})


def test_router_compiles_and_validates_ports(scheme):
    ctx = Context(scheme=scheme)
    spec = scheme.decode({"kind": "router", "name": "r",
                          "routes": [{"method": "GET", "path": "ping", "port": "out[1]"}]})
    node = scheme.compile(spec, ctx)
    assert isinstance(node, Router) and len(node.out_ports) == 2
    assert node.tree.find("GET", "/ping").value == 1  # the leading slash is added
    bad = scheme.decode({"kind": "router", "name": "r", "routes": [{"method": "GET", "path": "/", "port": "in"}]})
    with pytest.raises(SpecError, match=r"routes\[0\]\.port"):
        scheme.compile(bad, ctx)


async def test_router_echoes_non_maps_and_adds_params():
    from portflow.packet import Packet
    from portflow.process import Process

    router = Router([("GET", "/u/:id", 0)])
    proc = Process()
    assert (await router.in_port.handler(proc, Packet("x"))).payload == "x"
    out = (await router.in_port.handler(proc, Packet({"method": "GET", "path": "/u/7"}))).payload
    assert out == {"method": "GET", "path": "/u/7", "params": {"id": "7"}}
    miss = (await router.in_port.handler(proc, Packet({"method": "GET", "path": "/x"}))).payload
    assert miss == {"status": 404, "body": "Not Found", "header": {}}
    await proc.exit()
