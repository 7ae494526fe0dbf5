"""The ``http`` kind: an HTTP client (reference §8).

The input is an HTTP payload (a map; anything else is the body). The spec's ``url`` overrides the scheme
and host, puts its path in front of the payload's path and appends its query. The method defaults to GET,
or POST when there is a body; the body is encoded by its ``Content-Type`` (negotiated when absent). The
output is the response as an HTTP payload, its body decoded by the response's ``Content-Type``. A non-2xx
status is an answer, not an error; only transport and decoding failures go to ``error``.

A compressed answer (gzip, deflate, br, zstd) is decompressed, and its ``Content-Encoding`` and
``Content-Length`` headers are dropped from the payload, as Go's client does: they described the bytes on
the wire, not the body the flow sees (kept, a listener answering with the payload would send a plain body
labelled gzip). ``max_body`` bounds the body after decompression; past it the call is an error.

One ``aiohttp.ClientSession`` per node, opened on first use and closed with the node, so connections are
reused.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from msgspec import Meta

from ...errors import FlowError, FlowTimeout
from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme, spec_error
from ...spec import NonNegativeDuration, Spec
from ...tracing import propagate
from . import mime
from .listener import DEFAULT_MAX_BODY
from .payload import header_map, query_map

__all__ = ["HTTPSpec", "HTTPClient", "compile_http", "register", "build_request", "Request"]


class HTTPSpec(Spec, kw_only=True):
    """Sends each input as an HTTP request and outputs the response as an HTTP payload."""

    url: Annotated[str, Meta(description="the URL to call ('': the packet's scheme, host and path)")] = ""
    timeout: Annotated[NonNegativeDuration | None, Meta(description="the longest a call may take (0 or unset: no limit)")] = None
    max_body: Annotated[int, Meta(ge=1, description="the largest response body in bytes, after decompression")] = \
        DEFAULT_MAX_BODY


class Request:
    __slots__ = ("method", "url", "headers", "body")

    def __init__(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body


def _join_path(base: str, path: str) -> str:
    if not base:
        return path or "/"
    if not path or path == "/":
        return base
    return base.rstrip("/") + "/" + path.lstrip("/")


def build_request(payload: Any, base: str = "") -> Request:
    """The request an input payload describes, with the spec URL ``base`` applied."""
    if type(payload) is dict:
        data = payload
    else:
        data = {"body": payload}
    method = str(data.get("method") or "").upper()
    scheme = str(data.get("scheme") or "")
    host = str(data.get("host") or "")
    path = str(data.get("path") or "")
    query = data.get("query") or {}
    if isinstance(query, str):
        query = query_map(query)
    header = data.get("header") or {}
    body = data.get("body")
    if base:
        parts = urlsplit(base)
        scheme = parts.scheme or scheme
        host = parts.netloc or host
        path = _join_path(parts.path, path)
        extra = query_map(parts.query) if parts.query else {}
    else:
        extra = {}
    if not host:
        raise FlowError("http: the request has no host (set url on the spec or host in the payload)")
    headers: list[tuple[str, str]] = []
    content_type = None
    if isinstance(header, dict):
        for k, v in header.items():
            name = mime.canonical(str(k))
            if name in ("Host", "Content-Length", "Connection", "Transfer-Encoding"):
                continue
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if name == "Content-Type":
                    content_type = str(item)
                    continue
                headers.append((name, str(item)))
    encoded: bytes | None = None
    if body is not None:
        content_type, encoded = mime.encode(body, content_type)
        headers.append(("Content-Type", content_type))
    if not method:
        method = "POST" if body is not None else "GET"
    pairs: list[tuple[str, str]] = []
    for source in (query, extra):
        if isinstance(source, dict):
            for k, v in source.items():
                for item in v if isinstance(v, (list, tuple)) else [v]:
                    pairs.append((str(k), "" if item is None else str(item)))
    url = f"{scheme or 'http'}://{host}{path or '/'}"
    if pairs:
        url += "?" + urlencode(pairs)
    return Request(method, url, headers, encoded)


DECOMPRESSED = frozenset({"gzip", "deflate", "br", "zstd"})  # what aiohttp's auto_decompress undoes


def response_payload(method: str, url: str, version: str, status: int, raw_headers: Any, body: bytes) -> dict[str, Any]:
    parts = urlsplit(url)
    header = header_map(raw_headers)
    encoding = header.get("Content-Encoding")
    if encoding and encoding[0].strip().lower() in DECOMPRESSED:
        del header["Content-Encoding"]
        header.pop("Content-Length", None)
    content_type = header.get("Content-Type", [None])[0]
    payload: dict[str, Any] = {"method": method, "scheme": parts.scheme, "host": parts.netloc,
                               "path": parts.path or "/"}
    if parts.query:
        payload["query"] = query_map(parts.query)
    payload["protocol"] = version
    payload["header"] = header
    if body:
        try:
            payload["body"] = mime.decode(body, content_type)
        except mime.BodyError:
            payload["body"] = body
    payload["status"] = status
    return payload


class HTTPClient(OneToOne):
    """The live client. ``url`` is the base URL; ``timeout`` (seconds) bounds each request."""

    def __init__(self, url: str = "", timeout: float | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self.max_body = max_body
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession(
                auto_decompress=True, skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def action(self, proc: Process, pck: Packet) -> Any:
        import aiohttp

        request = build_request(pck.payload, self.url)
        session = self.session()
        try:
            async with session.request(request.method, request.url, headers=propagate(request.headers), data=request.body,
                                       allow_redirects=False) as resp:
                body = await self._read(resp, request)
                version = f"HTTP/{resp.version.major}.{resp.version.minor}" if resp.version else "HTTP/1.1"
                return Packet(response_payload(request.method, str(resp.url), version, resp.status,
                                               resp.raw_headers, body))
        except TimeoutError:
            raise FlowTimeout(f"http: {request.method} {request.url}: timed out after {self.timeout}s") from None
        except aiohttp.ClientError as exc:
            raise FlowError(f"http: {request.method} {request.url}: {exc}") from None

    async def _read(self, resp: Any, request: Request) -> bytes:
        """The whole body, refused past ``max_body`` bytes (read in chunks: never more than that held)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > self.max_body:
                raise FlowError(f"http: {request.method} {request.url}: the response body is larger than "
                                f"max_body ({self.max_body} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        await super().close()
        if self._session is not None:
            await self._session.close()
            self._session = None


def compile_http(spec: HTTPSpec, context: Context) -> HTTPClient:
    if spec.url:
        parts = urlsplit(spec.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise spec_error(spec, "url", f"{spec.url!r} is not an http(s) URL")
    return HTTPClient(spec.url, float(spec.timeout) if spec.timeout else None, spec.max_body)


EXAMPLE = """\
- kind: http
  name: fetch
  url: https://example.com/api
  timeout: 5s
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "http", HTTPSpec, compile_http,
        description=HTTPSpec.__doc__ or "",
        ports={"in": "an HTTP payload (or a body)", "out": "the response as an HTTP payload",
               "error": "transport failures and timeouts"},
        example=EXAMPLE, plugin="net",
    )
