"""``python`` and ``python-isolated``: Python snippets compiled once under RestrictedPython.

The code is either **an expression over** ``self`` (the payload; ``self["x"] + 1`` — plain Python
semantics, so a map's keys are items, not attributes) or **a module that defines** ``main(self)``, which is
called with the payload. The return value must be a payload (None, bool, int, float, str, bytes, list,
dict, datetime; tuples become lists); anything else is a FlowError naming its type. An exception raised by
the snippet becomes a FlowError ``"TypeName: message"``.

Policy (RestrictedPython): no names starting with ``_``, guarded attribute access, no ``print``, no
``open``/``eval``/``exec``, and ``import`` only of these modules: :data:`ALLOWED_MODULES` (math, json, re,
datetime, …; not ``time``, ``os``, ``sys``). An imported module is a read-only copy of its public
functions, classes and constants — its own imports (``json.codecs``…) are not reachable.

``python`` is **trusted** code: it runs in the engine's process, inline on the event loop first, interrupted
by the watchdog of :mod:`portflow.lang._runtime` and then moved to a worker thread (see there). The policy
guards against mistakes, not attacks: a long C call (``re`` on a catastrophic pattern, ``10**10**8``)
cannot be interrupted in-process.

``python-isolated`` runs the same code, under the same policy, in a pool of subprocesses (spawned lazily,
:data:`ISOLATED_WORKERS` of them, each with an address-space limit of :data:`ISOLATED_MEMORY`). A call
past its timeout kills its subprocess, which is replaced on the next call. A call costs a pickle round trip
through a pipe (~100–200 µs), so use it for code you do not trust.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import hashlib
import importlib
import os
import operator
import threading
import types
from collections.abc import Callable
from typing import Any

from RestrictedPython import compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

from ..errors import CompileError, FlowError, FlowTimeout
from ._runtime import GuardedProgram, Interrupted, plain, run_watched, timeout_message

ALLOWED_MODULES = frozenset(
    {
        "base64", "bisect", "collections", "datetime", "decimal", "fractions", "functools", "hashlib",
        "heapq", "itertools", "json", "math", "operator", "random", "re", "statistics", "string", "uuid",
    }
)  # fmt: skip
"""Modules a snippet may import."""

_EXTRA_BUILTINS = (
    "all", "any", "bytes", "dict", "enumerate", "filter", "frozenset", "iter", "list", "map", "max", "min",
    "next", "reversed", "set", "sorted", "sum", "tuple", "zip", "format", "ascii", "bin", "type",
    "Exception", "StopIteration",
)  # fmt: skip


# --- policy --------------------------------------------------------------------------------------------


class module(types.SimpleNamespace):  # noqa: N801 - named like the type it stands for, in messages
    """A read-only-by-policy copy of an allowed module's public names."""


def _module_copy(name: str) -> types.SimpleNamespace:
    original = importlib.import_module(name)
    public = getattr(original, "__all__", None) or [n for n in dir(original) if not n.startswith("_")]
    ns = module()
    for attr in public:
        value = getattr(original, attr, None)
        if value is None and not hasattr(original, attr):
            continue
        if isinstance(value, types.ModuleType):
            continue
        setattr(ns, attr, value)
    return ns


_modules: dict[str, types.SimpleNamespace] = {}
_modules_lock = threading.Lock()


def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level != 0 or name not in ALLOWED_MODULES:
        raise ImportError(f"import of {name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_MODULES))})")
    ns = _modules.get(name)
    if ns is None:
        with _modules_lock:
            ns = _modules.get(name) or _module_copy(name)
            _modules[name] = ns
    return ns


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
    "@=": operator.imatmul,
}  # fmt: skip


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    return _INPLACE[op](x, y)


_MISSING = object()


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    """RestrictedPython's safer_getattr, but a missing attribute raises AttributeError (not None)."""
    if default:
        return safer_getattr(obj, name, default[0])
    value = safer_getattr(obj, name, _MISSING)
    if value is _MISSING:
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return value


def _globals() -> dict[str, Any]:
    b = dict(safe_builtins)
    for name in _EXTRA_BUILTINS:
        b[name] = getattr(builtins, name)
    b["__import__"] = _import
    return {
        "__builtins__": b,
        "__name__": "snippet",
        "__metaclass__": type,
        "_getattr_": _getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_apply_": lambda f, *a, **kw: f(*a, **kw),
    }


def compile_main(code: str) -> Callable[[Any], Any]:
    """Compile ``code`` (an expression over ``self``, or a module defining ``main``) to a function."""
    try:
        ast.parse(code, "<snippet>", "eval")
        source = "def main(self):\n    return (\n" + code + "\n    )\n"
        shift = 2
    except SyntaxError:
        try:
            ast.parse(code, "<snippet>", "exec")
        except SyntaxError as e:
            where = f" at {e.lineno}:{e.offset}" if e.lineno else ""
            raise CompileError(f"python: {e.msg}{where}") from None
        source, shift = code, 0
    result = compile_restricted_exec(source, "<snippet>")
    if result.errors:
        message = result.errors[0]
        if shift and message.startswith("Line "):
            head, _, rest = message.partition(":")
            try:
                message = f"Line {int(head[5:]) - shift}:{rest}"
            except ValueError:
                pass
        raise CompileError(f"python: {message}")
    namespace = _globals()
    try:
        exec(result.code, namespace)  # noqa: S102 - restricted code, the point of this module
    except Exception as e:
        raise CompileError(f"python: {_describe(e)}") from None
    main = namespace.get("main")
    if not callable(main):
        raise CompileError("python: the code must be an expression over self, or define main(self)")
    return main  # type: ignore[no-any-return]


def _describe(e: BaseException) -> str:
    message = str(e)
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


# --- trusted: in-process -------------------------------------------------------------------------------


class PythonProgram(GuardedProgram):
    __slots__ = ("main",)

    def __init__(self, main: Callable[[Any], Any], timeout: float | None) -> None:
        super().__init__(timeout)
        self.main = main

    def _call(self, payload: Any) -> Any:
        try:
            return plain(self.main(payload))
        except FlowError:
            raise
        except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as e:
            raise FlowError(_describe(e)) from None

    def run_inline(self, payload: Any) -> Any:
        return run_watched(self._call, payload, self.slice)

    def run_worker(self, payload: Any) -> Any:
        try:
            return run_watched(self._call, payload, self.timeout)
        except Interrupted:
            raise FlowTimeout(timeout_message(self.timeout)) from None


class Python:
    name = "python"

    def compile(self, code: str, *, timeout: float | None = None) -> PythonProgram:
        return PythonProgram(compile_main(code), timeout)


# --- isolated: a subprocess pool ----------------------------------------------------------------------

ISOLATED_WORKERS = 2
"""Subprocesses of the ``python-isolated`` pool."""

ISOLATED_MEMORY = 512 * 1024 * 1024
"""Address-space limit (bytes) of each isolated subprocess (RLIMIT_AS, where the OS has it)."""


def _serve() -> None:  # the subprocess: python -c "from portflow.lang.python import _serve; _serve()"
    import pickle
    import struct
    import sys

    memory = int(os.environ.get("PORTFLOW_ISOLATED_MEMORY", ISOLATED_MEMORY))
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):
        pass
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    _globals()  # import RestrictedPython before saying ready
    stdout.write(b"R")
    stdout.flush()
    cache: dict[str, Callable[[Any], Any]] = {}
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        key, code, payload = pickle.loads(stdin.read(struct.unpack("!I", head)[0]))
        try:
            main = cache.get(key)
            if main is None:
                main = cache[key] = compile_main(code)
            reply: tuple[str, Any] = ("ok", plain(main(payload)))
        except (FlowError, CompileError) as e:
            reply = ("error", str(e))
        except BaseException as e:  # noqa: BLE001 - everything the snippet raises is its answer
            reply = ("error", _describe(e))
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001
            data = pickle.dumps(("error", f"cannot send the result: {_describe(e)}"))
        stdout.write(struct.pack("!I", len(data)) + data)
        stdout.flush()


class _Worker:
    """One subprocess, spoken to with length-prefixed pickles over its stdin/stdout."""

    def __init__(self) -> None:
        import subprocess
        import sys

        env = dict(os.environ, PORTFLOW_ISOLATED_MEMORY=str(ISOLATED_MEMORY))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from portflow.lang.python import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        os.set_blocking(self.stdout.fileno(), True)
        if self.stdout.read(1) != b"R":
            self.kill()
            raise FlowError("python-isolated: the subprocess did not start")
        self.fd = self.stdout.fileno()
        self.buffer = b""

    def send(self, message: Any) -> None:
        import pickle
        import struct

        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self.stdin.write(struct.pack("!I", len(data)) + data)
        self.stdin.flush()

    def feed(self) -> Any:
        """Read what is available (the fd is readable); return the reply once complete, else a sentinel."""
        import pickle
        import struct

        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            raise EOFError("end of file")
        self.buffer += chunk
        if len(self.buffer) >= 4:
            size = struct.unpack("!I", self.buffer[:4])[0]
            if len(self.buffer) >= 4 + size:
                data, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
                return pickle.loads(data)
        return _PENDING

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(1)
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass


_PENDING = object()


class _Pool:
    """Idle subprocesses; a call borrows one, a timeout kills it."""

    def __init__(self, size: int) -> None:
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.free = threading.Semaphore(size)

    def acquire(self) -> _Worker:
        self.free.acquire()
        with self.lock:
            if self.idle:
                return self.idle.pop()
        try:
            return _Worker()
        except BaseException:
            self.free.release()
            raise

    def release(self, worker: _Worker | None) -> None:
        if worker is not None:
            with self.lock:
                self.idle.append(worker)
        self.free.release()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _isolated_pool() -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _Pool(ISOLATED_WORKERS)
        return _pool


class IsolatedProgram:
    """A Python snippet run in a subprocess; the timeout counts from the moment a subprocess is ready."""

    __slots__ = ("code", "key", "timeout")

    def __init__(self, code: str, timeout: float | None) -> None:
        from ._runtime import DEFAULT_TIMEOUT

        self.code = code
        self.key = hashlib.sha256(code.encode()).hexdigest()
        self.timeout = DEFAULT_TIMEOUT if timeout is None or timeout <= 0 else float(timeout)

    async def __call__(self, payload: Any) -> Any:
        loop = asyncio.get_running_loop()
        pool = _isolated_pool()
        worker: _Worker | None = await loop.run_in_executor(None, pool.acquire)
        assert worker is not None
        reply: Any = _PENDING
        try:
            try:
                worker.send((self.key, self.code, payload))
            except Exception as e:
                raise FlowError(f"python-isolated: cannot send the payload: {_describe(e)}") from None
            done = loop.create_future()

            def readable() -> None:
                nonlocal reply
                if done.done():
                    return
                try:
                    reply = worker.feed()  # type: ignore[union-attr]
                except BaseException as e:  # noqa: BLE001
                    done.set_exception(e)
                    return
                if reply is not _PENDING:
                    done.set_result(None)

            loop.add_reader(worker.fd, readable)
            try:
                await asyncio.wait_for(done, self.timeout)
            finally:
                loop.remove_reader(worker.fd)
        except (asyncio.TimeoutError, TimeoutError):
            worker.kill()
            worker = None
            raise FlowTimeout(timeout_message(self.timeout)) from None
        except (EOFError, OSError) as e:
            worker.kill()
            worker = None
            raise FlowError(f"python-isolated: the subprocess died ({_describe(e)})") from None
        except BaseException:
            worker.kill()
            worker = None
            raise
        finally:
            pool.release(worker)
        status, value = reply
        if status == "ok":
            return value
        raise FlowError(value)


class IsolatedPython:
    name = "python-isolated"

    def compile(self, code: str, *, timeout: float | None = None) -> IsolatedProgram:
        compile_main(code)  # report compile errors now, in this process
        return IsolatedProgram(code, timeout)


__all__ = ["ALLOWED_MODULES", "IsolatedPython", "Python", "PythonProgram", "compile_main"]
