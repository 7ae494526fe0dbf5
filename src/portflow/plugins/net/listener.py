"""The ``listener`` kind: an HTTP server whose every request is one process through the flow (reference §8, §10).

The node serves a plain ASGI-3 application (``Dispatch``) through ``server.serve``. Servers live in a
per-runtime registry (``context.services.get(Listeners)``) keyed by address, not in the node: when a
listener unloads, its server stays open for a short hand-over window and a listener that loads on the
same host, port and protocol within it takes the socket over (the live reload path: no refused
connection, in-flight requests finish on the old nodes, new ones wait for the new listener). The same
registry refuses a second listener on a port that another listener holds.

Per request: headers and body become the request payload; the payload goes out on ``out`` in a fresh
process, while a watcher on the connection cancels the process if the client goes away. An error answer
is offered to ``error``; what comes back is written as the response. The process then exits, with an
error when the status is 400 or more (so a transaction rolls back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import types
from typing import Any

import msgspec

from ...errors import FlowError, UserError
from ...node import Node
from ...packet import Packet
from ...port import ERROR, OUT, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Duration, Spec
from . import mime
from .payload import (REQUEST_ONLY_HEADERS, STATUS_TEXT, error_response, header_map, request_payload, response,
                      split_payload)
from .server import TLS, serve

__all__ = [
    "ListenerSpec", "TLSSpec", "Listener", "Dispatch", "Listeners", "compile_listener", "register",
    "WEBSOCKET_KEY", "DEFAULT_MAX_BODY",
]

log = logging.getLogger("portflow.net.listener")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: How long a released server waits for a listener to take it over before it closes.
HANDOVER = 2.0
#: Process data key under which a WebSocket request's connection waits for a ``gateway``.
WEBSOCKET_KEY = "net.websocket"
#: Process data key holding the client's ``(host, port)`` (the proxy reads it for ``X-Forwarded-For``).
CLIENT_KEY = "net.client"


class TLSSpec(msgspec.Struct, kw_only=True):
    """A certificate and its key: PEM text or a path to a PEM file."""

    cert: str
    key: str


class ListenerSpec(Spec, kw_only=True):
    """Listens for HTTP requests and sends each one, as a payload, through ``out`` in its own process."""

    protocol: str = "http"
    host: str = ""
    port: int
    tls: TLSSpec | None = None
    max_body: int = DEFAULT_MAX_BODY
    read_timeout: Duration = Duration(60.0)


class _ClientGone(Exception):
    pass


class _TooLarge(Exception):
    pass


def _first(header: dict[str, list[str]], name: str) -> str | None:
    values = header.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


_START = "http.response.start"
_BODY = "http.response.body"


class WebSocketConn:
    """A WebSocket request's ASGI channel, left in the process for a ``gateway`` to accept.

    ``ended`` is set once the connection is closed, by either side."""

    __slots__ = ("scope", "receive", "send", "accepted", "_closed", "ended")

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.accepted = False
        self._closed = False
        self.ended = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._closed = value
        if value:
            self.ended.set()


class Listener(Node):
    """The live listener. Construct with plain arguments; ``load()`` listens, ``unload()`` drains and releases."""

    def __init__(self, host: str = "", port: int = 0, *, tls: TLS | None = None, max_body: int = DEFAULT_MAX_BODY,
                 read_timeout: float = 60.0, server: str = "granian", registry: Listeners | None = None,
                 label: str = "listener", grace: float = 10.0, protocol: str = "http",
                 reuse_port: bool = False) -> None:
        self.host = host
        self.configured_port = port
        self.tls = tls
        self.protocol = protocol
        self.reuse_port = reuse_port
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.server_name = server
        self.registry = registry if registry is not None else Listeners()
        self.label = label
        self.grace = grace
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self.binding: _Binding | None = None
        self._active = 0  # requests and connections being served
        self._idle: asyncio.Event | None = None  # set when _active drops to 0 while draining
        self._tasks: set[asyncio.Task] = set()  # the tasks of requests that are waiting (to cancel them)
        self._streams: set[asyncio.Task] = set()  # the tasks writing a streaming body (ended first on drain)

    # -- ports and lifecycle ----------------------------------------------------------------------
    def outport(self, name: str) -> OutPort | None:
        if name == OUT or name == "out[0]":
            return self.out_port
        if name == ERROR:
            return self.error_port
        return None

    @property
    def port(self) -> int:
        """The bound port (the configured one until the node has loaded)."""
        return self.binding.server.port if self.binding is not None else self.configured_port

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::", "*") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def load(self) -> None:
        await self.registry.acquire(self)

    async def unload(self) -> None:
        """Stop taking new requests (the server stays open for a successor), then drain in-flight ones."""
        self.registry.release(self)
        await self.drain(self.grace)

    async def drain(self, timeout: float) -> None:
        """Wait until the requests in flight have been answered; cancel those still running after ``timeout``."""
        if not self._active:
            return
        self._idle = idle = asyncio.Event()
        for task in list(self._streams):  # a stream has no end of its own: end it now (clients resume)
            task.cancel(_END_STREAM)
        try:
            await asyncio.wait_for(idle.wait(), timeout)
        except TimeoutError:
            pending = [t for t in self._tasks if not t.done()]
            log.warning("%s: %d request(s) still running after %.1fs; cancelling", self.label, len(pending), timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        finally:
            self._idle = None


    # -- requests -----------------------------------------------------------------------------------
    def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        """Serve one ASGI connection scope (returns the coroutine to await)."""
        kind = scope["type"]
        if kind == "http":
            return self._http(scope, receive, send)
        if kind == "websocket":
            return self._websocket_task(scope, receive, send)
        return _nothing()

    def _done(self) -> None:
        self._active -= 1
        if not self._active and self._idle is not None:
            self._idle.set()

    async def _websocket_task(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._active += 1
        task = asyncio.current_task()
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._websocket(scope, receive, send)
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._done()

    async def _read_body(self, receive: Any, limit: int) -> bytes:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body = message.get("body", b"")
        if not message.get("more_body"):
            if len(body) > limit:
                raise _TooLarge
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self._active += 1
        try:
            header = header_map(scope["headers"])
            length = header.get("Content-Length")
            has_body = length is not None or "Transfer-Encoding" in header
            body: Any = None
            if length is not None:
                try:
                    size = int(length[0])
                    if size < 0:
                        raise ValueError
                except ValueError:
                    return await _respond(send, *error_response(400, "invalid Content-Length"))
                if size > self.max_body:
                    return await _respond(send, *error_response(413))
                has_body = size > 0
            if has_body:
                try:
                    async with asyncio.timeout(self.read_timeout):
                        raw = await self._read_body(receive, self.max_body)
                except _ClientGone:
                    return
                except _TooLarge:
                    return await _respond(send, *error_response(413))
                except TimeoutError:
                    return await _respond(send, *error_response(408))
                try:
                    raw = mime.decompress(raw, _first(header, "Content-Encoding"), self.max_body)
                    body = mime.decode(raw, _first(header, "Content-Type"))
                except mime.BodyError as exc:
                    payload_error: BaseException | None = exc
                else:
                    payload_error = None
            else:
                payload_error = None

            proc = Process()
            proc.set(CLIENT_KEY, scope.get("client"))
            payload = request_payload(scope, header, body, has_body)
            race: _Race | None = None
            try:
                if payload_error is not None:
                    error = FlowError(str(payload_error))
                    answer = await self.error_port.send(proc, Packet(error), Packet(error))
                    if answer.payload is error:
                        status, headers, data = error_response(getattr(payload_error, "status", 400), str(payload_error))
                        answer = None
                else:
                    # Run the flow at once; only if it has to wait, race it against the client going away
                    # (a disconnect cancels this task). Most flows answer without waiting and skip the race.
                    flow = self.out_port.send(proc, Packet(payload))
                    try:
                        waiting = flow.send(None)
                    except StopIteration as stop:
                        answer = stop.value
                    else:
                        race = self._race(receive)
                        answer = await _resume(flow, waiting)
                    if isinstance(answer.payload, BaseException):
                        answer = await self.error_port.send(proc, answer, answer)
                if answer is not None:
                    result = answer.payload
                    if isinstance(result, BaseException):
                        log.error("%s: %s %s: unhandled error: %s", self.label, scope["method"], scope["path"], result,
                                  exc_info=result if not isinstance(result, FlowError) else None)
                        status, headers, data = error_response(500)
                    elif type(result) is dict and hasattr(result.get("body"), "__aiter__"):
                        # A streaming body (an async iterator, e.g. the system plugin's ``watch``): written
                        # chunk by chunk while the race turns a client that leaves into a cancellation.
                        if race is None:
                            race = self._race(receive)
                        self._streams.add(race.task)
                        try:
                            status = await _stream(send, result, scope["method"] == "HEAD")
                        finally:
                            self._streams.discard(race.task)
                        self._tasks.discard(race.finish())
                        if status is None:
                            await proc.exit(FlowError("client disconnected"))
                            return
                        await proc.join()
                        await proc.exit(FlowError(STATUS_TEXT.get(status, str(status))) if status >= 400 else None)
                        return
                    else:
                        try:
                            status, headers, data = response(result, _first(header, "Accept"),
                                                             _first(header, "Accept-Encoding"),
                                                             scope["method"] == "HEAD")
                        except Exception as exc:  # noqa: BLE001 - a body we cannot encode is our 500, not a crash
                            log.error("%s: cannot write the answer: %s", self.label, exc, exc_info=True)
                            status, headers, data = error_response(500)
            except asyncio.CancelledError:
                if race is not None:
                    self._tasks.discard(race.finish())
                    if race.gone:
                        race.task.uncancel()
                        await proc.exit(FlowError("client disconnected"))
                        return
                await proc.exit(FlowError("request cancelled"))
                raise
            except Exception as exc:  # noqa: BLE001 - a bug in a node: log it, answer 500, never show it
                log.error("%s: %s %s failed: %s", self.label, scope["method"], scope["path"], exc, exc_info=True)
                status, headers, data = error_response(500)
            if race is not None:
                self._tasks.discard(race.finish())
            try:
                await send({"type": _START, "status": status, "headers": headers})
                await send({"type": _BODY, "body": data})
            except (OSError, RuntimeError):
                await proc.exit(FlowError("client disconnected"))
                return
            await proc.join()
            await proc.exit(FlowError(STATUS_TEXT.get(status, str(status))) if status >= 400 else None)
        finally:
            self._done()

    def _race(self, receive: Any) -> _Race:
        task = asyncio.current_task()
        self._tasks.add(task)  # type: ignore[arg-type]
        race = _Race(task, receive)
        race.arm()
        return race

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        header = header_map(scope["headers"])
        payload = {
            "method": "GET", "host": _first(header, "Host") or "", "path": scope["path"] or "/",
            "protocol": "HTTP/" + scope.get("http_version", "1.1"), "header": header, "status": 0,
        }
        if scope.get("query_string"):
            from .payload import query_map

            payload["query"] = query_map(scope["query_string"])
        payload = {k: v for k, v in payload.items() if v != "" or k == "status"}
        conn = WebSocketConn(scope, receive, send)
        proc = Process()
        proc.set(WEBSOCKET_KEY, conn)
        error: BaseException | None = None
        try:
            answer = await self.out_port.send(proc, Packet(payload))
            if isinstance(answer.payload, BaseException):
                answer = await self.error_port.send(proc, answer, answer)
            if isinstance(answer.payload, BaseException):
                log.error("%s: websocket %s: unhandled error: %s", self.label, scope["path"], answer.payload)
                error = answer.payload
            if not conn.accepted:
                await send({"type": "websocket.close", "code": 1008 if error is None else 1011})
                conn.closed = True
                await proc.join()
            else:
                # The request's process lives as long as its connection: once the client is gone, exiting
                # it ends what it still holds (e.g. a ``websocket`` client dialled for this request).
                await _until_either(proc.join(), conn.ended.wait())
        except asyncio.CancelledError:
            await proc.exit(FlowError("connection cancelled"))
            raise
        await proc.exit(error)


async def _nothing() -> None:
    return None


async def _until_either(*aws: Any) -> None:
    """Wait until the first of ``aws`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Race:
    """The disconnect watcher of one request: cancels the request's task when the client goes away.

    It waits on ``receive()`` through a done-callback (granian returns a future; other servers get a task
    made for them), so a request costs no extra task on granian; a leftover body message re-arms it.
    """

    __slots__ = ("task", "receive", "done", "gone", "owned")

    def __init__(self, task: Any, receive: Any) -> None:
        self.task = task
        self.receive = receive
        self.done = False
        self.gone = False
        self.owned: asyncio.Task | None = None

    def arm(self) -> None:
        watch = self.receive()
        if not asyncio.isfuture(watch):
            watch = self.owned = asyncio.ensure_future(watch)
        watch.add_done_callback(self.on_message)

    def on_message(self, fut: Any) -> None:
        if self.done or fut.cancelled():
            return
        try:
            message = fut.result()
        except BaseException:  # noqa: BLE001 - the connection broke: same as gone
            message = _DISCONNECT
        kind = message.get("type")
        if kind == "http.disconnect":
            self.gone = True
            self.task.cancel()
        elif kind == "http.request":
            self.arm()

    def finish(self) -> Any:
        self.done = True
        if self.owned is not None:
            self.owned.cancel()
        return self.task


@types.coroutine
def _resume(coro: Any, waiting: Any) -> Any:
    """Await the rest of ``coro``, which has already run up to its first suspension on ``waiting``."""
    while True:
        try:
            value = yield waiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - cancellation and errors go into the coroutine
            try:
                waiting = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            waiting = coro.send(value)
        except StopIteration as stop:
            return stop.value


_DISCONNECT = {"type": "http.disconnect"}


#: The cancel message with which ``drain()`` ends a streaming response (which then ends cleanly).
_END_STREAM = "portflow: the listener is unloading"


async def _stream(send: Any, payload: dict[str, Any], head: bool = False) -> int | None:
    """Write an answer whose ``body`` is an async iterator: headers first, then each chunk (bytes, or text as
    UTF-8) as it comes, until the iterator ends. Returns the status, or None when the client went away.
    The iterator is closed (``aclose``) in every case."""
    status, header, body = split_payload(payload)
    headers: list[tuple[bytes, bytes]] = []
    content_type = "application/octet-stream"
    for name, values in header.items():
        lower = name.lower()
        if lower in REQUEST_ONLY_HEADERS or lower in ("content-length", "content-encoding"):
            continue
        if lower == "content-type":
            content_type = values[0] if values else content_type
            continue
        headers.extend((lower.encode("latin-1"), v.encode("latin-1", "replace")) for v in values)
    headers.append((b"content-type", content_type.encode("latin-1")))
    try:
        await send({"type": _START, "status": status, "headers": headers})
        if not head:
            async for chunk in body:
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                if data:
                    await send({"type": _BODY, "body": data, "more_body": True})
        await send({"type": _BODY, "body": b"", "more_body": False})
    except (OSError, RuntimeError):
        return None
    except asyncio.CancelledError as exc:
        if exc.args != (_END_STREAM,):
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr] - ended by drain(): finish the response
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": _BODY, "body": b"", "more_body": False})
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    return status


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": _START, "status": status, "headers": headers})
        await send({"type": _BODY, "body": body})


# -- the registry of servers ---------------------------------------------------------------------------

class Dispatch:
    """The ASGI application a server holds: it hands each connection to the listener that owns the server
    now, so a reloaded listener takes over without the socket closing."""

    __slots__ = ("node", "_owner")

    def __init__(self) -> None:
        self.node: Listener | None = None
        self._owner: asyncio.Event | None = None

    def set(self, node: Listener | None) -> None:
        self.node = node
        if node is not None and self._owner is not None:
            self._owner.set()
            self._owner = None

    async def _wait_for_owner(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        node = self.node
        if node is None:
            if scope["type"] == "lifespan":
                return
            if self._owner is None:
                self._owner = asyncio.Event()
            event = self._owner
            try:
                await asyncio.wait_for(event.wait(), HANDOVER)
            except TimeoutError:
                if scope["type"] == "http":
                    await _respond(send, *error_response(503))
                return
            node = self.node
            if node is None:
                if scope["type"] == "http":
                    await _respond(send, *error_response(503))
                return
        await node.handle(scope, receive, send)

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:  # noqa: F811 - the fast path
        node = self.node
        if node is None:
            return self._wait_for_owner(scope, receive, send)
        return node.handle(scope, receive, send)


class _Binding:
    __slots__ = ("key", "server", "app", "owner", "label", "closer", "signature")

    def __init__(self, key: tuple[str, int], server: Any, app: Dispatch, signature: tuple) -> None:
        self.key = key
        self.server = server
        self.app = app
        self.owner: Listener | None = None
        self.label = ""
        self.closer: asyncio.TimerHandle | None = None
        self.signature = signature


_WILDCARD = ("", "*", "0.0.0.0", "::")


class Listeners:
    """The servers of one runtime, by (host, port): shared so that a reloaded listener keeps its socket.

    ``aclose()`` closes every server at once (the runtime calls it when it closes: a service).
    """

    def __init__(self) -> None:
        self.bindings: dict[tuple[str, int], _Binding] = {}
        self._closing: set[asyncio.Task] = set()

    def _signature(self, node: Listener) -> tuple:
        return (node.protocol, node.tls, node.server_name)

    async def acquire(self, node: Listener) -> None:
        if node.binding is not None and node.binding.owner is node:
            return
        sig = self._signature(node)
        binding = None
        if node.configured_port == 0:
            previous = node.binding
            if previous is not None and previous.owner is None and previous.key in self.bindings \
                    and previous.signature == sig:
                binding = previous
        else:
            for other in list(self.bindings.values()):
                if other.key[1] != node.configured_port:
                    continue
                same_host = other.key[0] == node.host
                if not (same_host or other.key[0] in _WILDCARD or node.host in _WILDCARD):
                    continue
                if other.owner is not None and other.owner is not node:
                    raise UserError(
                        f"{node.label}: cannot listen on port {node.configured_port}: "
                        f"{other.label} already listens on {other.key[0] or '*'}:{other.key[1]}")
                if same_host and other.signature == sig:
                    binding = other
                else:  # released but different: close it now so that we can bind
                    await self._close(other)
        if binding is None:
            app = Dispatch()
            server = serve(app, node.host, node.configured_port, node.tls, node.reuse_port,
                           server=node.server_name, read_timeout=node.read_timeout)
            await server.start()
            binding = _Binding((node.host, server.port), server, app, sig)
            self.bindings[binding.key] = binding
            log.info("%s: listening on %s", node.label, f"{server.scheme}://{node.host or '*'}:{server.port}")
        if binding.closer is not None:
            binding.closer.cancel()
            binding.closer = None
        binding.owner = node
        binding.label = node.label
        node.binding = binding
        binding.app.set(node)

    def release(self, node: Listener) -> None:
        binding = node.binding
        if binding is None or binding.owner is not node:
            return
        binding.owner = None
        binding.app.set(None)
        loop = asyncio.get_running_loop()
        binding.closer = loop.call_later(HANDOVER, self._close_later, binding)

    def _close_later(self, binding: _Binding) -> None:
        binding.closer = None
        if binding.owner is not None:
            return
        task = asyncio.get_running_loop().create_task(self._close(binding))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, binding: _Binding) -> None:
        if self.bindings.get(binding.key) is binding:
            del self.bindings[binding.key]
        if binding.closer is not None:
            binding.closer.cancel()
            binding.closer = None
        try:
            await binding.server.stop(grace=5.0)
        except Exception:  # noqa: BLE001
            log.exception("closing %r failed", binding.server)

    async def aclose(self) -> None:
        """Close every server now (owned or waiting for a successor)."""
        for binding in list(self.bindings.values()):
            if binding.owner is not None:
                binding.owner.binding = None
                binding.owner = None
            await self._close(binding)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def listeners(context: Context) -> Listeners:
    """The runtime's registry of listening servers (a service, closed with the runtime)."""
    return context.services.get(Listeners)


def compile_listener(spec: ListenerSpec, context: Context) -> Listener:
    if spec.protocol != "http":
        raise UserError(f"protocol: {spec.protocol!r} is invalid; expected http")
    if not 0 <= spec.port <= 65535:
        raise UserError(f"port: {spec.port} is out of range")
    if spec.max_body <= 0:
        raise UserError("max_body: must be positive")
    tls = TLS(spec.tls.cert, spec.tls.key) if spec.tls else None
    return Listener(
        spec.host, spec.port, tls=tls, max_body=spec.max_body, read_timeout=float(spec.read_timeout),
        server=context.settings.listener_server, registry=listeners(context),
        label=f"spec {spec.label!r} (kind {spec.kind})", grace=context.settings.grace,
        reuse_port=context.settings.listener_reuse_port,
    )


EXAMPLE = """\
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  ports:
    out:
      - name: router
        port: in
  env:
    PORT:
      data: '{{ .PORT }}'
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "listener", ListenerSpec, compile_listener,
        description=ListenerSpec.__doc__ or "",
        ports={"out": "each request as {method, scheme, host, path, query, protocol, header, body, status}",
               "error": "errors the flow answered, and bodies that do not decode"},
        example=EXAMPLE, plugin="net",
    )
