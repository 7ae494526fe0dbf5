"""Request payloads and response conversion."""

from __future__ import annotations

import gzip

from portflow.errors import FlowError
from portflow.plugins.net.conn import AsgiConn
from portflow.plugins.net.payload import (
    error_response,
    header_map,
    query_map,
    request_payload,
    response,
    split_payload,
)


def scope(**kw):
    base = {"type": "http", "method": "GET", "path": "/ping", "query_string": b"", "http_version": "1.1",
            "headers": [(b"host", b"example.com")]}
    base.update(kw)
    return base


def conn(s):
    return AsgiConn(s, None, None)


def test_request_payload_without_a_body_is_uniflows():
    s = scope()
    payload = request_payload(conn(s), header_map(s["headers"]))
    # Host moves out of the header map; the empty body is "" and its sniffed type is written into the header
    assert payload == {"method": "GET", "host": "example.com", "path": "/ping", "query": {},
                       "protocol": "HTTP/1.1", "header": {"Content-Type": ["text/plain; charset=utf-8"]},
                       "body": "", "status": 0}


def test_request_payload_protocol_names_are_gos():
    assert request_payload(conn(scope(http_version="2")), {})["protocol"] == "HTTP/2.0"
    assert request_payload(conn(scope(http_version="1.0")), {})["protocol"] == "HTTP/1.0"


def test_query_is_parsed_as_gos_parse_query():
    assert query_map("a=1&a=2&b=&c&d=x+y&e=%41&&f;g=1&h=%zz&i=%e2%82%ac") == {
        "a": ["1", "2"], "b": [""], "c": [""], "d": ["x y"], "e": ["A"], "i": ["€"]}


def test_request_payload_query_header_body():
    s = scope(method="POST", query_string=b"a=1&a=2&b=", headers=[(b"content-type", b"text/plain"),
                                                                  (b"x-a", b"1"), (b"x-a", b"2")])
    payload = request_payload(conn(s), header_map(s["headers"]), "hi", True)
    assert payload["query"] == {"a": ["1", "2"], "b": [""]}
    assert payload["header"] == {"Content-Type": ["text/plain"], "X-A": ["1", "2"]}
    assert payload["body"] == "hi"


def test_header_values_that_are_not_utf8():
    assert header_map([(b"x-a", b"caf\xe9")]) == {"X-A": ["caf\xe9"]}


def headers_of(result):
    return {k.decode(): v.decode() for k, v in result[1]}


def test_string_fast_path():
    status, headers, body = response("pong")
    assert (status, body) == (200, b"pong")
    assert headers_of((status, headers, body)) == {"content-type": "text/plain; charset=utf-8", "content-length": "4"}


def test_json_fast_path_answers_as_the_negotiated_path_does():
    # a map without HTTP keys or a list, no Accept-Encoding and no Accept (or */*): precomputed headers; the
    # same answer as when Accept names JSON and the answer goes through negotiation
    for body in ({"greeting": "hi", "n": 42.0, "tags": ["X"]}, {}, [1.5, 2.0, None], [], {"e": FlowError("no")}):
        for accept in (None, "*/*"):
            fast = response(body, accept)
            assert fast == response(body, "application/json"), (body, accept)
            assert fast[1] == [(b"content-type", b"application/json; charset=utf-8"),
                               (b"content-length", str(len(fast[2])).encode())]
        assert response(body, None, None, head=True) == (200, fast[1], b"")
    assert response({"n": 2.0})[2] == b'{"n":2}\n'
    assert response({"status": 201, "body": [1]})[0] == 201  # an HTTP map still takes the full path
    assert response({"n": 1}, "application/xml")[1][0] == (b"content-type", b"application/xml")
    assert response([1], None, "gzip")[1][-3:-1] == [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]


def test_a_null_payload_is_a_json_null():
    assert response(None) == (200, [(b"content-type", b"application/json; charset=utf-8"),
                                    (b"content-length", b"5")], b"null\n")


def test_http_payload_map():
    status, headers, body = response({"status": 201, "header": {"x-id": "7", "Set-Cookie": ["a=1", "b=2"]},
                                      "body": {"id": 7}})
    assert status == 201
    assert body == b'{"id":7}\n'
    assert (b"set-cookie", b"a=1") in headers and (b"set-cookie", b"b=2") in headers
    assert headers_of((status, headers, body))["x-id"] == "7"


def test_status_zero_is_200_and_request_only_headers_are_dropped():
    status, headers, _body = response({"status": 0, "header": {"Host": ["x"], "Accept": ["*/*"], "Cookie": ["c"],
                                                              "X-Forwarded-For": ["1.2.3.4"], "X-Ok": ["1"]},
                                      "body": "hi"})
    names = {k for k, _ in headers}
    assert status == 200
    assert names == {b"x-ok", b"content-type", b"content-length"}


def test_map_without_body_is_null():
    assert response({"status": 200})[2] == b"null\n"


def test_map_without_http_keys_is_the_body():
    assert response({"hello": "world"})[2] == b'{"hello":"world"}\n'


def test_non_maps_are_bodies():
    assert split_payload([1, 2]) == (200, {}, [1, 2])
    assert response(3.5, accept="text/plain")[2] == b"3.5"


def test_negotiation_and_compression():
    status, headers, body = response({"body": "x" * 100}, accept="*/*", accept_encoding="gzip;q=1, br;q=0.5")
    h = headers_of((status, headers, body))
    assert h["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"x" * 100
    assert h["content-length"] == str(len(body))


def test_explicit_content_type_and_encoding_are_kept():
    status, headers, body = response({"header": {"Content-Type": "application/json"}, "body": {"a": 1}},
                                     accept_encoding="gzip")
    h = headers_of((status, headers, body))
    assert h["content-type"] == "application/json"
    assert gzip.decompress(body) == b'{"a":1}\n'


def test_no_body_statuses():
    assert response({"status": 204, "body": "ignored"})[2] == b""


def test_head_has_no_body():
    status, headers, body = response("pong", head=True)
    assert body == b"" and headers_of((status, headers, body))["content-length"] == "4"


def test_error_response():
    assert error_response(500)[2] == b"Internal Server Error"
    assert error_response(400, "bad")[2] == b"bad"


def test_error_body_is_its_message():
    # an error offers JSON, XML, form, multipart (reference §10): as JSON it is its message string
    assert response({"status": 500, "body": FlowError("boom")}, accept="text/plain")[2] == b'"boom"\n'
