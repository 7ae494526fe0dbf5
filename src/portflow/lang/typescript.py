"""``typescript`` (``ts``): snippets in TypeScript, made JavaScript by the TypeScript compiler, then run as
``javascript`` snippets are (QuickJS, same limits, same export forms).

The compiler is TypeScript's own (npm ``typescript``, pinned by ``js/package-lock.json``; ``make`` copies
its ``lib/typescript.js`` into ``portflow/lang/vendor/``, which the wheel ships). Its ``transpileModule``
runs in a QuickJS context of its own, on one thread of its own (a QuickJS context must stay on one
thread), loaded the first time a TypeScript snippet compiles (about a second and 35 MiB, once per
process). It removes what is types only (annotations, interfaces, type aliases, generics, ``as``,
``satisfies``, non-null ``!``, access modifiers, ``declare``, overloads, ``import type``) and compiles
what has a runtime meaning (``enum``, parameter properties, ``namespace``) to JavaScript; it does not
type-check. A syntax error is a ``CompileError`` naming the line and column of the first one. The
JavaScript of each source is cached (``CACHE_SIZE`` sources), so a spec compiled again costs no
transpile.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import quickjs

from ..errors import CompileError
from .javascript import JavaScript, JsProgram

__all__ = ["TypeScript", "transpile", "CACHE_SIZE", "COMPILER"]

#: How many sources' JavaScript is kept.
CACHE_SIZE = 512
#: Where the compiler's JavaScript is (inside the package).
COMPILER = ("portflow.lang", "vendor/typescript.js")
_MEMORY = 256 * 1024 * 1024  # the compiler's context
_LOAD_SECONDS = 60.0
_TRANSPILE_SECONDS = 10.0

_SETUP = "var module = { exports: {} }; var exports = module.exports;"
_TRANSPILE = r"""
(function () {
  var ts = module.exports;
  var options = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, removeComments: false };
  return function (code) {
    var out = ts.transpileModule(code, { reportDiagnostics: true, fileName: 'snippet.ts', compilerOptions: options });
    var errors = (out.diagnostics || []).filter(function (d) { return d.category === ts.DiagnosticCategory.Error });
    if (errors.length) {
      var d = errors[0];
      var at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
      return JSON.stringify({ error: ts.flattenDiagnosticMessageText(d.messageText, ' '),
                              line: at ? at.line + 1 : null, column: at ? at.character + 1 : null });
    }
    return JSON.stringify({ js: out.outputText });
  };
})()
"""


class _Compiler:
    """The compiler's context and the one thread that uses it."""

    def __init__(self) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="portflow-tsc")
        self.fn: Any = None
        self.cache: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()

    def _load(self) -> Any:
        try:
            source = resources.files(COMPILER[0]).joinpath(COMPILER[1]).read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            raise CompileError("typescript: the TypeScript compiler is not installed with portflow "
                               "(portflow/lang/vendor/typescript.js; `make typescript` builds it)") from None
        context = quickjs.Context()
        context.set_memory_limit(_MEMORY)
        context.set_time_limit(_LOAD_SECONDS)
        context.eval(_SETUP)
        context.eval(source)
        fn = context.eval(_TRANSPILE)
        context.set_time_limit(_TRANSPILE_SECONDS)
        return fn

    def _transpile(self, code: str) -> str:
        if self.fn is None:
            self.fn = self._load()
        try:
            out = json.loads(self.fn(code))
        except quickjs.JSException as e:
            self.fn = None  # interrupted or out of memory: start afresh next time
            raise CompileError(f"typescript: the compiler failed: {str(e).splitlines()[0]}") from None
        if "error" in out:
            where = f" at {out['line']}:{out['column']}" if out.get("line") else ""
            raise CompileError(f"typescript: {out['error']}{where}")
        return str(out["js"])

    def transpile(self, code: str) -> str:
        with self.lock:
            js = self.cache.get(code)
            if js is not None:
                self.cache.move_to_end(code)
                return js
        js = self.thread.submit(self._transpile, code).result()
        with self.lock:
            self.cache[code] = js
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        return js


_compiler: _Compiler | None = None
_compiler_lock = threading.Lock()


def _forget() -> None:
    global _compiler
    _compiler = None  # a forked child has no compiler thread: it builds its own


os.register_at_fork(after_in_child=_forget)


def transpile(code: str) -> str:
    """``code`` (TypeScript) as JavaScript; ``CompileError`` names the first syntax error's line and column."""
    global _compiler
    if _compiler is None:
        with _compiler_lock:
            if _compiler is None:
                _compiler = _Compiler()
    return _compiler.transpile(code)


class TypeScript(JavaScript):
    name = "typescript"

    def compile(self, code: str, *, timeout: float | None = None) -> JsProgram:
        return self._compile(transpile(code) if code.strip() else code, timeout, self.name)
