"""One HTTP request through the flow: read the body -> run the flow -> write the answer.

Reading is bounded (``max_body`` on the raw and on the decoded body, ``read_timeout`` for the whole body)
and answers 400/408/413 itself, before any process exists. The flow then runs in a fresh process, raced
against the client going away (``race``); an error answer is offered to ``error``. Resources the process
opened (a transaction) commit *before* the answer is written, and a commit that fails answers 500 (through
``error`` when it is wired). The process exits in one place, with an error when the status is 400 or more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import monotonic
from typing import TYPE_CHECKING, Any

from ...errors import FlowError
from ...logs import access
from ...packet import NONE, Packet
from ...process import Process
from . import mime
from .conn import BodyUnreadable, Conn, streamed
from .decoding import Decoder
from .payload import STATUS_TEXT, error_response, request_payload, response
from .race import ClientGone, race, resume
from .writer import END_STREAM

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
#: A request's exit error until it ends otherwise; made into its own ``FlowError`` only when it stays.
_CANCELLED = FlowError("request cancelled")
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


async def serve_http(node: Listener, conn: Conn) -> None:
    """Serve one HTTP request; see the module docstring. The request's process exits in one place."""
    node.active += 1
    began = monotonic()
    header = conn.header_map()
    proc: Process | None = None
    error: BaseException | None = _CANCELLED  # until the request ends otherwise (a cancel keeps it)
    status, sent = CLIENT_CLOSED, None
    try:
        body, has_body, body_error = await _read(node, header, conn) if (
            "Content-Length" in header or "Transfer-Encoding" in header) else _NO_BODY
        proc = Process()
        proc.set(CLIENT_KEY, conn.client)
        offered: BaseException | None = None  # the error offered to ``error``, when it answered
        if body_error is not None:
            answer = await _undecodable(node, proc, body_error)
            offered = body_error if node.error_port.links else None
        else:
            # Run the flow at once; only if it has to wait, race it against the client going away. Most
            # flows answer without waiting and skip the race.
            flow = node.out_port.send(proc, Packet(request_payload(conn, header, body, has_body)))
            try:
                waiting = flow.send(None)
            except StopIteration as stop:
                answer = stop.value
            else:
                answer = await race(resume(flow, waiting), conn.disconnected, node.running)
            if isinstance(answer.payload, BaseException):
                offered = answer.payload if node.error_port.links else None
                answer = await node.error_port.send(proc, answer, answer)
        reply = _reply(node, answer, conn, header)
        if offered is not None and not isinstance(answer.payload, BaseException) and _status(reply) >= 400:
            _answered_error(node, conn, _status(reply), offered)
        if not proc.idle and _status(reply) < 400:
            try:
                await proc.commit()  # before the answer says it is done
            except Exception as exc:  # noqa: BLE001 - the resource rolled back; the client must not see a 200
                reply = await _commit_failed(node, proc, exc, conn, header)
        if isinstance(reply, tuple):
            if not await conn.respond(*reply):
                raise ClientGone
            status, sent = reply[0], len(reply[2])
        else:
            status = await _stream(node, reply, conn)
        error = FlowError(STATUS_TEXT.get(status, str(status))) if status >= 400 else None
        if not proc.idle:
            await proc.join()
    except _Refused as refused:
        status, _, body = refusal = error_response(refused.status, refused.reason)
        sent = len(body)
        await conn.respond(*refusal)
    except ClientGone:  # before a process: a body the server could not parse (granian says "disconnect")
        error = FlowError("client disconnected")
        if proc is None:
            status, _, body = refusal = error_response(400, "incomplete or malformed request body")
            sent = len(body)
            await conn.respond(*refusal)
    except Exception as exc:  # noqa: BLE001 - a bug in a node: log it, answer 500, never show it
        _log_failure(node, conn, exc)
        status, _, body = failed = error_response(500)
        sent = len(body)
        await conn.respond(*failed)
        error = exc
    finally:
        observer = node.out_port.observer
        if observer is not None:  # watched (metrics): the request's outcome, before its process exits
            for ended in observer.requests_ended:
                ended(node, conn.method, status, monotonic() - began, proc)
        if error is _CANCELLED:
            error = FlowError("request cancelled")
        if proc is not None and not proc.exit_now(error):
            await proc.exit(error)
        node.served()
        if node.access_log:
            access(conn.method, conn.path, status, sent, monotonic() - began, node.log_fields)


def _log_failure(node: Listener, conn: Conn, exc: BaseException) -> None:
    trace = not isinstance(exc, RecursionError)  # too deep a payload: one line, its traceback says nothing
    log.error("%s: %s %s failed: %s", node.label, conn.method, conn.path, exc or type(exc).__name__,
              exc_info=exc if trace else None, extra=node.log_fields)


def _answered_error(node: Listener, conn: Conn, status: int, failure: BaseException) -> None:
    """A flow error that ``error`` answered with an error status (4xx/5xx): one warning naming it."""
    log.warning("%s: %s %s: %d: %s", node.label, conn.method, conn.path, status,
                failure or type(failure).__name__, extra=node.log_fields)


# -- read ---------------------------------------------------------------------------------------------

async def _read(node: Listener, header: dict[str, list[str]], conn: Conn) -> tuple[Any, bool, Exception | None]:
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
    encoding = header.get("Content-Encoding")
    task = node.deadlines.enter(node.read_timeout)
    try:
        try:
            if size is not None and not encoding:  # the common case: one read of a known length
                raw = await conn.read(size)
                if len(raw) > node.max_body:
                    raise _Refused(413)
            else:
                decoder = Decoder(_first(header, "Content-Encoding"), node.max_body) if encoding else None
                raw = await _read_body(conn, node.max_body, decoder, size)
        finally:
            node.deadlines.leave(task)
        ctype = _first(header, "Content-Type")
        if ctype is None:  # uniflow sniffs the type and writes it into the request's header map
            ctype = mime.sniff(raw)
            header["Content-Type"] = [ctype]
        return mime.decode(raw, ctype), True, None
    except mime.BodyError as exc:
        return None, True, exc
    except BodyUnreadable:
        raise _Refused(400, "malformed request body") from None
    except asyncio.CancelledError:
        if node.deadlines.expired(task):
            raise _Refused(408) from None
        raise


async def _read_body(conn: Conn, limit: int, decoder: Decoder | None, expected: int | None = None) -> bytes:
    """The body, decoded as it arrives. Raises ``_Refused`` 413 past ``limit`` raw bytes, ``BodyUnreadable``
    for a body the server could not parse (a malformed chunked encoding), and ``mime.BodyError`` from
    decoding (after reading, and dropping, the rest of the body up to ``limit``, so that the client reads
    the answer)."""
    parts: list[bytes] = []
    size = 0
    chunks = conn.chunks(expected)
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _Refused(413)
            try:
                parts.append(decoder.feed(chunk) if decoder is not None else chunk)
            except mime.BodyError:
                async for rest in chunks:  # drop the rest, at most ``limit`` bytes
                    size += len(rest)
                    if size > limit:
                        break
                raise
        if decoder is not None:
            decoder.finish()
    finally:
        await chunks.aclose()
    return parts[0] if len(parts) == 1 else b"".join(parts)


# -- run ----------------------------------------------------------------------------------------------

async def _undecodable(node: Listener, proc: Process, body_error: Exception) -> Packet:
    """``error``'s answer to a body that did not decode; unhandled, the body's own status (400, 413, 415)."""
    failure = FlowError(str(body_error))
    answer = await node.error_port.send(proc, Packet(failure), Packet(failure))
    if answer.payload is failure:
        return Packet(mime.BodyError(str(body_error), getattr(body_error, "status", 400)))
    return answer


# -- answer -------------------------------------------------------------------------------------------

def _reply(node: Listener, answer: Packet, conn: Conn, header: dict[str, list[str]]) -> Reply:
    if answer is NONE:  # nothing answered: an empty 200, as Go's server writes when the handler writes nothing
        return _EMPTY
    result = answer.payload
    if isinstance(result, mime.BodyError):
        return error_response(result.status, str(result))
    if isinstance(result, BaseException):
        log.error("%s: %s %s: unhandled error: %s", node.label, conn.method, conn.path, result,
                  exc_info=result if not isinstance(result, FlowError) else None, extra=node.log_fields)
        return error_response(500)
    if type(result) is dict and hasattr(result.get("body"), "__aiter__"):
        return result  # a streaming body (an async iterator, e.g. the system plugin's ``watch``)
    try:
        return response(result, _first(header, "Accept"), _first(header, "Accept-Encoding"), conn.method == "HEAD")
    except Exception as exc:
        log.error("%s: cannot write the answer: %s", node.label, exc, exc_info=not isinstance(exc, RecursionError),
                  extra=node.log_fields)
        return error_response(500)


def _status(reply: Reply) -> int:
    return reply[0] if isinstance(reply, tuple) else int(reply.get("status") or 200)


async def _commit_failed(node: Listener, proc: Process, exc: Exception, conn: Conn,
                         header: dict[str, list[str]]) -> Reply:
    """The reply to a failed commit: what ``error`` answers to it, or 500."""
    failure = FlowError(f"commit failed: {exc}")
    answer = await node.error_port.send(proc, Packet(failure), Packet(failure))
    if answer.payload is failure:
        log.error("%s: %s", node.label, failure, extra=node.log_fields)
        return error_response(500)
    reply = _reply(node, answer, conn, header)
    if not isinstance(answer.payload, BaseException) and _status(reply) >= 400:
        _answered_error(node, conn, _status(reply), failure)
    return reply


async def _stream(node: Listener, reply: dict[str, Any], conn: Conn) -> int:
    """Write a streaming reply, raced against the client leaving; its status. Raises ``ClientGone``."""
    status, headers, body = streamed(reply)
    task = asyncio.current_task()
    node.streams.add(task)  # type: ignore[arg-type]
    try:
        written = await race(_write_stream(conn, status, headers, body, conn.method == "HEAD"), conn.disconnected,
                             node.running)
    finally:
        node.streams.discard(task)
    if not written:
        raise ClientGone
    return status


async def _write_stream(conn: Conn, status: int, headers: list[tuple[bytes, bytes]], body: Any, head: bool) -> bool:
    """``conn.stream`` whose body's iterator is closed (``aclose``) in every case, and which a cancel with
    ``END_STREAM`` (the listener draining) ends cleanly."""
    try:
        return await conn.stream(status, headers, body, head)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if exc.args != (END_STREAM,) or task is None:
            raise
        task.uncancel()
        await conn.end_stream()
        return True
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
