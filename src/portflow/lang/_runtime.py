"""How snippets run without stalling the event loop: inline first, a watchdog, then a worker thread.

The problem: a snippet runs once per packet and most snippets take a microsecond, so a thread-pool hop
(20–40 µs) would dominate; but a snippet that spins forever must not stall the event loop, and every call
must end by its ``timeout``.

The design:

1. **Inline first.** A :class:`GuardedProgram` runs its snippet directly on the calling thread (the event
   loop's) under a short *slice* (:data:`INLINE_SLICE`, 20 ms, or the timeout when that is shorter).
2. **A watchdog interrupts a call that overruns its slice.** Python code (Python snippets, the Python
   helpers of CEL) is interrupted by one watchdog thread with ``PyThreadState_SetAsyncExc``; JavaScript is
   interrupted by QuickJS's own time limit (the JS program sets the limit to the slice). The watchdog costs
   nothing per call: a call publishes ``(token, deadline)`` in its thread's slot (two attribute writes) and
   the watchdog polls the slots every :data:`WATCHDOG_TICK`. An inline slice counts the thread's *CPU*
   time (read by the watchdog from the thread's CPU clock, from when it first sees the call), so a process
   the OS merely descheduled on a busy machine is not mistaken for a slow snippet and demoted.
3. **Demotion.** An interrupted inline call is re-run on a worker thread of a small dedicated pool; after
   :data:`DEMOTE_AFTER` (3) such interruptions the Program is *demoted*: every later call runs on a worker
   (the first interruptions may be the OS descheduling a busy process, not the snippet's fault). On a worker
   the real timeout is enforced the same way (async exception / QuickJS time limit), plus an asyncio-level
   deadline as a backstop for code stuck in C. The loop keeps serving other requests meanwhile. Demotion is sticky for the life of
   the Program (recompile to reset). The interrupted call is **re-run from the start** on the worker, so
   snippets must be pure (side effects of the interrupted attempt are not undone) — they are by contract: a
   snippet maps a payload to a result. The re-run gets the full timeout, so the worst-case wall time of a
   call is ``timeout + INLINE_SLICE``; a call that already ran past ``timeout`` inline is not re-run, it ends
   with :class:`FlowTimeout` at once.
4. **Without a timeout** the default :data:`DEFAULT_TIMEOUT` (30 s) applies, so nothing runs forever.

The async-exception handshake is race-free: the watchdog first publishes ``fired = token`` and only then,
if the slot still holds that token, raises; the caller clears its token and only then reads ``fired``.
Under the GIL one of them always sees the other's write, so when the caller sees ``fired == token`` it waits
for the watchdog to finish and clears any exception still pending (``SetAsyncExc(tid, NULL)``) before it
returns to the event loop; an exception can never land in unrelated loop code. A call whose token was fired
discards its outcome (even a normal return: CEL, say, turns the exception raised in a helper into an error
value) and is demoted.

Limits: an async exception is only seen between bytecodes, so a long *C* call (``re`` on a catastrophic
pattern, ``10**10**8``) cannot be interrupted. Inline, it blocks the loop until it returns (then the call is
demoted, or ends with FlowTimeout if it ran past the timeout); on a worker, the caller still gets its
FlowTimeout on time and the worker thread stays busy until the C call returns. Code that is not trusted
belongs in ``python-isolated``, which runs in a killable subprocess.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import datetime as _dt
import itertools
import threading
import time
from collections.abc import Callable
from types import CoroutineType
from typing import Any

from ..errors import FlowError, FlowTimeout

DEFAULT_TIMEOUT = 30.0
"""Seconds a snippet may run when its spec sets no ``timeout``."""

INLINE_SLICE = 0.02
"""Seconds an inline call may hold the event loop before it is interrupted and moved to a worker."""

WATCHDOG_TICK = 0.005
"""How often the watchdog looks at the running calls."""

DEMOTE_AFTER = 3
"""Interrupted inline calls after which a Program runs on workers for good (one can be the OS's doing)."""

DEOPTS_TO_DROP = 64
"""Calls handed back by a compiled fast path (CEL's, JavaScript's) after which one that hands back more
calls than it answers is dropped (:class:`FastPathTally`)."""

BACKSTOP_GRACE = 0.05
"""Extra seconds the asyncio side waits for a worker before answering FlowTimeout itself."""

WORKER_THREADS = 4
"""Threads of the pool that runs demoted Programs."""

_monotonic = time.monotonic
_tokens = itertools.count(1)
_SetAsyncExc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_SetAsyncExc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class Interrupted(BaseException):
    """Raised by the watchdog inside a call that ran past its deadline. Never escapes this package."""


def timeout_message(timeout: float) -> str:
    return f"timeout after {timeout:g}s"


class _Slot:
    """One thread's running call, as the watchdog sees it."""

    __slots__ = ("tid", "token", "deadline", "fired", "busy", "budget", "clock", "seen", "cpu_start")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.token = 0  # the running call's token, 0 when idle
        self.deadline = 0.0
        self.fired = 0  # the last token the watchdog fired at
        self.busy = False  # the watchdog is between publishing `fired` and finishing SetAsyncExc
        self.budget = 0.0  # > 0: the call is an inline slice, ended only once its thread used that much CPU
        self.clock = _cpu_clock()  # this thread's CPU clock (None where there is none)
        self.seen = 0  # the last token the watchdog saw running, and the thread's CPU time then
        self.cpu_start = 0.0


class _Watchdog:
    def __init__(self) -> None:
        self.slots: list[_Slot] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def slot(self) -> _Slot:
        slot = _Slot(threading.get_ident())
        with self.lock:
            self.slots = [s for s in self.slots if _alive(s.tid)] + [slot]
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="portflow-snippet-watchdog", daemon=True)
                self.thread.start()
        return slot

    def run(self) -> None:
        sleep = time.sleep
        while True:
            sleep(WATCHDOG_TICK)
            now = _monotonic()
            for slot in self.slots:
                token = slot.token
                if token and slot.budget and slot.clock is not None and not _used_budget(slot, token):
                    continue  # an inline slice: the thread was descheduled, not busy (a loaded machine)
                if token and now > slot.deadline:
                    slot.busy = True
                    slot.fired = token
                    if slot.token == token:
                        _SetAsyncExc(slot.tid, Interrupted)
                    slot.busy = False


def _cpu_clock() -> int | None:
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):  # not on this platform: wall time only
        return None


def _used_budget(slot: _Slot, token: int) -> bool:
    """Whether the call ``token`` has used its CPU budget, counted from when the watchdog first saw it
    (at most one tick after it began)."""
    try:
        used = time.clock_gettime(slot.clock)  # type: ignore[arg-type]
    except OSError:
        return True
    if slot.seen != token:
        slot.seen, slot.cpu_start = token, used
        return False
    return used - slot.cpu_start >= slot.budget - WATCHDOG_TICK


def _alive(tid: int) -> bool:
    return any(t.ident == tid for t in threading.enumerate())


_watchdog = _Watchdog()
_local = threading.local()


def _slot() -> _Slot:
    try:
        return _local.slot
    except AttributeError:
        _local.slot = slot = _watchdog.slot()
        return slot


def _settle(slot: _Slot) -> None:
    """The watchdog fired at our call: wait until it is done, then drop any exception still pending."""
    while slot.busy:
        time.sleep(0.0001)
    _SetAsyncExc(slot.tid, None)


def run_watched(fn: Callable[[Any], Any], payload: Any, seconds: float, cpu: bool = False) -> Any:
    """Call ``fn(payload)`` on this thread; raise :class:`Interrupted` if it runs past ``seconds``.

    With ``cpu`` (an inline slice), the call is interrupted only once it has also used ``seconds`` of its
    thread's CPU time, so that a busy machine descheduling the process does not demote a quick snippet.
    Only Python bytecode is interrupted (see the module docstring).
    """
    slot = _slot()
    token = next(_tokens)
    slot.deadline = _monotonic() + seconds
    slot.budget = seconds if cpu else 0.0
    slot.token = token
    try:
        try:
            result = fn(payload)
        finally:
            slot.token = 0
            if slot.fired == token:
                _settle(slot)
    except Interrupted:
        raise
    except BaseException:
        if slot.fired == token:
            raise Interrupted from None
        raise
    if slot.fired == token:
        raise Interrupted
    return result


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def worker_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                old = threading.stack_size()
                threading.stack_size(8 * 1024 * 1024)  # QuickJS wants glibc's default stack on every OS
                try:
                    _pool = concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, "portflow-snippet")
                finally:
                    threading.stack_size(old)
    return _pool


class FastPathTally:
    """What a compiled fast path did: calls it answered, and calls it handed back (*deopted*) to the
    language's own engine. One that mostly hands back only costs: :meth:`deopted` says when to drop it."""

    __slots__ = ("answered", "deopts")

    def __init__(self) -> None:
        self.answered = self.deopts = 0

    def deopted(self) -> bool:
        """One more call handed back; True when the fast path should be dropped (past
        :data:`DEOPTS_TO_DROP` of them, and more than it answered)."""
        self.deopts += 1
        return self.deopts >= DEOPTS_TO_DROP and self.deopts > self.answered


class GuardedProgram:
    """A compiled snippet that runs inline, is interrupted after a slice, and then runs on workers.

    Subclasses implement :meth:`run_inline` (raise :class:`Interrupted` when the slice ran out) and
    :meth:`run_worker` (raise :class:`FlowTimeout` when ``timeout`` ran out); both run synchronously on the
    calling thread and raise :class:`FlowError` for the snippet's own failures.
    """

    __slots__ = ("timeout", "slice", "demoted", "strikes", "__weakref__")

    def __init__(self, timeout: float | None) -> None:
        self.timeout = DEFAULT_TIMEOUT if timeout is None or timeout <= 0 else float(timeout)
        self.slice = min(INLINE_SLICE, self.timeout)
        self.demoted = False
        self.strikes = 0

    def run_inline(self, payload: Any) -> Any:
        raise NotImplementedError

    def run_worker(self, payload: Any) -> Any:
        raise NotImplementedError

    def call(self, payload: Any) -> Any:
        """The fast path: the result itself when the call ran inline, else an awaitable of it (the call
        moved to a worker thread)."""
        if not self.demoted:
            started = _monotonic()
            try:
                return self.run_inline(payload)
            except Interrupted:
                self.strikes += 1
                if self.strikes >= DEMOTE_AFTER:
                    self.demoted = True
                if _monotonic() - started >= self.timeout:
                    raise FlowTimeout(timeout_message(self.timeout)) from None
        return self.call_worker(payload)

    async def __call__(self, payload: Any) -> Any:
        result = self.call(payload)
        if type(result) is CoroutineType:
            return await result
        return result

    async def call_worker(self, payload: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(worker_pool(), self.run_worker, payload)
        try:
            return await asyncio.wait_for(future, self.timeout + BACKSTOP_GRACE)
        except TimeoutError:
            raise FlowTimeout(timeout_message(self.timeout)) from None

    def call_sync(self, payload: Any) -> Any:
        """Run once on this thread under the full timeout (for callers without an event loop)."""
        return self.run_worker(payload)


# --- payloads ------------------------------------------------------------------------------------------

_SCALARS = frozenset((type(None), bool, int, float, str, bytes, _dt.datetime))


def plain(value: Any, what: str = "snippet") -> Any:
    """Check that ``value`` can travel as a payload; tuples become lists, bytearrays bytes.

    Anything else (a function, a set, an arbitrary object) raises FlowError naming its type.
    """
    t = type(value)
    if t in _SCALARS:
        return value
    if t is dict:
        for k, v in value.items():
            if type(k) not in _SCALARS:
                raise FlowError(f"{what} returned a map key of type {_type_name(k)}, which cannot travel as a payload")
            if type(v) not in _SCALARS and plain(v, what) is not v:  # rebuilt only when something changes
                return {k: plain(v, what) for k, v in value.items()}
        return value
    if t is list:
        for v in value:
            if type(v) not in _SCALARS and plain(v, what) is not v:
                return [plain(v, what) for v in value]
        return value
    if t is tuple:
        return [plain(v, what) for v in value]
    if t is bytearray:
        return bytes(value)
    if isinstance(value, (_dt.date, _dt.time, _dt.timedelta)):
        return value
    if isinstance(value, dict):
        return {k: plain(v, what) for k, v in value.items()}
    raise FlowError(f"{what} returned a {_type_name(value)}, which cannot travel as a payload")


def _type_name(value: Any) -> str:
    if callable(value) and not isinstance(value, type):
        return "function"
    return type(value).__name__
