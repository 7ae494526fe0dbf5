"""``python`` and ``python-isolated``: Python snippets compiled once under RestrictedPython.

The code is either **an expression over** ``self`` (the payload; ``self["x"] + 1`` — plain Python
semantics, so a map's keys are items, not attributes) or **a module that defines** ``main(self)``, which is
called with the payload. The return value must be a payload (None, bool, int, float, str, bytes, list,
dict, datetime; tuples become lists); anything else is a FlowError naming its type. An exception raised by
the snippet becomes a FlowError ``"TypeName: message"``.

Policy (RestrictedPython): no names starting with ``_``, guarded attribute access (no frame, code or
generator internals), no ``print``, no ``open``/``eval``/``exec``/``getattr``, no ``str.format``/
``format_map``/``string.Formatter`` (they walk attributes), and ``import`` only of these modules:
:data:`ALLOWED_MODULES` (math, json, re, datetime, …; not ``operator``, whose ``attrgetter`` walks around the
guard, nor ``time``, ``os``, ``sys``). An imported module is a read-only copy of its public functions,
classes and constants — its own imports (``json.codecs``…) are not reachable.

``python`` is **trusted** code: it runs in the engine's process, inline on the event loop first, interrupted
by the watchdog of :mod:`portflow.lang._runtime` and then moved to a worker thread (see there). The policy
guards against mistakes, not attacks: a long C call (``re`` on a catastrophic pattern, ``10**10**8``)
cannot be interrupted in-process, and an escape from the policy reaches the whole engine.

``python-isolated`` is for code you do **not** trust. The same code, under the same policy, runs in a pool
of subprocesses that are a boundary of their own (:mod:`portflow.lang._isolated`): an empty environment, no
inherited descriptors, resource limits, an unprivileged uid when the engine runs as root, and a data-only
reply framing the engine checks. A call past its timeout kills its subprocess, which is replaced on the
next call. A call costs a msgpack round trip through a pipe (~100–200 µs).
"""

from __future__ import annotations

import ast
import builtins
import importlib
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
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from ..errors import CompileError, FlowError, FlowTimeout
from . import _isolated
from ._runtime import GuardedProgram, Interrupted, plain, run_watched, timeout_message

ALLOWED_MODULES = frozenset(
    {
        "base64", "bisect", "collections", "datetime", "decimal", "fractions", "functools", "hashlib",
        "heapq", "itertools", "json", "math", "random", "re", "statistics", "string", "uuid",
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


_INTERNAL = frozenset({"_strptime"})  # imported by datetime's C code; a snippet cannot name it (a "_" name)


def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level == 0 and name in _INTERNAL:
        return importlib.import_module(name)
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


def _plain_methods(kind: type) -> frozenset[str]:
    """The public methods of a payload type that ``safer_getattr`` lets through (all but ``format*``)."""
    return frozenset(n for n in dir(kind) if not n.startswith("_") and n not in ("format", "format_map")
                     and n not in INSPECT_ATTRIBUTES)


#: Attributes of the payload types read without ``safer_getattr``'s checks, which pass them all: a method
#: on a string, a list or a map is most of the attribute reads a snippet makes (``t.upper()``).
_PLAIN_METHODS = {kind: _plain_methods(kind) for kind in (str, list, dict, bytes)}


def _getattr(obj: Any, name: str, *default: Any) -> Any:
    """RestrictedPython's safer_getattr, but a missing attribute raises AttributeError (not None)."""
    methods = _PLAIN_METHODS.get(type(obj))
    if methods is not None and name in methods:
        return getattr(obj, name)
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
    if result.code is None:
        raise CompileError("python: the code did not compile")
    namespace = _globals()
    try:
        exec(result.code, namespace)  # noqa: S102 - restricted code, the point of this module
    except Exception as e:  # noqa: BLE001 - whatever the module body raises is the user's error
        raise CompileError(f"python: {_describe(e)}") from None
    main = namespace.get("main")
    if not callable(main):
        raise CompileError("python: the code must be an expression over self, or define main(self)")
    return main


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
        except (Exception, SystemExit, KeyboardInterrupt, GeneratorExit) as e:  # noqa: BLE001 - errors are data
            raise FlowError(_describe(e)) from None

    def run_inline(self, payload: Any) -> Any:
        return run_watched(self._call, payload, self.slice, cpu=True)

    def run_worker(self, payload: Any) -> Any:
        try:
            return run_watched(self._call, payload, self.timeout)
        except Interrupted:
            raise FlowTimeout(timeout_message(self.timeout)) from None


class Python:
    name = "python"

    def compile(self, code: str, *, timeout: float | None = None) -> PythonProgram:
        return PythonProgram(compile_main(code), timeout)


# --- isolated: a subprocess pool (see portflow.lang._isolated) ------------------------------------------

_cache: dict[str, Callable[[Any], Any]] = {}


def _run_isolated(key: str, code: str, payload: Any) -> Any:
    main = _cache.get(key)
    if main is None:
        main = _cache[key] = compile_main(code)
    return plain(main(payload))


def serve_isolated(memory: int) -> None:  # the child: python -I -c "...; serve_isolated(MEMORY)"
    """Run in a ``python-isolated`` child: import everything a snippet may use, then serve requests."""

    _globals()
    for name in ALLOWED_MODULES | _INTERNAL:
        _import(name)
    _isolated.serve(_run_isolated, memory)


class IsolatedProgram(_isolated.Program):
    """A Python snippet run in a ``python-isolated`` child."""

    __slots__ = ()

    def __init__(self, code: str, timeout: float | None) -> None:
        super().__init__(code, timeout, _POOL, "python-isolated")


#: The python-isolated children (started on first use, one at a time up to WORKERS).
_POOL = _isolated.Pool(_isolated.WORKERS, _isolated.child_argv("portflow.lang.python"))


class IsolatedPython:
    name = "python-isolated"

    def compile(self, code: str, *, timeout: float | None = None) -> IsolatedProgram:
        compile_main(code)  # report compile errors now, in this process
        return IsolatedProgram(code, timeout)


__all__ = ["ALLOWED_MODULES", "IsolatedPython", "Python", "PythonProgram", "compile_main"]
