"""HTTP payloads: the map a request becomes, and how an answer becomes a response (reference §10).

A request payload is built as uniflow's listener builds it from Go's ``http.Request`` (the table of
each field's origin is ``docs/payload.md``): ``{method, host, path, query, protocol, header, body,
status: 0}``, ``host`` left out when empty (``scheme`` always, for a server request). ``query`` and
``header`` map a name to a list of values and are always there (``{}`` when empty); header names are in
Go's canonical form (``Content-Type``) and ``Host`` is not among them (Go moves it to ``host``). A
request sent without a ``Content-Type`` gets the type uniflow sniffs from its body written into
``header`` (``text/plain; charset=utf-8`` for no body at all, whose ``body`` is ``""``).

``response(payload, accept, accept_encoding)`` turns whatever the flow answered into
``(status, [(name, value)...], body)``, ready for ASGI. The common cases (a string, or a JSON map or list,
with no ``Accept-Encoding`` and no ``Accept`` or ``*/*``) take a short path with precomputed headers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

from . import mime

__all__ = [
    "request_payload", "response", "error_response", "split_payload", "REQUEST_ONLY_HEADERS", "HTTP_KEYS",
    "header_map", "header_map_text", "query_map", "text_pairs", "STATUS_TEXT", "EMPTY_BODY_TYPE",
]

#: Keys of the HTTP payload struct; a map answer with none of them is a body, not a response.
HTTP_KEYS = frozenset({"method", "scheme", "host", "path", "query", "protocol", "header", "body", "status"})

#: Request headers (and hop-by-hop headers) never copied into a response.
REQUEST_ONLY_HEADERS = frozenset(h.lower() for h in (
    "Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Datetime", "Authorization",
    "Cache-Control-Request", "Connection", "Content-Length", "Cookie", "Expect", "Forwarded", "From", "Host",
    "HTTP2-Settings", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
    "Keep-Alive", "Max-Forwards", "Origin", "Pragma", "Proxy-Authorization", "Proxy-Connection", "Range",
    "Referer", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent",
    "Via", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Real-Ip",
    "X-Requested-With", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
    "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol",
    "Access-Control-Request-Method", "Access-Control-Request-Headers", "DNT",
))

STATUS_TEXT = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 413: "Content Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}

_canonical = mime.canonical


def header_map(raw: list[tuple[bytes, bytes]] | Any) -> dict[str, list[str]]:
    """ASGI headers as ``{Canonical-Name: [values]}``."""
    out: dict[str, list[str]] = {}
    for name, value in raw:
        key = _canonical(name.decode("latin-1"))
        try:
            text = value.decode()
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        values = out.get(key)
        if values is None:
            out[key] = [text]
        else:
            values.append(text)
    return out


def header_map_text(raw: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Headers given as text pairs (RSGI's) as ``{Canonical-Name: [values]}``."""
    out: dict[str, list[str]] = {}
    for name, value in raw:
        key = _canonical(name)
        values = out.get(key)
        if values is None:
            out[key] = [value]
        else:
            values.append(value)
    return out


def query_map(query: bytes | str) -> dict[str, list[str]]:
    """A query string as Go's ``url.ParseQuery`` reads it: pairs split on ``&``, ``+`` is a space, a key
    without ``=`` has the value ``""``; a pair with a ``;`` or a bad ``%`` escape is dropped (Go skips it)."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    out: dict[str, list[str]] = {}
    for part in query.split("&"):
        if not part or ";" in part or _BAD_ESCAPE.search(part):
            continue
        key, _, value = part.partition("=")
        out.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return out


_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_PROTOCOLS = {"1.0": "HTTP/1.0", "1.1": "HTTP/1.1", "2": "HTTP/2.0", "3": "HTTP/3.0"}
#: The type uniflow sniffs for an empty body (Go's ``http.DetectContentType`` of nothing).
EMPTY_BODY_TYPE = "text/plain; charset=utf-8"


def request_payload(conn: Any, header: dict[str, list[str]], body: Any = None,
                    has_body: bool = False) -> dict[str, Any]:
    """The payload of an HTTP request, as uniflow builds it (see the module docstring). ``conn`` gives the
    request line (``method``, ``path``, ``query_string``, ``http_version``: a ``conn.Conn``); ``header``
    is its header map, whose ``Host`` moves to ``host`` and, for a request without a body or a
    ``Content-Type``, the type uniflow would sniff is written into it."""
    payload: dict[str, Any] = {"method": conn.method}
    host = header.pop("Host", None)
    if host:
        payload["host"] = host[0]
    payload["path"] = conn.path or "/"
    qs = conn.query_string
    payload["query"] = query_map(qs) if qs else {}
    version = conn.http_version
    payload["protocol"] = _PROTOCOLS.get(version) or "HTTP/" + version
    if not has_body:
        ctype = header.get("Content-Type")
        if ctype is None:
            header["Content-Type"] = [EMPTY_BODY_TYPE]
            body = ""
        else:
            try:
                body = mime.decode(b"", ctype[0])
            except mime.BodyError:
                body = None
    payload["header"] = header
    payload["body"] = body
    payload["status"] = 0
    return payload


# -- responses --------------------------------------------------------------------------------------------

class _Headers:
    """Precomputed headers of an answer of one content type, by its length (the first 1024 lengths seen)."""

    __slots__ = ("content_type", "by_length")

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type.encode("latin-1")
        self.by_length: dict[int, list[tuple[bytes, bytes]]] = {}

    def __call__(self, length: int) -> list[tuple[bytes, bytes]]:
        headers = self.by_length.get(length)
        if headers is None:
            headers = [(b"content-type", self.content_type), (b"content-length", str(length).encode())]
            if len(self.by_length) < 1024:
                self.by_length[length] = headers
                _TEXT_PAIRS[id(headers)] = _pairs(headers)
        return headers


#: The text form of each list a ``_Headers`` keeps, by the list's id (those lists are never freed, so their
#: ids stay theirs).
_TEXT_PAIRS: dict[int, list[tuple[str, str]]] = {}

_text_headers = _Headers(mime.TEXT_PLAIN_UTF8)
_json_headers = _Headers(mime.JSON_UTF8)


def _pairs(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def text_pairs(headers: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """An answer's headers as text pairs (RSGI's form); the precomputed ones are converted once."""
    found = _TEXT_PAIRS.get(id(headers))
    return found if found is not None else _pairs(headers)


def error_response(status: int, message: str | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = (message if message is not None else STATUS_TEXT.get(status, "Error")).encode()
    return status, _text_headers(len(body)), body


def split_payload(payload: Any) -> tuple[int, dict[str, list[str]], Any]:
    """``(status, header, body)`` of an answer, by uniflow's rules: a map with HTTP keys is a response
    (``status`` 0 meaning 200); anything else is the body of a 200."""
    if type(payload) is dict and not payload.keys().isdisjoint(HTTP_KEYS):
        status = payload.get("status") or 0
        try:
            status = int(status)
        except (TypeError, ValueError):
            status = 0
        header = payload.get("header")
        out: dict[str, list[str]] = {}
        if isinstance(header, dict):
            for k, v in header.items():
                out[_canonical(str(k))] = [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]
        return status or 200, out, payload.get("body")
    return 200, {}, payload


def response(payload: Any, accept: str | None = None, accept_encoding: str | None = None,
             head: bool = False) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``(status, headers, body)`` for what the flow answered (not for an error: see ``error_response``)."""
    if accept_encoding is None and (accept is None or accept == "*/*"):
        kind = type(payload)
        if kind is str:
            body = payload.encode()
            return 200, _text_headers(len(body)), b"" if head else body
        if kind is list or (kind is dict and payload.keys().isdisjoint(HTTP_KEYS)):  # a JSON body, as below
            body = mime.encode_json(payload)
            return 200, _json_headers(len(body)), b"" if head else body
    status, header, body = split_payload(payload)
    headers: list[tuple[bytes, bytes]] = []
    content_type = content_encoding = None
    for name, values in header.items():
        lower = name.lower()
        if lower in REQUEST_ONLY_HEADERS:
            continue
        if lower == "content-type":
            content_type = values[0] if values else None
            continue
        if lower == "content-encoding":
            content_encoding = values[0] if values else None
            continue
        bname = lower.encode("latin-1")
        for v in values:
            headers.append((bname, v.encode("latin-1", "replace")))
    if status in (204, 304) or (100 <= status < 200):
        return status, headers, b""
    content_type, data = mime.encode(body, content_type, accept)
    headers.append((b"content-type", content_type.encode("latin-1")))
    if content_encoding is None:
        encoding = mime.negotiate_encoding(accept_encoding)
        if encoding and data:
            data = mime.compress(data, encoding)
            headers.append((b"content-encoding", encoding.encode()))
            headers.append((b"vary", b"Accept-Encoding"))
    else:
        headers.append((b"content-encoding", content_encoding.encode("latin-1")))
    headers.append((b"content-length", str(len(data)).encode()))
    return status, headers, b"" if head else data
