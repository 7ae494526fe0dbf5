"""The ``proxy`` kind: a reverse proxy over ``urls``, round-robin (reference §12, v0.12).

The input is the request payload a listener produced; it is sent to the next upstream with the
payload's path and query appended to that upstream's URL and ``X-Forwarded-For``, ``X-Forwarded-Host``
and ``X-Forwarded-Proto`` set. The output is the upstream's response as an HTTP payload (body kept as the
upstream sent it, with its ``Content-Type``), which a listener writes back as it is.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from msgspec import Meta

from ...errors import FlowError, UserError
from ...node import OneToOne
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme, spec_error
from ...spec import Spec
from ...tracing import propagate
from . import mime
from .exchange import CLIENT_KEY
from .payload import header_map

__all__ = ["ProxySpec", "Proxy", "compile_proxy", "register", "CLIENT_KEY"]

_HOP = frozenset({"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer",
                  "Transfer-Encoding", "Upgrade", "Content-Length", "Host"})


class ProxySpec(Spec, kw_only=True):
    """Forwards each HTTP request to one of ``urls`` in turn and answers with the upstream's response."""

    urls: Annotated[list[str], Meta(min_length=1, description="the upstream http(s) URLs, used in turn")]


class Proxy(OneToOne):
    def __init__(self, urls: list[str], timeout: float | None = None) -> None:
        super().__init__()
        if not urls:
            raise UserError("urls: at least one upstream URL is required")
        self.urls = urls
        self._next = itertools.cycle(range(len(urls)))
        self.timeout = timeout
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=("User-Agent",),
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def action(self, proc: Process, pck: Packet) -> Any:
        import aiohttp

        payload = pck.payload
        if type(payload) is not dict:
            raise FlowError("proxy: the input is not an HTTP request payload")
        base = urlsplit(self.urls[next(self._next)])
        path = payload.get("path") or "/"
        path = base.path.rstrip("/") + "/" + path.lstrip("/") if base.path not in ("", "/") else path
        pairs = []
        for k, v in (payload.get("query") or {}).items():
            for item in v if isinstance(v, (list, tuple)) else [v]:
                pairs.append((k, str(item)))
        query = "&".join(q for q in (base.query, urlencode(pairs)) if q)
        url = f"{base.scheme}://{base.netloc}{path}" + (f"?{query}" if query else "")
        headers: list[tuple[str, str]] = []
        forwarded_for = None
        for k, v in (payload.get("header") or {}).items():
            name = mime.canonical(str(k))
            if name in _HOP:
                continue
            values = v if isinstance(v, (list, tuple)) else [v]
            if name == "X-Forwarded-For":
                forwarded_for = ", ".join(str(x) for x in values)
                continue
            if name in ("X-Forwarded-Host", "X-Forwarded-Proto"):
                continue
            headers.extend((name, str(x)) for x in values)
        client = proc.get(CLIENT_KEY)
        if client:
            forwarded_for = f"{forwarded_for}, {client[0]}" if forwarded_for else str(client[0])
        if forwarded_for:
            headers.append(("X-Forwarded-For", forwarded_for))
        if payload.get("host"):
            headers.append(("X-Forwarded-Host", str(payload["host"])))
        headers.append(("X-Forwarded-Proto", str(payload.get("scheme") or "http")))
        body = payload.get("body")
        data: bytes | None = None
        if body is not None and body != "":  # "" is what a request without a body carries
            ctype = None
            for k, v in (payload.get("header") or {}).items():
                if mime.canonical(str(k)) == "Content-Type":
                    ctype = v[0] if isinstance(v, (list, tuple)) else v
            ctype, data = mime.encode(body, ctype)
            headers = [h for h in headers if h[0] != "Content-Type"] + [("Content-Type", ctype)]
        try:
            async with self.session().request(payload.get("method") or "GET", url, headers=propagate(headers), data=data,
                                              allow_redirects=False) as resp:
                raw = await resp.read()
                header = header_map(resp.raw_headers)
                for hop in ("Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length"):
                    header.pop(hop, None)
                return {"status": resp.status, "header": header, "body": raw}
        except TimeoutError:
            raise FlowError(f"proxy: {url}: timed out") from None
        except aiohttp.ClientError as exc:
            raise FlowError(f"proxy: {url}: {exc}") from None

    async def close(self) -> None:
        await super().close()
        if self._session is not None:
            await self._session.close()
            self._session = None


def compile_proxy(spec: ProxySpec, context: Context) -> Proxy:
    for i, url in enumerate(spec.urls):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise spec_error(spec, f"urls[{i}]", f"{url!r} is not an http(s) URL")
    return Proxy(list(spec.urls))


EXAMPLE = """\
- kind: proxy
  name: upstreams
  urls:
    - http://127.0.0.1:8001
    - http://127.0.0.1:8002
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "proxy", ProxySpec, compile_proxy,
        description=ProxySpec.__doc__ or "",
        ports={"in": "an HTTP request payload", "out": "the upstream's response", "error": "upstream failures"},
        example=EXAMPLE, plugin="net",
    )
