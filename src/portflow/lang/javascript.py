"""``javascript``: snippets on QuickJS (quickjs-ng), sandboxed with time and memory limits.

The code is a module whose default export is the function: an ES module ``export default function (args)
{…}`` or CommonJS ``module.exports = fn`` (``exports.default = fn`` too). The function is called with one
argument, the payload; its return value is the output (``undefined`` -> None). A non-function export answers
None (as uniflow does). ``async`` functions are awaited (their promise is settled by running QuickJS's job
queue). A thrown error becomes a FlowError with its message (``throw new Error("boom")`` -> ``boom``;
other error classes keep their name: ``TypeError: …``).

**Values** cross as JSON (msgspec in Python, ``JSON.parse``/``JSON.stringify`` in QuickJS), one string each
way, so integers beyond 2**31 survive (quickjs-ng's own conversion truncates them). Hence: ``bytes`` arrive
as a base64 string, ``datetime`` as an RFC 3339 string, and a returned ``Date`` leaves as its ISO string;
functions nested in a returned object are dropped (JSON semantics), a returned function or symbol is a
FlowError. An **error payload** arrives as an ``Error`` whose ``error()`` (and ``toString()``) gives its message, as
uniflow hands a snippet the Go error (``{ body: { error: args.error() }, status: 400 }``); returned as is,
it leaves as the same error payload. An error nested inside a payload reads as its message.

**Only the keys read.** When the code shows which keys of its argument it can reach — the default export
is a function of one plain parameter (``function (args)``, ``(args) =>``, ``args =>``) and every use of that
name is a property read with a literal name (``args.body``, ``args?.query``) — a map payload arrives with
only those keys (:func:`reads`). Any other use of the name (``args[k]``, ``Object.keys(args)``, ``...args``,
``return args``, an assignment), or ``eval``/``arguments``/``Function``/``with`` anywhere, or an escaped
identifier, and the whole payload goes, as below. The scan is of the raw text (strings and comments
included), so it errs only towards sending more.

**Big maps go lazily.** QuickJS parses JSON at ~15 ns a byte, so a map payload of :data:`LAZY_BYTES`
(1 KiB) of JSON or more arrives as its keys and each value's JSON behind a Proxy that parses a value when
the snippet first reads its key; whatever looks at the whole object (``Object.keys``, spread, assignment,
``delete``, ``JSON.stringify``, a descriptor, freezing; ``in`` needs no value) first fills in every key in
the payload's order and drops the traps, so the snippet sees exactly a plain object. Reading ``path`` of
an 8 KiB request costs a fifth of parsing all of it, reading all of it ~6% more; below 1 KiB one
``JSON.parse`` is cheaper (``benchmarks/js_payload.py``). Whether the last map was big picks which
encoding is tried first, so neither size is encoded twice in a steady stream.

**Compiled fast path.** A snippet whose whole module is one default-exported function in a small pure subset
of JavaScript (declarations, ``if``/``return``, property reads, literals, arithmetic, comparisons, logic,
templates, ``map``/``filter``/… with arrows, a few string methods: :mod:`portflow.lang.js_compiled` says
which) is also compiled to Python once, and each call runs that on the payload as JSON would hand it over
(the greet snippet: less than half the cost of a QuickJS call, ``benchmarks/js_compiled.py``). Whatever it
cannot compute exactly — a TypeError, a non-ASCII string upper-cased, an integer beyond 2**53, a payload
over :data:`COMPILED_BYTES` of JSON, an error payload — *deopts*: that call runs on QuickJS as below, so
the answer, or error, is always QuickJS's (``run_compiled`` and ``run_quickjs`` run either path alone). A
Program whose calls mostly deopt (past :data:`~._runtime.DEOPTS_TO_DROP`) stops trying the compiled code. The compiled
call is Python, interrupted by the watchdog of :mod:`._runtime` under the same slice and timeout as a Python
snippet.

**Contexts.** A QuickJS Context must never be used from two threads (that segfaults), so each Program keeps
one Context *per thread* (thread-local), created on first use in that thread, with the module evaluated once
in it. One context per Program (not one shared by all programs of a thread) keeps snippets from seeing each
other's globals and prototype changes, and makes the memory limit (:data:`MEMORY_LIMIT`, 64 MiB) a limit
per snippet; a context costs ~0.2 MiB and ~0.2 ms to create.

**Timeouts** follow :mod:`portflow.lang._runtime`: the call runs inline with QuickJS's time limit set to the
slice (20 ms); an interrupted call is re-run on a worker thread (its own context) with the limit set to the
timeout. QuickJS measures the limit with ``clock()`` (process CPU time), so when other threads burn CPU the
limit can trip early; a worker call interrupted before its wall-clock deadline is re-run with the time left.
An ``async`` snippet's job queue runs under the same deadline (each job under the time limit, the loop over
jobs checked against the wall clock every :data:`JOB_CHECK` jobs), so ``for (;;) await null`` ends too; its
context is then dropped and the next call in that thread builds a fresh one.

``typescript`` (module ``typescript``) compiles to JavaScript first, then runs here.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import msgspec
import quickjs

from ..errors import CompileError, FlowError, FlowTimeout
from . import js_compiled
from ._runtime import FastPathTally, GuardedProgram, Interrupted, run_watched, timeout_message

MEMORY_LIMIT = 64 * 1024 * 1024
"""Bytes a JavaScript snippet's context may allocate."""

JOB_CHECK = 64
"""Pending jobs run between two looks at the clock while an async snippet's promise settles."""

LAZY_BYTES = 1024
"""A map payload whose JSON is at least this long reaches the snippet lazily: each key parsed when read."""


COMPILED_BYTES = 256 * 1024
"""A payload whose JSON is longer than this goes to QuickJS even when the snippet is compiled to Python (QuickJS
has a memory limit that the compiled code does not model)."""

_IDENT = r"[A-Za-z_$][\w$]*"
#: The default export's one plain parameter: ``export default [async] function [name](p)``, ``(p) =>``,
#: ``p =>``, and the CommonJS ``module.exports =`` / ``exports.default =`` forms.
_EXPORTED_PARAM = re.compile(
    r"(?:\bexport\s+default|\bmodule\.exports\s*=|\bexports\.default\s*=)\s*(?:async\s+)?"
    rf"(?:function\b\s*(?:{_IDENT}\s*)?\(\s*({_IDENT})\s*\)|\(\s*({_IDENT})\s*\)\s*=>|({_IDENT})\s*=>)")
_OPAQUE = re.compile(r"\b(?:eval|arguments|Function|with)\b|\\u")
_PROPERTY = re.compile(rf"\s*\??\.\s*({_IDENT})")
_BEFORE_PROPERTY = re.compile(r"(?<!\.)\??\.\s*$")  # ``x.`` / ``x?.``, not the spread ``...``


def reads(code: str) -> frozenset[str] | None:
    """The keys of its argument that ``code`` can read, when the text shows them (see the module docstring);
    None when it may read any."""
    found = list(_EXPORTED_PARAM.finditer(code))
    if len(found) != 1 or _OPAQUE.search(code):
        return None
    match = found[0]
    group = next(i for i in (1, 2, 3) if match.group(i) is not None)
    name, declared = match.group(group), match.start(group)
    keys: set[str] = set()
    for use in re.finditer(rf"(?<![\w$]){re.escape(name)}(?![\w$])", code):
        if use.start() == declared:
            continue
        if _BEFORE_PROPERTY.search(code, max(0, use.start() - 16), use.start()):
            continue  # ``x.args``: a property of something else
        prop = _PROPERTY.match(code, use.end())
        if prop is None:
            return None
        keys.add(prop.group(1))
    return frozenset(keys)


def _enc_hook(value: Any) -> Any:
    """An error payload reads as its message, as everywhere else in the engine."""
    if isinstance(value, BaseException):
        return str(value)
    raise NotImplementedError(f"Encoding objects of type {type(value).__name__} is unsupported")


_encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode
_decode = msgspec.json.Decoder().decode
_monotonic = time.monotonic

_ESM = re.compile(r"(?m)^\s*export\s")
_EXPORT_DEFAULT = re.compile(r"(?m)^(\s*)export\s+default(?![\w$])")  # ``export default(a) => …`` too

_WRAPPER = r"""
(function (fn) {
  function message(e) {
    if (e instanceof Error) return (e.name === 'Error' ? '' : e.name + ': ') + e.message;
    if (typeof e === 'string') return e;
    try { const s = JSON.stringify(e); return s === undefined ? String(e) : s } catch (_) { return String(e) }
  }
  // A string built with '+' longer than 512 is a rope, which this quickjs binding cannot hand to Python; join's
  // is flat (and costs an array: short ones keep '+').
  function tagged(tag, s) { return s.length < 256 ? tag + s : [tag, s].join('') }
  let given;  // the error object an error payload arrives as, while the call that got it runs
  function out(r) {
    if (r === undefined) return '0null';
    if (given !== undefined && r === given) return '4';
    const t = typeof r;
    if (t === 'function' || t === 'symbol' || t === 'bigint') return '2' + t;
    const s = JSON.stringify(r);
    return s === undefined ? '0null' : tagged('0', s);
  }
  globalThis.__pf_call_error = function (m) {
    given = new Error(m);  // uniflow hands snippets the Go error: its message is ``args.error()``
    const text = function () { return m };
    Object.defineProperty(given, 'error', { value: text });
    Object.defineProperty(given, 'toString', { value: text });  // reads as its message, as before
    return call(given);
  };
  globalThis.__pf_call = function (s) { given = undefined; return call(JSON.parse(s)) };
  // A big map payload arrives as its keys and each value's JSON, '\x01'-joined (JSON never holds a raw
  // U+0001), behind a Proxy: reading a key parses that value once; anything that sees the whole object
  // (Object.keys, a descriptor, assignment, delete, JSON.stringify, spread, freezing) first fills the
  // target in the payload's order, and drops the traps, so from then on it is a plain object.
  function whole(t, h) {
    const k = h.k, v = h.v, c = h.c;
    for (let i = 0; i < k.length; i++) {
      const value = c[i] === undefined ? JSON.parse(v[i]) : c[i];
      Reflect.defineProperty(t, k[i], { value, writable: true, enumerable: true, configurable: true });  // '__proto__' too
    }
    Object.setPrototypeOf(h, null);
  }
  const lazy = {
    get(t, key, r) {
      const i = this.k.indexOf(key);
      if (i < 0) return Reflect.get(t, key, r);
      const c = this.c;
      return c[i] === undefined ? (c[i] = JSON.parse(this.v[i])) : c[i];
    },
    has(t, key) { return this.k.indexOf(key) >= 0 || Reflect.has(t, key) },
  };
  for (const trap of ['set', 'deleteProperty', 'defineProperty', 'getOwnPropertyDescriptor', 'ownKeys', 'preventExtensions']) {
    lazy[trap] = function (t, ...rest) { whole(t, this); return Reflect[trap](t, ...rest) };
  }
  let lastKeys = null, keys = null;
  globalThis.__pf_call_lazy = function (ks, vs) {
    given = undefined;
    if (ks !== lastKeys) { keys = ks.split('\x01'); lastKeys = ks }
    return call(new Proxy({}, { __proto__: lazy, k: keys, v: vs.split('\x01'), c: [] }));
  };
  function call(arg) {
    try {
      if (typeof fn !== 'function') return '0null';
      const r = fn(arg);
      if (r !== null && typeof r === 'object' && typeof r.then === 'function') {
        globalThis.__pf_settled = undefined;
        r.then(function (v) { try { globalThis.__pf_settled = out(v) } catch (e) { globalThis.__pf_settled = tagged('1', message(e)) } },
               function (e) { globalThis.__pf_settled = tagged('1', message(e)) });
        return '3';
      }
      return out(r);
    } catch (e) { return tagged('1', message(e)) }
  }
})
"""


def _is_interrupt(e: BaseException) -> bool:
    return str(e).startswith("InternalError: interrupted")


def _js_message(e: BaseException) -> tuple[str, tuple[int, int] | None]:
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    m = re.search(r"at <input>:(\d+):(\d+)", text)
    return first, ((int(m.group(1)), int(m.group(2))) if m else None)


class _Local(threading.local):
    call: Any = None
    call_lazy: Any = None
    big: bool = False  # the last map payload went lazily
    call_error: Any = None
    context: Any = None
    limit: float = -1.0


def _pass_lazily(local: _Local, payload: dict[Any, Any], text: bytes | None) -> Any:
    """Call with a big map as its keys and each value's JSON, so the snippet parses only what it reads.

    ``text`` is the payload's JSON when already encoded. A map that turns out small, or has a key that is not
    a string (JSON makes it one) or holds the separator, goes as one JSON; the next call then encodes first.
    """
    keys = None
    try:
        keys = "\x01".join(payload)
    except TypeError:
        pass
    if keys is not None and keys.count("\x01") == len(payload) - 1:
        values = b"\x01".join(map(_encode, payload.values()))
        if len(values) >= LAZY_BYTES:
            local.big = True
            return local.call_lazy(keys, values.decode())
    local.big = False
    return local.call((text or _encode(payload)).decode())


_DEOPT = js_compiled.DEOPT


class JsProgram(GuardedProgram):
    __slots__ = ("source", "module", "memory", "local", "language", "shift", "keys", "compiled", "tally")

    def __init__(self, source: str, module: bool, timeout: float | None, memory: int, language: str) -> None:
        super().__init__(timeout)
        self.source = source
        self.module = module
        self.memory = memory
        self.language = language
        self.local = _Local()
        self.shift: tuple[int, int, int] | None = None  # (line, column, delta) of the export-default rewrite
        #: The keys of a map payload the code can read (``reads``), or None for all of them.
        self.keys: frozenset[str] | None = None
        #: The snippet compiled to Python (:mod:`.js_compiled`), or None when it is not in that subset.
        self.compiled: js_compiled.Compiled | None = None
        self.tally = FastPathTally()  # calls the compiled code answered / handed to QuickJS

    def _load(self) -> Any:
        """This thread's context with the module evaluated; raises CompileError on a bad module."""
        local = self.local
        context = quickjs.Context()
        context.set_memory_limit(self.memory)
        context.set_time_limit(max(self.timeout, 1.0))  # evaluating the module body is bounded too
        try:
            if self.module:
                context.module(self.source)
                fn = context.eval("(function () { const f = globalThis.__pf_default; delete globalThis.__pf_default; return f })()")
            else:
                fn = context.eval(self.source)
            context.eval(_WRAPPER)(fn)
        except quickjs.JSException as e:
            first, where = _js_message(e)
            if where is not None:
                line, column = where
                if not self.module and line == 1:
                    column -= len(_CJS_PREFIX)
                elif self.shift is not None and line == self.shift[0] and column > self.shift[1]:
                    column -= self.shift[2]
                first += f" at {line}:{column}"
            raise CompileError(f"{self.language}: {first}") from None
        local.context = context
        local.call = context.get("__pf_call")
        local.call_error = context.get("__pf_call_error")
        local.call_lazy = context.get("__pf_call_lazy")
        local.limit = -1.0
        return local

    def _run(self, payload: Any, limit: float) -> Any:
        local = self.local
        if local.call is None:
            try:
                self._load()
            except CompileError as e:
                raise FlowError(str(e)) from None
        if local.limit != limit:
            local.context.set_time_limit(limit)
            local.limit = limit
        try:
            if isinstance(payload, BaseException):
                out = local.call_error(str(payload))
            elif self.keys is not None and type(payload) is dict:  # only what the code can read
                keys = self.keys
                out = local.call(_encode({k: v for k, v in payload.items() if k in keys}).decode())
            elif local.big and type(payload) is dict:  # the last one was big: this one likely too
                out = _pass_lazily(local, payload, None)
            else:
                text = _encode(payload)
                if len(text) < LAZY_BYTES or type(payload) is not dict:
                    out = local.call(text.decode())
                else:
                    out = _pass_lazily(local, payload, text)
        except quickjs.JSException as e:
            if _is_interrupt(e):
                raise Interrupted from None
            raise FlowError(_js_message(e)[0]) from None
        except quickjs.StackOverflow as e:
            raise FlowError(f"InternalError: stack overflow ({e})") from None
        except (TypeError, ValueError, NotImplementedError) as e:  # the payload does not encode
            raise FlowError(f"{self.language}: cannot pass the payload: {e}") from None
        tag = out[0]
        if tag == "0":
            return self._answer(out)
        if tag == "3":
            out = self._settle(local, limit)
            if out is None:
                raise FlowError(f"{self.language}: the snippet's promise never settled")
            tag = out[0]
            if tag == "0":
                return self._answer(out)
        if tag == "4":  # the error it was given, handed back: the same error payload
            return payload
        if tag == "1":
            if out == "1null":  # what QuickJS throws when it runs out of memory while reporting that
                raise FlowError("null (thrown by the snippet, or by QuickJS when it ran out of memory)")
            raise FlowError(out[1:])
        raise FlowError(f"{self.language} snippet returned a {out[1:]}, which cannot travel as a payload")

    def _answer(self, out: str) -> Any:
        """The JSON of a result (after its tag) as a value; a string holding half of a surrogate pair
        (``'😀'[1]``) has no UTF-8 form, so it cannot travel."""
        try:
            return _decode(out[1:])
        except msgspec.DecodeError:
            raise FlowError(f"{self.language} snippet returned a string with a lone surrogate (half of a "
                            "UTF-16 pair), which cannot travel as a payload") from None

    def _settle(self, local: _Local, limit: float) -> Any:
        """Run the job queue until the promise settles, for at most ``limit`` seconds of wall time.

        Each job is bounded by QuickJS's time limit; the loop over jobs (``for (;;) await null`` queues one
        forever) by the deadline. A context left with jobs queued is dropped, so the next call starts clean.
        """
        context = local.context
        deadline = _monotonic() + limit
        jobs = 0
        try:
            while context.execute_pending_job():
                jobs += 1
                if not jobs % JOB_CHECK and _monotonic() > deadline:
                    local.call = local.context = None
                    raise Interrupted
        except quickjs.JSException as e:
            local.call = local.context = None
            if _is_interrupt(e):
                raise Interrupted from None
            raise FlowError(_js_message(e)[0]) from None
        return context.get("__pf_settled")

    def run_compiled(self, payload: Any) -> Any:
        """The compiled snippet's answer for ``payload``, or :data:`js_compiled.DEOPT` when QuickJS must answer
        (always for an error payload). It sees the payload as QuickJS would: the same keys, through JSON."""
        compiled = self.compiled
        if compiled is None or isinstance(payload, BaseException):
            return _DEOPT
        keys = self.keys
        if keys is not None and type(payload) is dict:  # the snippet reads these only by name: order is moot
            given, payload = payload, {}
            for k in keys:
                if k in given:
                    payload[k] = given[k]
        try:
            text = _encode(payload)
            if len(text) > COMPILED_BYTES:
                return _DEOPT
            value = _decode(text)
        except Exception:  # noqa: BLE001 - QuickJS's path words the error
            return _DEOPT
        return compiled(value)

    def run_quickjs(self, payload: Any) -> Any:
        """The call on QuickJS, inline under the slice (what a deopt runs)."""
        return self._run(payload, self.slice)

    def _deopted(self) -> None:
        """One more call the compiled code handed to QuickJS; one that mostly does is dropped (for the life
        of the Program: :class:`~._runtime.FastPathTally`)."""
        if self.tally.deopted():
            self.compiled = None

    def run_inline(self, payload: Any) -> Any:
        if self.compiled is not None:
            out = run_watched(self.run_compiled, payload, self.slice, cpu=True)
            if out is not _DEOPT:
                self.tally.answered += 1
                return out
            self._deopted()
        return self._run(payload, self.slice)

    def run_worker(self, payload: Any) -> Any:
        deadline = _monotonic() + self.timeout
        if self.compiled is not None:
            try:
                out = run_watched(self.run_compiled, payload, self.timeout)
            except Interrupted:
                raise FlowTimeout(timeout_message(self.timeout)) from None
            if out is not _DEOPT:
                self.tally.answered += 1
                return out
            self._deopted()
        while True:
            left = deadline - _monotonic()
            if left <= 0.001:
                raise FlowTimeout(timeout_message(self.timeout))
            try:
                return self._run(payload, left)
            except Interrupted:
                continue  # clock() counts every thread's CPU: re-run with the wall time left


_CJS_PREFIX = "(function () { var module = { exports: {} }; var exports = module.exports; "
_CJS_SUFFIX = "\n; var e = module.exports; return typeof e === 'function' ? e : (e && e.default); })()"


class JavaScript:
    name = "javascript"

    def __init__(self, memory_limit: int = MEMORY_LIMIT) -> None:
        self.memory_limit = memory_limit

    def compile(self, code: str, *, timeout: float | None = None) -> JsProgram:
        return self._compile(code, timeout, self.name)

    def _compile(self, code: str, timeout: float | None, language: str) -> JsProgram:
        shift = None
        export_at: int | None = None  # where the export default the rewrite binds begins (for js_compiled)
        if _ESM.search(code):
            m = _EXPORT_DEFAULT.search(code)
            source = code
            export_at = -1  # an ES module without one: nothing to compile
            if m:
                export_at = m.start() + len(m.group(1))
                replacement = m.group(1) + "globalThis.__pf_default = "
                source = code[: m.start()] + replacement + code[m.end() :]
                line = code.count("\n", 0, m.end()) + 1
                column = m.end() - (code.rfind("\n", 0, m.end()) + 1)
                shift = (line, column, len(replacement) - (m.end() - m.start()))
            module = True
        else:
            source, module = _CJS_PREFIX + code + _CJS_SUFFIX, False
        program = JsProgram(source, module, timeout, self.memory_limit, language)
        program.shift = shift
        program.keys = reads(code)
        program.compiled = js_compiled.compile(code, export_at)
        program._load()  # noqa: SLF001 - compile now: a syntax error is a CompileError; the context serves this thread
        return program
