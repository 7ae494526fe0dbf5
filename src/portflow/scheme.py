"""Scheme: which kinds exist, how a document decodes into a kind's spec class, and how it compiles.

Each kind declares its fields once, as a ``Spec`` subclass (a msgspec Struct). From that declaration
come validation (every problem, named by spec, kind and field path), ``explain`` and a JSON Schema.

A ``Scheme`` is an object: create it empty, register kinds into it, ``copy()`` it. Nothing registers
itself at import time.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from .config import RuntimeSettings
from .errors import CompileError, SpecError, UserError
from .gotypes import go_scalar_text
from .lifetime import Lifetime, TaskStatus
from .observe import Observer
from .services import Services
from .spec import Duration, Spec, check_meta, describe, parse_duration

if TYPE_CHECKING:
    from .lang import Languages
    from .node import Node
    from .symbol import Hooks, SymbolTable

__all__ = ["Scheme", "Kind", "Context", "Codec", "decode_struct", "DuplicateKind", "spec_error", "constraints",
           "description"]

T = typing.TypeVar("T")


@dataclass(eq=False)
class Context:
    """What a codec may use to build a node: the registries, the runtime's typed settings and its
    services. The Runtime builds one (the composition root); a codec compiled outside a runtime gets a
    ``Context(scheme)`` whose store and table are None and whose lifetime nobody closes."""

    scheme: Scheme
    languages: Languages | None = None
    hooks: Hooks | None = None
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    #: The runtime's store (specs and values), None outside a runtime.
    store: Any = None
    #: The runtime's symbol table, None outside a runtime.
    table: SymbolTable | None = None
    #: The hop observer (the table's); subscribe to watch hops and processes.
    observer: Observer = field(default_factory=Observer)
    #: The runtime's one task group and exit stack.
    lifetime: Lifetime = field(default_factory=Lifetime)
    #: Plugin-owned services by class: ``services.get(Listeners)``.
    services: Services = field(init=False)

    def __post_init__(self) -> None:
        self.settings = RuntimeSettings.of(self.settings)
        self.services = Services(self, self.lifetime)

    @property
    def language(self) -> str:
        """The default expression language (setting ``runtime.language``)."""
        return self.settings.language or "cel"

    async def start(self, fn: Callable[[TaskStatus[T]], typing.Awaitable[Any]], *, name: str = "portflow-task",
                    owner: Any = None) -> T:
        """Run ``fn(status)`` in the runtime's task group; return what it passes to ``status.started``.
        A later failure marks ``owner``'s symbol failed (see ``lifetime``)."""
        return await self.lifetime.start(fn, name=name, owner=owner)


Codec = Callable[[Any, Context], "Node"]


@dataclass(frozen=True)
class Kind:
    """A registered kind: its name, spec class, codec and documentation."""

    name: str
    spec: type[Spec]
    codec: Codec
    description: str = ""
    ports: Mapping[str, str] = field(default_factory=dict)  # port name -> what it carries
    example: str = ""
    aliases: tuple[str, ...] = ()
    plugin: str = ""


def spec_error(spec: Spec, field: str, message: str, *, error: type[UserError] = SpecError) -> UserError:
    """One wrong field, as every codec reports it: ``spec 'x' (kind k): field: message``.

    ``error`` is ``SpecError`` (a bad value) or ``CompileError`` (code that does not compile); either
    carries the spec's name as ``subject``. ``field`` is a path (``matches[1].when``), or empty.
    """
    text = f"{field}: {message}" if field else message
    if error is SpecError:
        return SpecError(spec.subject, text)
    if error is CompileError:
        return CompileError(text, subject=spec.subject)
    raise TypeError(f"spec_error: {error.__name__} is neither SpecError nor CompileError")


def _is_duration(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Duration)


def _dec_hook(tp: Any, obj: Any) -> Any:
    if _is_duration(tp):
        return tp.check(parse_duration(obj))  # the bound of PositiveDuration & co (Meta cannot hold it)
    raise NotImplementedError(f"unsupported type {tp!r}")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Duration):
        return float(obj)
    raise NotImplementedError


def _schema_hook(tp: Any) -> dict[str, Any]:
    if _is_duration(tp):
        number: dict[str, Any] = {"type": "number"}
        if tp.gt is not None:
            number["exclusiveMinimum"] = tp.gt * 1000
        elif tp.ge is not None:
            number["minimum"] = tp.ge * 1000
        bound = f" ({tp.bounds()})" if tp.bounds() else ""
        return {"anyOf": [{"type": "string", "pattern": r"^[0-9.]+(ns|us|ms|s|m|h)+$"}, number],
                "description": f"a duration: '2s', '150ms', or milliseconds{bound}"}
    raise NotImplementedError


def _schema_view(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """``cls``, or a twin whose ``Duration`` defaults are plain seconds (msgspec cannot encode them)."""
    fields = _fields(cls)
    if not any(isinstance(f.default, Duration) for f in fields):
        return cls
    spec: list[Any] = []
    for f in fields:
        if f.default is not msgspec.NODEFAULT:
            default = float(f.default) if isinstance(f.default, Duration) else f.default
            spec.append((f.name, f.type, msgspec.field(default=default, name=f.encode_name)))
        elif f.default_factory is not msgspec.NODEFAULT:
            spec.append((f.name, f.type, msgspec.field(default_factory=f.default_factory, name=f.encode_name)))
        else:
            spec.append((f.name, f.type, msgspec.field(name=f.encode_name)))
    return msgspec.defstruct(cls.__name__, spec, kw_only=True, namespace={"__doc__": cls.__doc__})


def _clean(message: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.port``` -> ``expected int, got str``."""
    text = message.split(" - at `")[0]
    text = text.replace("`", "")
    return text[:1].lower() + text[1:]


def _path(message: str, prefix: str) -> str:
    if " - at `$" in message:
        rest = message.split(" - at `$", 1)[1].rstrip("`")
        return prefix + rest
    return prefix


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(cls)  # slow (it evaluates annotations): once per class


def decode_struct(doc: Mapping[str, Any], cls: type[msgspec.Struct]) -> tuple[Any, list[str]]:
    """Decode ``doc`` into ``cls`` leniently (``'8000'`` -> 8000), returning every problem found.

    The whole document is converted in one call; only when that fails are the fields converted one by
    one, so that every wrong field is reported, not just the first.
    """
    try:
        return msgspec.convert(dict(doc), cls, strict=False, dec_hook=_dec_hook), []
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        first = exc
    lenient = as_text(doc, cls)
    if lenient is not doc:  # a number or bool where text is wanted: uniflow's decoder writes it as text
        try:
            return msgspec.convert(dict(lenient), cls, strict=False, dec_hook=_dec_hook), []
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            first, doc = exc, lenient
    problems: list[str] = []
    for info in _fields(cls):
        key = info.encode_name
        if key not in doc:
            if info.required:
                problems.append(f"{key}: required")
            continue
        try:
            msgspec.convert(doc[key], info.type, strict=False, dec_hook=_dec_hook)
        except msgspec.ValidationError as exc:
            where, message = _path(str(exc), key), _clean(str(exc))
            if where == key and message.startswith("expected ") and ", got " not in message:  # a bound
                message += f", got {doc[key]!r}"
            problems.append(f"{where}: {message}")
        except (ValueError, TypeError) as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        return None, problems
    # Every field converts on its own: the problem is across fields (a __post_init__ check).
    text = str(first)
    where = _path(text, "") if isinstance(first, msgspec.ValidationError) else ""
    message = _clean(text) if isinstance(first, msgspec.ValidationError) else text
    return None, [f"{where.lstrip('.') + ': ' if where else ''}{message}"]


def as_text(value: Any, tp: Any) -> Any:
    """``value`` with every bool and number that ``tp`` wants as a string written as one (``42`` ->
    ``"42"``, ``true`` -> ``"true"``, ``1.5`` -> ``"1.5"``), as uniflow's decoder does; ``value`` itself
    when nothing changes. Walks structs, lists, dicts (keys too), unions and literals."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return as_text(value, typing.get_args(tp)[0])
    if tp is str or (origin is typing.Literal and all(isinstance(a, str) for a in typing.get_args(tp))):
        text = go_scalar_text(value)
        return value if text is None else text
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(tp)
        if any(_native(value, m) for m in members):
            return value
        for member in members:
            new = as_text(value, member)
            if new is not value:
                return new
        return value
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, Mapping):
            return value
        out = None
        for info in _fields(tp):
            key = info.encode_name
            if key in value:
                new = as_text(value[key], info.type)
                if new is not value[key]:
                    out = dict(value) if out is None else out
                    out[key] = new
        return value if out is None else out
    args = typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) and args and isinstance(value, list):
        items = [as_text(v, args[0]) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if origin is dict and len(args) == 2 and isinstance(value, Mapping):
        pairs = [(as_text(k, args[0]), as_text(v, args[1])) for k, v in value.items()]
        changed = any(a is not k or b is not v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return dict(pairs) if changed else value
    return value


def _native(value: Any, tp: Any) -> bool:
    """Whether a scalar ``value`` already is a ``tp`` (so a union keeps it as it is)."""
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if tp is Any:
        return True
    if not isinstance(tp, type):
        return False
    if isinstance(value, bool):
        return tp is bool
    if isinstance(value, int):
        return tp in (int, float) or issubclass(tp, Duration)
    if isinstance(value, float):
        return tp is float or issubclass(tp, Duration)
    return isinstance(value, tp)


class DuplicateKind(Exception):
    """A kind (or alias) registered twice, a plugin's bug; the message names both plugins."""


class Scheme:
    """The registry of kinds."""

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}
        self._aliases: dict[str, str] = {}

    def copy(self) -> Scheme:
        other = Scheme()
        other._kinds = dict(self._kinds)
        other._aliases = dict(self._aliases)
        return other

    def register(
        self,
        name: str,
        spec: type[Spec],
        codec: Codec,
        *,
        description: str = "",
        ports: Mapping[str, str] | None = None,
        example: str = "",
        aliases: tuple[str, ...] | list[str] = (),
        plugin: str = "",
    ) -> Kind:
        """Register a kind. Its spec class must subclass ``Spec``."""
        if not (isinstance(spec, type) and issubclass(spec, Spec)):
            raise TypeError(f"kind {name!r}: spec class must subclass portflow.Spec")
        kind = Kind(name, spec, codec, description or (spec.__doc__ or "").strip(), dict(ports or {}), example,
                    tuple(aliases), plugin)
        for taken in (name, *aliases):
            other = self.kind(taken)
            if other is not None:
                raise DuplicateKind(f"kind {taken!r} is registered twice: by plugin {other.plugin or '?'!r} "
                                    f"and by plugin {plugin or '?'!r}")
        self._kinds[name] = kind
        for alias in aliases:
            self._aliases[alias] = name
        return kind

    def unregister(self, name: str) -> None:
        kind = self._kinds.pop(name, None)
        if kind:
            for alias in kind.aliases:
                self._aliases.pop(alias, None)

    def kind(self, name: str) -> Kind | None:
        return self._kinds.get(name) or self._kinds.get(self._aliases.get(name, ""))

    def kinds(self) -> list[Kind]:
        return sorted(self._kinds.values(), key=lambda k: k.name)

    def __contains__(self, name: str) -> bool:
        return self.kind(name) is not None

    def decode(self, doc: Mapping[str, Any]) -> Spec:
        """A document as its kind's spec class; a kind this scheme does not know decodes as a plain ``Spec``.

        Raises ``SpecError`` listing every problem, each with its field path.
        """
        problems = check_meta(dict(doc))
        kind = self.kind(doc.get("kind") or "") if not problems else None
        cls = kind.spec if kind else Spec
        if not problems:
            spec, problems = decode_struct(doc, cls)
        if problems:
            raise SpecError(describe(doc), problems)
        return typing.cast(Spec, spec)

    def compile(self, spec: Spec, context: Context) -> Node:
        """Build the live node for ``spec`` with its kind's codec."""
        kind = self.kind(spec.kind)
        if kind is None:
            raise UserError(f"{describe({'name': spec.name, 'id': spec.id})}: unknown kind {spec.kind!r}")
        try:
            return kind.codec(spec, context)
        except UserError as exc:  # every UserError leaving here names the spec (``exc.subject``)
            if exc.subject:
                raise
            if isinstance(exc, CompileError):
                raise CompileError(str(exc), subject=spec.subject) from None
            raise SpecError(spec.subject, str(exc)) from None

    def json_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema of a kind's spec (meta fields included)."""
        kind = self.kind(name)
        if kind is None:
            raise UserError(f"unknown kind {name!r}")
        return msgspec.json.schema(_schema_view(kind.spec), schema_hook=_schema_hook)

    def fields(self, name: str, *, nested: bool = False) -> list[dict[str, Any]]:
        """The kind's own fields (not the meta fields): name, type, required, default, description and
        constraints (``>= 0``, ``> 0s``), from their declaration. ``nested`` adds the fields of
        struct-typed fields (``target.port``, ``matches[].when``) after their parent."""
        kind = self.kind(name)
        if kind is None:
            raise UserError(f"unknown kind {name!r}")
        meta = {f.name for f in _fields(Spec)}
        return [row for info in _fields(kind.spec) if info.name not in meta
                for row in _rows(info, info.encode_name, nested, 0)]


def _rows(info: msgspec.structs.FieldInfo, name: str, nested: bool, depth: int) -> list[dict[str, Any]]:
    default = None
    if info.default is not msgspec.NODEFAULT:
        default = info.default
    elif info.default_factory is not msgspec.NODEFAULT:
        default = info.default_factory()
    rows = [{"name": name, "type": type_name(info.type), "required": info.required,
             "default": msgspec.to_builtins(default, enc_hook=_enc_hook), "description": description(info.type),
             "constraints": constraints(info.type)}]
    found = _struct_in(info.type, name) if nested and depth < 3 else None
    if found is not None:
        inner, prefix = found
        for sub in _fields(inner):
            rows += _rows(sub, f"{prefix}.{sub.encode_name}", nested, depth + 1)
    return rows


def _struct_in(tp: Any, prefix: str) -> tuple[type[msgspec.Struct], str] | None:
    """The struct type inside a field type, and the path to its fields (``routes[]``, ``env.*``)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp, prefix
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _struct_in(args[0], prefix)
    if origin in (list, tuple, set, frozenset) and args:
        return _struct_in(args[0], prefix + "[]")
    if origin is dict and len(args) == 2:
        return _struct_in(args[1], prefix + ".*")
    for arg in args:
        found = _struct_in(arg, prefix)
        if found:
            return found
    return None


def _metas(tp: Any) -> list[msgspec.Meta]:
    """The ``Meta`` annotations of a field type, outermost first (through ``X | None``)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return [m for m in args[1:] if isinstance(m, msgspec.Meta)] + _metas(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in args for m in _metas(arg)]
    return []


def description(tp: Any) -> str:
    """The one-line description a field type declares (``Meta(description=...)``), or ``""``."""
    return next((m.description for m in _metas(tp) if m.description), "")


_BOUNDS = (("gt", "> {}"), ("ge", ">= {}"), ("lt", "< {}"), ("le", "<= {}"), ("multiple_of", "multiple of {}"),
           ("min_length", "length >= {}"), ("max_length", "length <= {}"), ("pattern", "matches {}"))


def constraints(tp: Any) -> str:
    """The bounds a field type declares, as text: ``>= 0, <= 65535``, ``> 0s``, ``length >= 1``."""
    parts = [text.format(getattr(m, key)) for m in _metas(tp) for key, text in _BOUNDS
             if getattr(m, key) is not None]
    parts += [d.bounds() for d in _durations(tp) if d.bounds()]
    return ", ".join(dict.fromkeys(parts))


def _durations(tp: Any) -> list[type[Duration]]:
    if _is_duration(tp):
        return [tp]
    return [d for arg in typing.get_args(tp) for d in _durations(arg)]


def type_name(tp: Any) -> str:
    """A readable name for a field type: ``list[str]``, ``int | None``, ``duration``."""
    if _is_duration(tp):
        return "duration"
    if tp is Any:
        return "any"
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return type_name(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))
