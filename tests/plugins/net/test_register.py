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
    assert node.tree.find("GET", "/ping").value == (1, "/ping")  # out[1], the pattern; the leading slash added
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


def test_fields_declare_their_bounds_which_decoding_checks(scheme):
    with pytest.raises(SpecError) as info:
        scheme.decode({"kind": "listener", "name": "l", "port": 70000, "protocol": "tcp", "max_body": 0,
                       "read_timeout": "0s", "idle_timeout": "-1s", "max_connections": 0})
    assert str(info.value) == (
        "spec 'l' (kind listener): protocol: invalid enum value 'tcp'; port: expected int <= 65535, got 70000; "
        "max_body: expected int >= 1, got 0; read_timeout: expected a duration > 0s, got 0s; "
        "idle_timeout: expected a duration > 0s, got -1s; max_connections: expected int >= 1, got 0")
    for doc, text in (
        ({"kind": "router", "name": "r", "routes": [{"method": "", "port": "out[0]"}]},
         "spec 'r' (kind router): routes[0].method: expected str of length >= 1"),
        ({"kind": "proxy", "name": "p", "urls": []}, "spec 'p' (kind proxy): urls: expected array of length >= 1, got []"),
        ({"kind": "gateway", "name": "g", "protocol": "ws"}, "spec 'g' (kind gateway): protocol: invalid enum value 'ws'"),
        ({"kind": "http", "name": "h", "timeout": "-1s"}, "spec 'h' (kind http): timeout: expected a duration >= 0s, got -1s"),
        ({"kind": "websocket", "name": "w", "url": "ws://x", "timeout": -5},
         "spec 'w' (kind websocket): timeout: expected a duration >= 0s, got -5ms"),
    ):
        with pytest.raises(SpecError) as info:
            scheme.decode(doc)
        assert str(info.value) == text
    spec = scheme.decode({"kind": "listener", "name": "l", "port": 0, "idle_timeout": "5s"})
    assert spec.port == 0 and spec.idle_timeout == 5.0


def test_explain_and_the_schema_show_what_the_fields_declare(scheme):
    fields = {(k.name, f["name"]): f for k in scheme.kinds() for f in scheme.fields(k.name, nested=True)}
    assert [name for name, f in fields.items() if not f["description"]] == []
    assert fields["listener", "port"]["constraints"] == ">= 0, <= 65535"
    assert fields["listener", "port"]["description"] == "the TCP port (0: any free one)"
    assert fields["listener", "read_timeout"]["constraints"] == "> 0s"
    assert fields["listener", "protocol"]["type"] == "'http'"
    assert fields["router", "routes[].method"]["constraints"] == "length >= 1"
    props = scheme.json_schema("listener")["$defs"]["ListenerSpec"]["properties"]
    assert props["port"]["minimum"] == 0 and props["port"]["maximum"] == 65535 and props["max_body"]["minimum"] == 1
    assert props["protocol"]["enum"] == ["http"]


def test_codecs_name_spec_and_field(scheme):
    ctx = Context(scheme=scheme)
    for doc, text in (
        ({"kind": "http", "name": "h", "url": "ftp://x"}, "spec 'h' (kind http): url: 'ftp://x' is not an http(s) URL"),
        ({"kind": "proxy", "name": "p", "urls": ["http://a", "x"]},
         "spec 'p' (kind proxy): urls[1]: 'x' is not an http(s) URL"),
        ({"kind": "websocket", "name": "w", "url": "x"}, "spec 'w' (kind websocket): url: 'x' is not a ws(s) URL"),
        ({"kind": "router", "name": "r", "routes": [{"method": "GET", "port": "error"}]},
         "spec 'r' (kind router): routes[0].port: must be out[N], got 'error'"),
    ):
        with pytest.raises(SpecError) as info:
            scheme.compile(scheme.decode(doc), ctx)
        assert str(info.value) == text and info.value.subject == text.split(": ")[0]


def test_nodes_declare_their_port_tables():
    from portflow.plugins.net.listener import Listener
    from portflow.plugins.net.websocket import Gateway, WebSocketClient

    listener = Listener()
    assert listener.outport("out") is listener.outport("out[0]") is listener.out_port
    assert listener.outport("error") is listener.error_port and listener.outport("out[1]") is None
    for node in (Gateway(), WebSocketClient("ws://x")):
        assert node.inport("io") is node.io_port and node.inport("in") is node.in_port and node.inport("x") is None
        assert node.outport("out[0]") is node.out_port and node.outport("error") is node.error_port
