"""Bodies and their media types: decode, encode, negotiate, compress. Pure functions, no I/O.

The rules are uniflow's (reference §10): a request body is decoded by its ``Content-Type`` after its
``Content-Encoding`` is undone; a response body is encoded by the type negotiated from ``Accept`` and the
body's kind, then compressed by the encoding negotiated from ``Accept-Encoding``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree  # building answers only; request bodies are parsed by defusedxml

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_untrusted_xml

from ...gotypes import doubles, go_float, integral

__all__ = [
    "TEXT_PLAIN", "APPLICATION_JSON", "TEXT_PLAIN_UTF8", "JSON_UTF8", "APPLICATION_FORM", "MULTIPART_FORM",
    "APPLICATION_OCTET", "APPLICATION_XML", "BodyError", "canonical", "media_type", "parse_accept", "negotiate", "offers",
    "decode", "encode", "sniff", "compress", "decompress", "ENCODINGS", "detect", "decode_json", "MAX_JSON_DEPTH", "decode_text",
]

TEXT_PLAIN = "text/plain"
APPLICATION_JSON = "application/json"
APPLICATION_FORM = "application/x-www-form-urlencoded"
MULTIPART_FORM = "multipart/form-data"
APPLICATION_OCTET = "application/octet-stream"
APPLICATION_XML = "application/xml"

ENCODINGS = ("identity", "gzip", "deflate", "br")


class BodyError(ValueError):
    """A body that does not decode as its declared type; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# -- header names ---------------------------------------------------------------------------------

_CANONICAL: dict[str, str] = {}


def canonical(name: str) -> str:
    """Go's canonical MIME header key: ``content-type`` -> ``Content-Type``."""
    key = _CANONICAL.get(name)
    if key is None:
        key = "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
        if len(_CANONICAL) < 4096:
            _CANONICAL[name] = key
    return key


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``'Text/Plain; charset=UTF-8'`` -> ``('text/plain', {'charset': 'UTF-8'})``."""
    if not value:
        return "", {}
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    if rest:
        for part in rest.split(";"):
            k, eq, v = part.strip().partition("=")
            if eq:
                params[k.strip().lower()] = v.strip().strip('"')
    return head.strip().lower(), params


# -- negotiation ------------------------------------------------------------------------------------

def parse_accept(value: str | None) -> list[tuple[str, float]]:
    """An ``Accept``-style header as ``[(item, q)]``, best first (stable for equal q)."""
    if not value:
        return []
    items: list[tuple[str, float, int]] = []
    for i, part in enumerate(value.split(",")):
        item, _, params = part.partition(";")
        item = item.strip().lower()
        if not item:
            continue
        q = 1.0
        for p in params.split(";"):
            k, eq, v = p.strip().partition("=")
            if eq and k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        items.append((item, q, i))
    items.sort(key=lambda t: (-t[1], t[2]))
    return [(item, q) for item, q, _ in items]


def _matches(pattern: str, offer: str) -> int:
    """How specifically ``pattern`` (from Accept) matches ``offer``: 3 exact, 2 type/*, 1 */*, 0 no."""
    if pattern == offer:
        return 3
    if pattern == "*/*" or pattern == "*":
        return 1
    if pattern.endswith("/*") and offer.startswith(pattern[:-1]):
        return 2
    return 0


def negotiate(header: str | None, available: Sequence[str]) -> str | None:
    """The offer the client prefers by ``header`` (q-values, wildcards). No header: the first offer.
    Nothing acceptable: ``None``."""
    if not available:
        return None
    if not header:
        return available[0]
    accepted = parse_accept(header)
    best: str | None = None
    best_key = (0.0, 0, 0)
    for index, offer in enumerate(available):
        base = media_type(offer)[0] if "/" in offer else offer.lower()
        q, spec = -1.0, 0
        for pattern, pq in accepted:
            s = _matches(pattern, base)
            if s > spec:  # the most specific matching pattern decides the offer's q
                spec, q = s, pq
        if spec and q > 0:
            key = (q, spec, -index)
            if best is None or key > best_key:
                best, best_key = offer, key
    return best


def negotiate_encoding(header: str | None) -> str | None:
    """The ``Content-Encoding`` to use for ``Accept-Encoding`` (``None``: identity)."""
    if not header:
        return None
    choice = negotiate(header, ("identity", "gzip", "deflate", "br"))
    if choice is None or choice == "identity":
        return None
    return choice


TEXT_PLAIN_UTF8 = _TEXT = "text/plain; charset=utf-8"
JSON_UTF8 = _JSON = "application/json; charset=utf-8"
_OFFERS_STR = (_TEXT, APPLICATION_OCTET, _JSON, APPLICATION_XML, APPLICATION_FORM, MULTIPART_FORM)
_OFFERS_BYTES = (APPLICATION_OCTET,)
_OFFERS_LIST = (_JSON, APPLICATION_XML, APPLICATION_FORM)
_OFFERS_MAP = (_JSON, APPLICATION_XML, APPLICATION_FORM, MULTIPART_FORM)
_OFFERS_OTHER = (_JSON, APPLICATION_XML, _TEXT, APPLICATION_OCTET)


def offers(body: Any) -> tuple[str, ...]:
    """The content types a body of this kind can be written as, the natural one first."""
    if isinstance(body, str):
        return _OFFERS_STR
    if isinstance(body, (bytes, bytearray, memoryview)):
        return _OFFERS_BYTES
    if isinstance(body, (list, tuple)):
        return _OFFERS_LIST
    if isinstance(body, (dict, BaseException)):
        return _OFFERS_MAP
    return _OFFERS_OTHER


# -- compression ------------------------------------------------------------------------------------

def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data, 6)
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=4)
    if encoding in ("identity", ""):
        return data
    raise BodyError(f"unsupported content encoding {encoding!r}", 415)


def decompress(data: bytes, header: str | None, limit: int | None = None) -> bytes:
    """Undo ``Content-Encoding`` (a comma list, applied in order, undone in reverse). Output over
    ``limit`` bytes raises ``BodyError`` 413; a corrupt stream raises ``BodyError`` 400."""
    from .decoding import decompress

    return decompress(data, header, limit)


# -- decoding -----------------------------------------------------------------------------------------

_json_decode = msgspec.json.Decoder().decode

#: How deep a JSON body may nest: flows walk payloads recursively, so deeper is refused with a 400.
MAX_JSON_DEPTH = 200
_JSON_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(data: bytes) -> int:
    """How deep ``data`` nests arrays and objects (strings skipped)."""
    depth = deepest = 0
    for match in _JSON_NESTING.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def decode_json(data: bytes) -> Any:
    """A JSON body as a value. Raises ``BodyError`` for JSON that is not JSON or nests too deep."""
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        raise BodyError(f"JSON body nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return doubles(_json_decode(data))  # numbers are float64, as Go decodes JSON into ``any``
    except msgspec.DecodeError as exc:
        raise BodyError(f"invalid JSON body: {str(exc)[:120]}") from None
    except ValueError as exc:  # a number past float64's range
        raise BodyError(f"invalid JSON body: {exc}") from None
    except RecursionError:
        raise BodyError(f"JSON body nested deeper than {MAX_JSON_DEPTH} levels") from None


def decode_text(data: bytes, charset: str | None) -> str | bytes:
    """Text in its charset; bytes that are not valid text stay bytes (never a crash)."""
    try:
        return data.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return data


def _form(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(text, keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


def decode(data: bytes, content_type: str | None) -> Any:
    """A body as a value by its media type (reference §10). Raises ``BodyError`` for JSON that is not JSON."""
    if content_type == APPLICATION_JSON:  # the common case, without parsing the header
        return decode_json(data) if data.strip() else None
    mtype, charset, boundary = _decode_type(content_type)
    if not mtype:
        mtype = detect(data)
        if mtype == APPLICATION_XML:
            return data
    if mtype == APPLICATION_JSON or (mtype.startswith("application/") and mtype.endswith("+json")):
        if not data.strip():
            return None
        return decode_json(data)
    if mtype == APPLICATION_FORM:
        text = decode_text(data, charset)
        return _form(text) if isinstance(text, str) else text
    if mtype == TEXT_PLAIN:
        return decode_text(data, charset)
    if mtype == MULTIPART_FORM:
        if not boundary:
            raise BodyError("multipart body without a boundary")
        return decode_multipart(data, boundary)
    return data


_DECODE_TYPES: dict[str, tuple[str, str | None, str | None]] = {}


def _decode_type(content_type: str | None) -> tuple[str, str | None, str | None]:
    """``(media type, charset, boundary)`` of a request's ``Content-Type`` (``media_type``); recent ones are
    remembered (clients send the same few)."""
    if not content_type:
        return "", None, None
    found = _DECODE_TYPES.get(content_type)
    if found is None:
        mtype, params = media_type(content_type)
        found = (mtype, params.get("charset"), params.get("boundary"))
        if len(_DECODE_TYPES) >= 1024:
            _DECODE_TYPES.clear()
        _DECODE_TYPES[content_type] = found
    return found


_FORM_LIKE = re.compile(rb"^[^\s=&]+=[^\s&]*(?:&[^\s=&]+=?[^\s&]*)*$")


def detect(data: bytes) -> str:
    """A media type for a body sent without one: JSON if it parses, XML if it parses, a form if it looks
    like ``a=1&b=2``, text if it is UTF-8 without control bytes, else octet-stream."""
    stripped = data.strip()
    if not stripped:
        return TEXT_PLAIN
    first = stripped[:1]
    if first in b'{["-0123456789tfn':
        try:
            _json_decode(stripped)
            return APPLICATION_JSON
        except msgspec.DecodeError:
            pass
    if first == b"<":
        try:
            parse_untrusted_xml(stripped)  # no DTDs, entities or external references
            return APPLICATION_XML
        except (ElementTree.ParseError, DefusedXmlException):
            pass
    if _FORM_LIKE.match(stripped):
        return APPLICATION_FORM
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return APPLICATION_OCTET
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:512]):
        return APPLICATION_OCTET
    return TEXT_PLAIN


_SNIFFED = {APPLICATION_JSON: "application/json; charset=utf-8", APPLICATION_XML: "application/xml; charset=utf-8",
            TEXT_PLAIN: "text/plain; charset=utf-8"}


def sniff(data: bytes) -> str:
    """The ``Content-Type`` uniflow writes into a request that came without one: ``detect``'s media type
    with Go's parameters (``application/json; charset=utf-8``, ``application/x-www-form-urlencoded``)."""
    mtype = detect(data)
    return _SNIFFED.get(mtype, mtype)


def decode_multipart(data: bytes, boundary: str) -> dict[str, Any]:
    """``{values: {k: [v]}, files: {field: [{filename, header, size, data}]}}`` (see ``multipart``)."""
    from .multipart import decode_multipart

    return decode_multipart(data, boundary)


# -- encoding -----------------------------------------------------------------------------------------

def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseException):
        return str(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


_json_encoder = msgspec.json.Encoder(enc_hook=_json_default)


def _to_text(value: Any) -> str:
    """Like Go's ``fmt.Sprint`` for the values a payload holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, BaseException):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(integral(value), default=_json_default, ensure_ascii=False)
    return str(value)


def may_hold_whole_float(data: bytes) -> bool:
    """Whether msgspec's JSON ``data`` may hold a whole float that Go writes as an integer: each one in
    (-1e21, 1e21) is written ``N.0`` below 1e16 and ``Ne16``..``Ne20`` above. Three substring scans (text may
    match too: then the exact walk, ``integral``, decides); a regex over the text cost several times the
    encoding."""
    return b".0" in data or b"e1" in data or b"e2" in data




def encode_json(value: Any) -> bytes:
    """JSON with a trailing newline, as Go's encoder writes it (whole floats as integers: ``1.0`` -> ``1``)."""
    if isinstance(value, BaseException):
        value = str(value)
    try:
        data = _json_encoder.encode(value)
        if may_hold_whole_float(data):  # perhaps a whole float (``2.0``, ``1e20``): write it as Go does
            data = _json_encoder.encode(integral(value))
        return data + b"\n"
    except (TypeError, msgspec.EncodeError):
        return json.dumps(integral(value), default=_json_default, ensure_ascii=False).encode() + b"\n"


def _form_pairs(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        raise BodyError(f"cannot encode {type(value).__name__} as a form", 500)
    pairs: list[tuple[str, str]] = []
    for k, v in value.items():
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            pairs.append((str(k), _to_text(item)))
    return pairs


def encode_multipart(value: Any, boundary: str) -> bytes:
    """Map fields as parts; ``values``/``files`` keys keep their structured meaning."""
    if not isinstance(value, Mapping):
        raise BodyError(f"cannot encode {type(value).__name__} as multipart", 500)
    out = bytearray()
    b = boundary.encode()

    def part(headers: list[tuple[str, str]], body: bytes) -> None:
        out.extend(b"--" + b + b"\r\n")
        for k, v in headers:
            out.extend(f"{k}: {v}\r\n".encode())
        out.extend(b"\r\n" + body + b"\r\n")

    def field(name: str, v: Any) -> None:
        for item in (v if isinstance(v, (list, tuple)) else [v]):
            part([("Content-Disposition", f'form-data; name="{name}"')], _to_text(item).encode())

    for key, v in value.items():
        if key == "values" and isinstance(v, Mapping):
            for name, items in v.items():
                field(str(name), items)
        elif key == "files" and isinstance(v, Mapping):
            for name, items in v.items():
                for f in (items if isinstance(items, (list, tuple)) else [items]):
                    if not isinstance(f, Mapping):
                        continue
                    data = f.get("data")
                    ctype, payload = encode(data, None)
                    headers = [("Content-Disposition",
                                f'form-data; name="{name}"; filename="{f.get("filename", "")}"'),
                               ("Content-Type", ctype)]
                    part(headers, payload)
        else:
            field(str(key), v)
    out.extend(b"--" + b + b"--\r\n")
    return bytes(out)


def encode(body: Any, content_type: str | None, accept: str | None = None) -> tuple[str, bytes]:
    """``(content_type, bytes)`` for a body: ``content_type`` if given, else negotiated from ``accept``."""
    if not content_type:
        available = offers(body)
        content_type = negotiate(accept, available) or available[0]
    if isinstance(body, (bytes, bytearray, memoryview)):
        return content_type, bytes(body)  # bytes are a body already encoded (a proxied response, a file)
    if content_type is _JSON:  # negotiated: the common case, without parsing it again
        return content_type, encode_json(body)
    mtype, params = media_type(content_type)
    if mtype == APPLICATION_JSON or mtype.endswith("+json"):
        return content_type, encode_json(body)
    if mtype == APPLICATION_FORM:
        return content_type, urlencode(_form_pairs(body)).encode()
    if mtype == MULTIPART_FORM:
        boundary = params.get("boundary")
        if not boundary:
            boundary = os.urandom(16).hex()
            content_type = f"{MULTIPART_FORM}; boundary={boundary}"
        return content_type, encode_multipart(body, boundary)
    if mtype == APPLICATION_XML and not isinstance(body, (str, bytes, bytearray, memoryview)):
        return content_type, encode_xml(body)
    charset = params.get("charset") or "utf-8"
    try:
        return content_type, _to_text(body).encode(charset)
    except (LookupError, UnicodeEncodeError):
        return content_type, _to_text(body).encode("utf-8")


def encode_xml(value: Any, tag: str = "root") -> bytes:
    """A small XML rendering of maps, lists and scalars (``<root><key>value</key></root>``)."""
    def build(parent: ElementTree.Element, v: Any) -> None:
        if isinstance(v, Mapping):
            for k, item in v.items():
                child = ElementTree.SubElement(parent, re.sub(r"[^\w.-]", "_", str(k)) or "_")
                build(child, item)
        elif isinstance(v, (list, tuple)):
            for item in v:
                build(ElementTree.SubElement(parent, "item"), item)
        elif v is not None:
            parent.text = _to_text(v)

    root = ElementTree.Element(tag)
    build(root, value)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
