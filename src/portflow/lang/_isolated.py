"""The subprocess pool behind ``python-isolated``: a boundary, not only a timeout.

**What the child gets.** ``python -I -c ...`` with an *empty* environment (no ``PORTFLOW_DATABASE_URL``,
no ``PATH``), ``cwd=/``, no inherited descriptors beyond its stdin/stdout pipes (stderr is /dev/null), and
before it says ready: resource limits — address space :data:`MEMORY` (RLIMIT_AS), CPU seconds (RLIMIT_CPU:
each request's soft limit is the CPU used so far plus its timeout, the hard limit :data:`CPU_SECONDS` over
the child's life, after which it dies and is replaced), :data:`OPEN_FILES` descriptors (RLIMIT_NOFILE), no
file writes (RLIMIT_FSIZE=0), no new processes (RLIMIT_NPROC=0) — and, when started as root, it drops to
uid/gid :data:`UNPRIVILEGED` (nobody) with no supplementary groups.

**The framing** is data only, both ways: a 4-byte big-endian length, then a msgpack array (msgspec).
A request is ``[id, key, code, timeout, payload]``; a reply ``[id, ok, value]``. The parent never unpickles
anything: it decodes msgpack into plain values, checks the id against the request it sent, and refuses a
frame that is longer than :data:`MAX_REPLY`, malformed, or answers another id — it then kills the child
(a fresh one serves the next call) and the call answers a FlowError. Reading is linear: the length is read
first and the body lands in one preallocated buffer.

Values cross as msgpack: None, bool, int, float, str, bytes, lists, maps and aware datetimes keep their
type; a naive datetime, a date or a timedelta arrives as its ISO 8601 string; an error payload as its
message.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from ..errors import FlowError, FlowTimeout

WORKERS = 2
"""Subprocesses in the pool."""

MEMORY = 512 * 1024 * 1024
"""Address-space limit (bytes) of each child (RLIMIT_AS)."""

CPU_SECONDS = 600
"""CPU seconds a child may use over its life (RLIMIT_CPU hard limit); then it is replaced."""

OPEN_FILES = 16
"""Descriptors a child may hold (RLIMIT_NOFILE)."""

MAX_REPLY = 64 * 1024 * 1024
"""Largest reply frame (bytes) the parent accepts; a longer one is refused and the child killed."""

MAX_REQUEST = 1024 * 1024 * 1024
"""Largest request frame (bytes) the child accepts."""

UNPRIVILEGED = 65534
"""uid and gid a child started as root switches to (nobody/nogroup)."""

_HEAD = struct.Struct("!I")


def _enc_hook(value: Any) -> Any:
    if isinstance(value, BaseException):
        return str(value)
    raise NotImplementedError(f"a {type(value).__name__} cannot travel as a payload")


_encode = msgspec.msgpack.Encoder(enc_hook=_enc_hook).encode
_decode = msgspec.msgpack.Decoder().decode


# --- the child -----------------------------------------------------------------------------------------


def _limit(child_memory: int) -> None:
    import resource

    used = int(sum(resource.getrusage(resource.RUSAGE_SELF)[:2])) + 1
    for what, value in (
        (resource.RLIMIT_AS, child_memory),
        (resource.RLIMIT_CPU, CPU_SECONDS + used),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_NPROC, 0),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(what, (value, value))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(UNPRIVILEGED)
        os.setuid(UNPRIVILEGED)


def _read_exactly(stream: Any, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(run: Callable[[str, str, Any], Any], memory: int) -> None:
    """The child's loop: limits, privileges, then one reply per request until stdin closes."""
    import resource

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    _limit(memory)
    stdout.write(b"R")
    stdout.flush()
    while True:
        head = _read_exactly(stdin, 4)
        if head is None:
            return
        (size,) = _HEAD.unpack(head)
        body = _read_exactly(stdin, size) if size <= MAX_REQUEST else None
        if body is None:
            return
        rid, key, code, timeout, payload = _decode(body)
        used = int(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))
        soft = min(used + int(timeout) + 2, resource.getrlimit(resource.RLIMIT_CPU)[1])
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
        try:
            data = _encode([rid, True, run(key, code, payload)])
        except FlowError as e:
            data = _encode([rid, False, str(e)])
        except BaseException as e:  # noqa: BLE001 - everything the snippet raises is its answer
            message = str(e)
            data = _encode([rid, False, f"{type(e).__name__}: {message}" if message else type(e).__name__])
        stdout.write(_HEAD.pack(len(data)) + data)
        stdout.flush()


# --- the parent ----------------------------------------------------------------------------------------


class Refused(Exception):
    """A child sent a frame the parent does not accept."""


class Worker:
    """One child, spoken to with length-prefixed msgpack frames over its stdin/stdout."""

    def __init__(self, argv: Sequence[str], max_reply: int = MAX_REPLY) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={}, cwd="/", close_fds=True,
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.fd = self.stdout.fileno()
        self.max_reply = max_reply
        self.next_id = 0
        self.rid = -1
        self.head = bytearray()
        self.body: bytearray | None = None
        self.got = 0
        if os.read(self.fd, 1) != b"R":
            self.kill()
            raise FlowError("python-isolated: the subprocess did not start")
        os.set_blocking(self.fd, False)

    def send(self, key: str, code: str, timeout: float, payload: Any) -> None:
        self.next_id += 1
        self.rid = self.next_id
        data = _encode([self.rid, key, code, timeout, payload])
        self.head, self.body, self.got = bytearray(), None, 0
        self.stdin.write(_HEAD.pack(len(data)) + data)
        self.stdin.flush()

    def feed(self) -> tuple[bool, Any] | None:
        """Read what is readable; return ``(ok, value)`` once the reply is complete, else None."""
        if self.body is None:
            chunk = os.read(self.fd, 4 - len(self.head))
            if not chunk:
                raise EOFError("end of file")
            self.head += chunk
            if len(self.head) < 4:
                return None
            (size,) = _HEAD.unpack(self.head)
            if size > self.max_reply:
                raise Refused(f"a reply of {size} bytes is more than the limit of {self.max_reply}")
            self.body = bytearray(size)
        view = memoryview(self.body)
        while self.got < len(self.body):
            try:
                n = os.readv(self.fd, [view[self.got :]])
            except BlockingIOError:
                return None
            if n == 0:
                raise EOFError("end of file")
            self.got += n
        return self._reply(self.body)

    def _reply(self, body: bytes | bytearray) -> tuple[bool, Any]:
        try:
            reply = _decode(body)
        except msgspec.DecodeError as e:
            raise Refused(f"a malformed reply ({e})") from None
        if type(reply) is not list or len(reply) != 3 or type(reply[1]) is not bool:
            raise Refused("a reply that is not [id, ok, value]")
        if reply[0] != self.rid:
            raise Refused(f"a reply to request {reply[0]!r}, not {self.rid}")
        if not reply[1] and type(reply[2]) is not str:
            raise Refused("an error reply without a message")
        return reply[1], reply[2]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass


class Pool:
    """Idle children; a call borrows one, a timeout or a refused frame kills it."""

    def __init__(self, size: int, argv: Sequence[str], max_reply: int = MAX_REPLY) -> None:
        self.argv = list(argv)
        self.max_reply = max_reply
        self.idle: list[Worker] = []
        self.lock = threading.Lock()
        self.free = threading.Semaphore(size)

    def acquire(self) -> Worker:
        self.free.acquire()
        with self.lock:
            if self.idle:
                return self.idle.pop()
        try:
            return Worker(self.argv, self.max_reply)
        except BaseException:
            self.free.release()
            raise

    def release(self, worker: Worker | None) -> None:
        if worker is not None:
            with self.lock:
                self.idle.append(worker)
        self.free.release()

    async def call(self, key: str, code: str, payload: Any, timeout: float, what: str) -> Any:
        """Run one request on a child; FlowTimeout past ``timeout`` (counted once a child is ready)."""
        loop = asyncio.get_running_loop()
        worker: Worker | None = await loop.run_in_executor(None, self.acquire)
        assert worker is not None
        try:
            ok, value = await _exchange(loop, worker, key, code, payload, timeout, what)
        except BaseException:
            worker.kill()
            worker = None
            raise
        finally:
            self.release(worker)
        if ok:
            return value
        raise FlowError(value)


async def _exchange(loop: asyncio.AbstractEventLoop, worker: Worker, key: str, code: str, payload: Any,
                    timeout: float, what: str) -> tuple[bool, Any]:  # fmt: skip
    from ._runtime import timeout_message

    try:
        worker.send(key, code, timeout, payload)
    except (TypeError, NotImplementedError, OverflowError) as e:
        raise FlowError(f"{what}: cannot send the payload: {e}") from None
    done: asyncio.Future[tuple[bool, Any]] = loop.create_future()

    def readable() -> None:
        if done.done():
            return
        try:
            reply = worker.feed()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            done.set_exception(e)
            return
        if reply is not None:
            done.set_result(reply)

    loop.add_reader(worker.fd, readable)
    try:
        return await asyncio.wait_for(done, timeout)
    except TimeoutError:
        raise FlowTimeout(timeout_message(timeout)) from None
    except Refused as e:
        raise FlowError(f"{what}: refused the subprocess's reply: {e}") from None
    except (EOFError, OSError) as e:
        raise FlowError(f"{what}: the subprocess died ({type(e).__name__}: {e})") from None
    finally:
        loop.remove_reader(worker.fd)


def child_argv(module: str, memory: int = MEMORY) -> list[str]:
    """The command that starts a child serving ``module.serve_isolated`` (python-isolated, CEL)."""
    return [sys.executable, "-I", "-c", f"from {module} import serve_isolated; serve_isolated({int(memory)})"]


class Program:
    """Code run in a child of ``pool``; the timeout counts from the moment a child is ready."""

    __slots__ = ("code", "key", "timeout", "pool", "language")

    def __init__(self, code: str, timeout: float | None, pool: Pool, language: str) -> None:
        from ._runtime import DEFAULT_TIMEOUT

        self.code = code
        self.key = hashlib.sha256(code.encode()).hexdigest()
        self.timeout = DEFAULT_TIMEOUT if timeout is None or timeout <= 0 else float(timeout)
        self.pool = pool
        self.language = language

    async def __call__(self, payload: Any) -> Any:
        return await self.pool.call(self.key, self.code, payload, self.timeout, self.language)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r})"
