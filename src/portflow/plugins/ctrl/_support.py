"""What several ctrl kinds share: compiling code with a timeout that names the node, truthiness and
``fmt.Sprint``/``fmt.Sprintf`` text."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from types import CoroutineType
from typing import Any

from ...errors import CompileError, FlowTimeout, PortflowError
from ...gotypes import go_float, truthy
from ...scheme import Context, spec_error
from ...spec import Spec, format_duration

__all__ = ["compile_code", "Code", "Program", "truthy", "go_sprint", "go_sprintf"]

Program = Callable[[Any], Awaitable[Any]]


def compile_code(
    context: Context,
    spec: Spec,
    *,
    field: str,
    code: str,
    language: str | None = None,
    timeout: float | None = None,
) -> Code:
    """Compile ``code`` (the spec's ``field``) in ``language`` (default: the runtime's expression language).

    A compile failure raises ``CompileError`` naming the spec and the field, with the compiler's message.
    The returned coroutine function runs the program on one payload; past ``timeout`` it raises
    ``FlowTimeout("spec 'x' (kind snippet): timeout after 2s")``.
    """
    name = language or context.language
    languages = context.languages
    if languages is None:
        raise spec_error(spec, field, "no languages are registered", error=CompileError)
    if not _knows(languages, name):
        names = getattr(languages, "names", None)
        known = f"; known languages: {', '.join(names())}" if callable(names) else ""
        default = "" if language else " (the runtime's default language)"
        raise spec_error(spec, "language", f"unknown language {name!r}{default}{known}", error=CompileError)
    try:
        program = languages.compile(name, code, timeout=timeout or None)
    except PortflowError as exc:
        raise spec_error(spec, field, str(exc), error=CompileError) from None
    return Code(program, timeout, spec.subject)


def _knows(languages: Any, name: str) -> bool:
    try:
        return name in languages
    except TypeError:  # a registry without ``in``: let compile() say
        return True


def with_timeout(program: Callable[[Any], Any], timeout: float | None, label: str) -> Program:
    """``program`` (plain or coroutine function) as a coroutine function bounded by ``timeout`` seconds.

    For programs that do not bound themselves; a language's compiled programs do (see ``compile_code``).
    """
    message = f"{label}: timeout after {format_duration(timeout or 0)}"

    async def run(payload: Any) -> Any:
        try:
            async with asyncio.timeout(timeout or None):
                result = program(payload)
                return await result if inspect.isawaitable(result) else result
        except (TimeoutError, FlowTimeout):
            raise FlowTimeout(message) from None

    return run


class Code:
    """A spec's compiled program, with its timeouts named after the spec
    (``"spec 'x' (kind snippet): timeout after 2s"``). The language enforces the timeout itself (it can
    interrupt a running VM; cancelling the await could not).

    ``call(payload)`` is the fast path: the result itself when the program ran at once, else an awaitable
    of it. ``await code(payload)`` always works.
    """

    __slots__ = ("program", "label", "message", "fast")

    def __init__(self, program: Callable[[Any], Awaitable[Any]], timeout: float | None, label: str) -> None:
        self.program = program
        self.label = label
        self.message = f"{label}: timeout after {format_duration(timeout)}" if timeout else ""
        self.fast = getattr(program, "call", None)

    def call(self, payload: Any) -> Any:
        fast = self.fast
        if fast is None:
            return self._named(self.program(payload))
        try:
            result = fast(payload)
        except FlowTimeout as exc:
            raise FlowTimeout(self.message or _timeout_message(self.label, exc)) from None
        if type(result) is CoroutineType:
            return self._named(result)
        return result

    async def _named(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except FlowTimeout as exc:
            raise FlowTimeout(self.message or _timeout_message(self.label, exc)) from None

    async def __call__(self, payload: Any) -> Any:
        result = self.call(payload)
        if type(result) is CoroutineType:
            return await result
        return result


def _timeout_message(label: str, exc: BaseException) -> str:
    text = str(exc)
    return text if label in text else f"{label}: {text}"


# -- Go's fmt, the parts specs use ----------------------------------------------------------------

def go_sprint(value: Any) -> str:
    """``fmt.Sprint`` of a plain value: ``<nil>``, ``true``, ``map[a:1 b:2]``, ``[1 2]``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: go_sprint(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    return {bool: "bool", int: "int", float: "float64", str: "string", bytes: "[]uint8",
            dict: "map[string]interface {}", list: "[]interface {}"}.get(type(value), type(value).__name__)


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the verbs specs use: %v %+v %s %q %d %f %e %g %x %X %o %b %c %t %T and %%,
    with flags ``-+ 0``, width and precision. Wrong or missing arguments print Go's ``%!verb(...)`` marks."""
    out: list[str] = []
    pos = 0
    used = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos:match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_pad(_format_one(verb, flags, precision, arg), flags, width, verb))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_sprint(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, flags: str, precision: str | None, arg: Any) -> str:
    bad = f"%!{verb}({_go_type(arg)}={go_sprint(arg)})"
    prec = int(precision) if precision else (0 if precision == "" else None)
    if verb == "v":
        return go_sprint(arg)
    if verb == "T":
        return _go_type(arg)
    if verb == "s":
        text = arg.decode("utf-8", "replace") if isinstance(arg, (bytes, bytearray)) else go_sprint(arg)
        return text[:prec] if prec is not None else text
    if verb == "q":
        if isinstance(arg, (str, bytes)):
            return json.dumps(arg if isinstance(arg, str) else arg.decode("utf-8", "replace"), ensure_ascii=False)
        if isinstance(arg, int) and not isinstance(arg, bool):
            return "'" + chr(arg) + "'"
        return bad
    if verb == "t":
        return go_sprint(arg) if isinstance(arg, bool) else bad
    number = arg
    if isinstance(number, float) and number.is_integer() and verb in "dxXobc":
        number = int(number)
    if verb in "dxXobc":
        if isinstance(number, bool) or not isinstance(number, int):
            if verb in "xX" and isinstance(arg, (str, bytes)):
                data = arg.encode() if isinstance(arg, str) else arg
                return data.hex() if verb == "x" else data.hex().upper()
            return bad
        sign = "+" if "+" in flags and number >= 0 else ""
        if verb == "c":
            return chr(number)
        spec = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        text = sign + format(number, spec)
        if "#" in flags and verb in "xXo":
            prefix = {"x": "0x", "X": "0X", "o": "0"}[verb]
            text = ("-" if number < 0 else sign) + prefix + format(abs(number), spec)
        return text
    if verb in "fFeEgG":
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            return bad
        spec = ("+" if "+" in flags else "") + (f".{prec}" if prec is not None else ("" if verb in "gG" else ".6"))
        if verb in "gG" and prec is None:
            text = go_float(float(number))
            return ("+" + text if "+" in flags and number >= 0 else text).upper() if verb == "G" else \
                ("+" + text if "+" in flags and number >= 0 else text)
        return format(float(number), spec + verb.lower() if verb == "F" else spec + verb)
    return f"%!{verb}({_go_type(arg)}={go_sprint(arg)})"


def _pad(text: str, flags: str, width: str | None, verb: str) -> str:
    if not width:
        return text
    size = int(width)
    if len(text) >= size:
        return text
    if "-" in flags:
        return text.ljust(size)
    if "0" in flags and verb in "dxXobfFeEgG":
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign):].rjust(size - len(sign), "0")
    return text.rjust(size)
