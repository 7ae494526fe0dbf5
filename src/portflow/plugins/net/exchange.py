"""One HTTP request through the flow: read the body -> run the flow -> write the answer.

Reading is bounded (``max_body`` on the raw and on the decoded body, ``read_timeout`` for the whole body)
and answers 400/408/413 itself, before any process exists. The flow then runs in a fresh process, raced
against the client going away (``race``); an error answer is offered to ``error``. Resources the process
opened (a transaction) commit *before* the answer is written, and a commit that fails answers 500 (through
``error`` when it is wired). The process exits in one place, with an error when the status is 400 or more.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import TYPE_CHECKING, Any

from ...errors import FlowError
from ...logs import access
from ...packet import NONE, Packet
from ...process import Process
from . import mime
from .decoding import Decoder
from .payload import STATUS_TEXT, error_response, header_map, request_payload, response
from .race import ClientGone, race, resume
from .writer import respond, write_stream

if TYPE_CHECKING:
    from .listener import Listener

__all__ = ["serve_http", "CLIENT_KEY"]

log = logging.getLogger("portflow.net.listener")

#: Process data key holding the client's ``(host, port)`` (the proxy reads it for ``X-Forwarded-For``).
CLIENT_KEY = "net.client"

#: The status an access line shows for a client that left before its answer was written (nginx's).
CLIENT_CLOSED = 499

#: A reply: ``(status, headers, body)`` written at once, or a payload whose body is an async iterator.
Reply = tuple[int, list[tuple[bytes, bytes]], bytes] | dict[str, Any]


_NO_BODY: tuple[Any, bool, Exception | None] = (None, False, None)
_EMPTY: tuple[int, list[tuple[bytes, bytes]], bytes] = (200, [(b"content-length", b"0")], b"")


class _Refused(Exception):
    """A request answered before the flow sees it (``status``, ``reason``)."""

    def __init__(self, status: int, reason: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _first(header: dict[str, list[str]], name: str) -> str | None:
    values = header.get(name)
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


async def serve_http(node: Listener, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve one HTTP request; see the module docstring. The request's process exits in one place."""
    node.active += 1
    began = monotonic()
    header = header_map(scope["headers"])
    proc: Process | None = None
    error: BaseException | None = FlowError("request cancelled")
    status, sent = CLIENT_CLOSED, None
    try:
        body, has_body, body_error = await _read(node, header, receive) if (
            "Content-Length" in header or "Transfer-Encoding" in header) else _NO_BODY
        proc = Process()
        proc.set(CLIENT_KEY, scope.get("client"))
        offered: BaseException | None = None  # the error offered to ``error``, when it answered
        if body_error is not None:
            answer = await _undecodable(node, proc, body_error)
            offered = body_error if node.error_port.links else None
        else:
            # Run the flow at once; only if it has to wait, race it against the client going away. Most
            # flows answer without waiting and skip the race.
            flow = node.out_port.send(proc, Packet(request_payload(scope, header, body, has_body)))
            try:
                waiting = flow.send(None)
            except StopIteration as stop:
                answer = stop.value
            else:
                answer = await race(resume(flow, waiting), receive, node.running)
            if isinstance(answer.payload, BaseException):
                offered = answer.payload if node.error_port.links else None
                answer = await node.error_port.send(proc, answer, answer)
        reply = _reply(node, answer, scope, header)
        if offered is not None and not isinstance(answer.payload, BaseException) and _status(reply) >= 400:
            _answered_error(node, scope, _status(reply), offered)
        if _status(reply) < 400:
            try:
                await proc.commit()  # before the answer says it is done
            except Exception as exc:  # noqa: BLE001 - the resource rolled back; the client must not see a 200
                reply = await _commit_failed(node, proc, exc, scope, header)
        if isinstance(reply, tuple):
            if not await respond(send, *reply):
                raise ClientGone
            status, sent = reply[0], len(reply[2])
        else:
            status = await _stream(node, reply, scope, send, receive)
        error = FlowError(STATUS_TEXT.get(status, str(status))) if status >= 400 else None
        await proc.join()
    except _Refused as refused:
        status, _, body = refusal = error_response(refused.status, refused.reason)
        sent = len(body)
        await respond(send, *refusal)
    except ClientGone:  # before a process: a body the server could not parse (granian says "disconnect")
        error = FlowError("client disconnected")
        if proc is None:
            status, _, body = refusal = error_response(400, "incomplete or malformed request body")
            sent = len(body)
            await respond(send, *refusal)
    except Exception as exc:  # noqa: BLE001 - a bug in a node: log it, answer 500, never show it
        _log_failure(node, scope, exc)
        status, _, body = failed = error_response(500)
        sent = len(body)
        await respond(send, *failed)
        error = exc
    finally:
        observer = node.out_port.observer
        if observer is not None:  # watched (metrics): the request's outcome, before its process exits
            for ended in observer.requests_ended:
                ended(node, scope["method"], status, monotonic() - began, proc)
        if proc is not None:
            await proc.exit(error)
        node.served()
        if node.access_log:
            access(scope["method"], scope["path"], status, sent, monotonic() - began, node.log_fields)


def _log_failure(node: Listener, scope: dict[str, Any], exc: BaseException) -> None:
    trace = not isinstance(exc, RecursionError)  # too deep a payload: one line, its traceback says nothing
    log.error("%s: %s %s failed: %s", node.label, scope["method"], scope["path"], exc or type(exc).__name__,
              exc_info=exc if trace else None, extra=node.log_fields)


def _answered_error(node: Listener, scope: dict[str, Any], status: int, failure: BaseException) -> None:
    """A flow error that ``error`` answered with an error status (4xx/5xx): one warning naming it."""
    log.warning("%s: %s %s: %d: %s", node.label, scope["method"], scope["path"], status,
                failure or type(failure).__name__, extra=node.log_fields)


# -- read ---------------------------------------------------------------------------------------------

async def _read(node: Listener, header: dict[str, list[str]], receive: Any) -> tuple[Any, bool, Exception | None]:
    """``(body, has_body, body_error)``; raises ``_Refused`` (400, 408, 413) or ``ClientGone``."""
    length = header.get("Content-Length")
    has_body = length is not None or "Transfer-Encoding" in header
    size = None
    if length is not None:
        try:
            size = int(length[0])
        except ValueError:
            size = -1
        if size < 0 or (len(length) > 1 and len(set(length)) > 1):
            raise _Refused(400, "invalid Content-Length")
        if size > node.max_body:
            raise _Refused(413)
        has_body = size > 0
    if not has_body:
        return None, False, None
    try:
        encoding = header.get("Content-Encoding")
        decoder = Decoder(_first(header, "Content-Encoding"), node.max_body) if encoding else None
        async with asyncio.timeout(node.read_timeout):
            raw = await _read_body(receive, node.max_body, decoder, size)
        ctype = _first(header, "Content-Type")
        if ctype is None:  # uniflow sniffs the type and writes it into the request's header map
            ctype = mime.sniff(raw)
            header["Content-Type"] = [ctype]
        return mime.decode(raw, ctype), True, None
    except mime.BodyError as exc:
        return None, True, exc
    except TimeoutError:
        raise _Refused(408) from None


async def _read_body(receive: Any, limit: int, decoder: Decoder | None, expected: int | None = None) -> bytes:
    """The body, decoded as it arrives. Raises ``_Refused`` 413 past ``limit`` raw bytes, 400 for a body
    the server could not parse (a malformed chunked encoding), and ``mime.BodyError`` from decoding.

    With a ``Content-Length`` (``expected``), reading stops at that many bytes: the server's closing empty
    message (one more round trip to its I/O thread) is left unread, as a client-gone watcher expects."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await receive()
        except Exception:  # noqa: BLE001 - the server could not read the body (bad chunked framing)
            raise _Refused(400, "malformed request body") from None
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413)
        more = message.get("more_body", False) and size != expected
        try:
            chunks.append(decoder.feed(chunk) if decoder is not None else chunk)
        except mime.BodyError:
            if more:  # read (and drop) the rest, at most ``limit`` bytes, so the client reads our answer
                await _discard(receive, limit - size)
            raise
        if not more:
            if decoder is not None:
                decoder.finish()
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _discard(receive: Any, room: int) -> None:
    while room >= 0:
        message = await receive()
        room -= len(message.get("body", b""))
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return


# -- run ----------------------------------------------------------------------------------------------

async def _undecodable(node: Listener, proc: Process, body_error: Exception) -> Packet:
    """``error``'s answer to a body that did not decode; unhandled, the body's own status (400, 413, 415)."""
    failure = FlowError(str(body_error))
    answer = await node.error_port.send(proc, Packet(failure), Packet(failure))
    if answer.payload is failure:
        return Packet(mime.BodyError(str(body_error), getattr(body_error, "status", 400)))
    return answer


# -- answer -------------------------------------------------------------------------------------------

def _reply(node: Listener, answer: Packet, scope: dict[str, Any], header: dict[str, list[str]]) -> Reply:
    if answer is NONE:  # nothing answered: an empty 200, as Go's server writes when the handler writes nothing
        return _EMPTY
    result = answer.payload
    if isinstance(result, mime.BodyError):
        return error_response(result.status, str(result))
    if isinstance(result, BaseException):
        log.error("%s: %s %s: unhandled error: %s", node.label, scope["method"], scope["path"], result,
                  exc_info=result if not isinstance(result, FlowError) else None, extra=node.log_fields)
        return error_response(500)
    if type(result) is dict and hasattr(result.get("body"), "__aiter__"):
        return result  # a streaming body (an async iterator, e.g. the system plugin's ``watch``)
    try:
        return response(result, _first(header, "Accept"), _first(header, "Accept-Encoding"), scope["method"] == "HEAD")
    except Exception as exc:
        log.error("%s: cannot write the answer: %s", node.label, exc, exc_info=not isinstance(exc, RecursionError),
                  extra=node.log_fields)
        return error_response(500)


def _status(reply: Reply) -> int:
    return reply[0] if isinstance(reply, tuple) else int(reply.get("status") or 200)


async def _commit_failed(node: Listener, proc: Process, exc: Exception, scope: dict[str, Any],
                         header: dict[str, list[str]]) -> Reply:
    """The reply to a failed commit: what ``error`` answers to it, or 500."""
    failure = FlowError(f"commit failed: {exc}")
    answer = await node.error_port.send(proc, Packet(failure), Packet(failure))
    if answer.payload is failure:
        log.error("%s: %s", node.label, failure, extra=node.log_fields)
        return error_response(500)
    reply = _reply(node, answer, scope, header)
    if not isinstance(answer.payload, BaseException) and _status(reply) >= 400:
        _answered_error(node, scope, _status(reply), failure)
    return reply


async def _stream(node: Listener, reply: dict[str, Any], scope: dict[str, Any], send: Any, receive: Any) -> int:
    """Write a streaming reply, raced against the client leaving; its status. Raises ``ClientGone``."""
    task = asyncio.current_task()
    node.streams.add(task)  # type: ignore[arg-type]
    try:
        written = await race(write_stream(send, reply, scope["method"] == "HEAD"), receive, node.running)
    finally:
        node.streams.discard(task)
    if written is None:
        raise ClientGone
    return written
