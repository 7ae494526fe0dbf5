"""The listener's request payload field by field, as uniflow's listener builds it from Go's http.Request
(docs/payload.md), seen by a flow over a real socket: the flow answers the payload it got as JSON."""

from __future__ import annotations

import json

import pytest

from .conftest import raw_request

ECHO = """
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  env:
    PORT:
      data: '{{ .PORT }}'
  ports:
    out:
      - name: echo
        port: in
- kind: snippet
  name: echo
  language: javascript
  code: |
    export default function (args) {
      return { body: args, header: { "Content-Type": "application/json" } };
    }
"""


@pytest.fixture(params=["granian", "uvicorn"])
async def port(request, flow) -> int:
    runtime = await flow(ECHO, environment={"PORT": "0"}, settings={"listener_server": request.param})
    listener = runtime.table.lookup("default", "listener")
    assert listener is not None and listener.loaded, listener
    return listener.node.port


async def payload_of(port: int, head: str, body: bytes = b"") -> dict:
    raw = await raw_request(port, head.replace("\n", "\r\n").encode() + b"Connection: close\r\n\r\n" + body)
    status, _, rest = raw.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 200"), raw[:300]
    text = rest.split(b"\r\n\r\n", 1)[1]
    return json.loads(text)


async def test_a_request_without_a_body(port):
    got = await payload_of(port, f"GET /a/b%20c?x=1&x=2&y HTTP/1.1\nHost: 127.0.0.1:{port}\nX-My-Host: kept\n")
    assert got == {
        "method": "GET",
        "host": f"127.0.0.1:{port}",  # Go moves Host out of the header map into host
        "path": "/a/b c",  # decoded, as r.URL.Path
        "query": {"x": ["1", "2"], "y": [""]},
        "protocol": "HTTP/1.1",
        "header": {"X-My-Host": ["kept"], "Connection": ["close"],
                   "Content-Type": ["text/plain; charset=utf-8"]},  # what uniflow sniffs for no body
        "body": "",
        "status": 0,
    }


async def test_no_query_is_an_empty_map(port):
    got = await payload_of(port, f"GET / HTTP/1.1\nHost: h:{port}\n")
    assert got["query"] == {} and got["path"] == "/"


@pytest.mark.parametrize(("data", "ctype", "body"), [
    (b'{"n": 1, "m": [2.5]}', "application/json; charset=utf-8", {"n": 1, "m": [2.5]}),
    (b"a=1&b=x+y&a=2", "application/x-www-form-urlencoded", {"a": ["1", "2"], "b": ["x y"]}),
    (b"hello there", "text/plain; charset=utf-8", "hello there"),
])
async def test_a_body_without_a_content_type_is_sniffed_and_the_type_written_into_the_header(port, data, ctype,
                                                                                              body):
    got = await payload_of(port, f"POST /in HTTP/1.1\nHost: h\nContent-Length: {len(data)}\n", data)
    assert got["header"]["Content-Type"] == [ctype]
    assert got["body"] == body


async def test_a_given_content_type_is_kept_and_used(port):
    data = b"[1,2]"
    got = await payload_of(port, "POST / HTTP/1.1\nHost: h\nContent-Type: text/plain\nContent-Length: 5\n", data)
    assert got["header"]["Content-Type"] == ["text/plain"] and got["body"] == "[1,2]"
