"""Bodies: decode, encode, negotiation, compression (pure functions)."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from portflow.plugins.net import mime


@pytest.mark.parametrize(("name", "expected"), [
    ("content-type", "Content-Type"), ("x-forwarded-for", "X-Forwarded-For"), ("HOST", "Host"), ("te", "Te"),
])
def test_canonical(name, expected):
    assert mime.canonical(name) == expected


def test_media_type():
    assert mime.media_type('Text/Plain; charset="UTF-8"') == ("text/plain", {"charset": "UTF-8"})
    assert mime.media_type(None) == ("", {})


def test_parse_accept_orders_by_q_then_position():
    assert mime.parse_accept("text/html;q=0.5, application/json, */*;q=0.1") == [
        ("application/json", 1.0), ("text/html", 0.5), ("*/*", 0.1)]
    assert mime.parse_accept("a;q=bad") == [("a", 0.0)]


@pytest.mark.parametrize(("accept", "offers", "expected"), [
    (None, ["text/plain", "application/json"], "text/plain"),
    ("application/json", ["text/plain", "application/json"], "application/json"),
    ("*/*", ["text/plain", "application/json"], "text/plain"),
    ("application/*", ["text/plain", "application/json"], "application/json"),
    ("text/plain;q=0.2, application/json;q=0.9", ["text/plain", "application/json"], "application/json"),
    ("text/*;q=0.1, text/plain;q=0", ["text/plain", "text/html"], "text/html"),
    ("image/png", ["text/plain"], None),
    ("application/json", ["application/json; charset=utf-8"], "application/json; charset=utf-8"),
])
def test_negotiate(accept, offers, expected):
    assert mime.negotiate(accept, offers) == expected


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("", None), ("gzip", "gzip"), ("br;q=1, gzip;q=0.5", "br"), ("identity", None),
    ("deflate, gzip;q=0.1", "deflate"), ("gzip;q=0", None), ("*", None),
])
def test_negotiate_encoding(header, expected):
    assert mime.negotiate_encoding(header) == expected


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compress_roundtrip(encoding):
    data = b"hello " * 100
    assert mime.decompress(mime.compress(data, encoding), encoding) == data


def test_decompress_variants_and_limits():
    data = b"x" * 1000
    assert mime.decompress(gzip.compress(data), "gzip") == data
    assert mime.decompress(zlib.compress(data), "deflate") == data
    raw = zlib.compressobj(wbits=-15)
    assert mime.decompress(raw.compress(data) + raw.flush(), "deflate") == data  # raw DEFLATE too
    assert mime.decompress(brotli.compress(data), "br") == data
    assert mime.decompress(gzip.compress(brotli.compress(data)), "br, gzip") == data
    with pytest.raises(mime.BodyError) as info:
        mime.decompress(gzip.compress(data), "gzip", limit=100)
    assert info.value.status == 413
    with pytest.raises(mime.BodyError) as info:
        mime.decompress(b"not gzip", "gzip")
    assert info.value.status == 400
    with pytest.raises(mime.BodyError) as info:
        mime.decompress(data, "zstd-unknown")
    assert info.value.status == 415


def test_decode_by_type():
    assert mime.decode(b'{"a": [1, 2]}', "application/json") == {"a": [1, 2]}
    assert mime.decode(b'{"a": 1}', "application/problem+json") == {"a": 1}
    assert mime.decode(b"a=1&a=2&b=", "application/x-www-form-urlencoded") == {"a": ["1", "2"], "b": [""]}
    assert mime.decode(b"hello", "text/plain; charset=utf-8") == "hello"
    assert mime.decode("h\xe9".encode("latin-1"), "text/plain; charset=latin-1") == "h\xe9"
    assert mime.decode(b"\x00\x01", "application/octet-stream") == b"\x00\x01"


def test_decode_bad_json_is_a_400():
    with pytest.raises(mime.BodyError) as info:
        mime.decode(b"{not json", "application/json")
    assert info.value.status == 400
    assert "invalid JSON" in str(info.value)


def test_text_that_is_not_utf8_stays_bytes():
    assert mime.decode(b"\xff\xfe\xfa", "text/plain") == b"\xff\xfe\xfa"
    assert mime.decode(b"\xff\xfe\xfa", None) == b"\xff\xfe\xfa"


@pytest.mark.parametrize(("data", "expected"), [
    (b'{"a":1}', {"a": 1}), (b"[1,2]", [1, 2]), (b"42", 42), (b"a=1&b=2", {"a": ["1"], "b": ["2"]}),
    (b"<a>1</a>", b"<a>1</a>"), (b"hello world", "hello world"), (b"", ""), (b"\x00\x01\x02", b"\x00\x01\x02"),
])
def test_decode_sniffs_without_content_type(data, expected):
    assert mime.decode(data, None) == expected


def test_multipart_roundtrip():
    body = {"values": {"name": ["Ann"]}, "files": {"doc": [{"filename": "a.txt", "data": "hi"}]}}
    ctype, data = mime.encode(body, "multipart/form-data")
    assert ctype.startswith("multipart/form-data; boundary=")
    decoded = mime.decode(data, ctype)
    assert decoded["values"] == {"name": ["Ann"]}
    (f,) = decoded["files"]["doc"]
    assert f["filename"] == "a.txt" and f["data"] == "hi" and f["size"] == 2
    assert f["header"]["Content-Type"] == ["text/plain; charset=utf-8"]


def test_multipart_without_boundary():
    with pytest.raises(mime.BodyError):
        mime.decode(b"x", "multipart/form-data")


@pytest.mark.parametrize(("body", "accept", "ctype", "data"), [
    ("pong", None, "text/plain; charset=utf-8", b"pong"),
    ("pong", "application/json", "application/json; charset=utf-8", b'"pong"\n'),
    ({"a": 1}, None, "application/json; charset=utf-8", b'{"a":1}\n'),
    ([1, 2], None, "application/json; charset=utf-8", b"[1,2]\n"),
    (b"\x00", None, "application/octet-stream", b"\x00"),
    (42, None, "application/json; charset=utf-8", b"42\n"),
    (42, "text/plain", "text/plain; charset=utf-8", b"42"),
    (None, None, "application/json; charset=utf-8", b"null\n"),
    ({"a": ["1", "2"]}, "application/x-www-form-urlencoded", "application/x-www-form-urlencoded", b"a=1&a=2"),
])
def test_encode_negotiates_by_body_kind(body, accept, ctype, data):
    assert mime.encode(body, None, accept) == (ctype, data)


def test_encode_xml():
    ctype, data = mime.encode({"a": {"b": 1}}, None, "application/xml")
    assert ctype == "application/xml"
    assert b"<root><a><b>1</b></a></root>" in data


def test_sniffing_an_xml_body_never_expands_entities():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                         for i in range(1, 10))
              + b"]><lolz>&lol9;</lolz>")
    assert mime.detect(laughs) != mime.APPLICATION_XML  # refused by the parser, never expanded
    assert mime.detect(b"<a><b>1</b></a>") == mime.APPLICATION_XML


def test_decode_reads_each_content_type_alike_when_it_comes_again():
    for _ in range(2):  # the second time from the remembered parse
        assert mime.decode("h\xe9".encode("latin-1"), "Text/Plain; Charset=latin-1") == "h\xe9"
        assert mime.decode("h\xe9".encode(), "text/plain; charset=utf-8") == "h\xe9"
        assert mime.decode(b"a=1", 'application/x-www-form-urlencoded; charset="utf-8"') == {"a": ["1"]}
        assert mime.decode(b'{"a": 1}', "") == {"a": 1.0}
        with pytest.raises(mime.BodyError, match="boundary"):
            mime.decode(b"--x--", "multipart/form-data")
