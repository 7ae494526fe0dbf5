"""Spec and Value documents, port references, and reading/writing them as YAML or JSON.

A spec is stored and exchanged as a plain dict (the *document*): the meta fields ``id``, ``kind``,
``namespace``, ``name``, ``annotations``, ``env``, ``ports`` and the kind's own fields side by side.
``Spec`` is the typed view of the meta fields; each kind subclasses it with its own fields
(``scheme.py`` decodes a document into the kind's class).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec
import uuid_utils
import yaml
from msgspec import Meta

from .errors import DocumentError, SpecError

__all__ = [
    "Spec", "EnvEntry", "PortRef", "Value", "Duration", "DEFAULT_NAMESPACE", "META_KEYS",
    "new_id", "read_documents", "read_file", "dump_documents", "describe", "parse_duration", "format_duration",
    "PositiveDuration", "NonNegativeDuration",
]

DEFAULT_NAMESPACE = "default"
META_KEYS = frozenset({"id", "kind", "namespace", "name", "annotations", "env", "ports"})

_SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader with plain scalars read as uniflow's YAML library (yaml.v3) reads them into ``any``:
    only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` stay text: a node named ``no``
    is named "no"), ``1:30`` is text, not 90, ``1e3`` is a float, and timestamps stay strings."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers
                if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                               "tag:yaml.org,2002:timestamp")]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"""^(?:[-+]?0b[0-1_]+
                    |[-+]?0o[0-7_]+
                    |[-+]?0[0-7_]+
                    |[-+]?(?:0|[1-9][0-9_]*)
                    |[-+]?0x[0-9a-fA-F_]+)$""", re.X),
    list("-+0123456789"))


def new_id() -> str:
    """A fresh UUIDv7 as text."""
    return str(uuid_utils.uuid7())


class Duration(float):
    """Seconds. Written in specs as a Go duration (``"2s"``, ``"150ms"``, ``"1m30s"``) or milliseconds.

    msgspec's ``Meta(gt=...)`` bounds apply only to its own number types, so a duration field states its
    bound by its type: ``PositiveDuration`` (more than 0) or ``NonNegativeDuration`` (0 or more). The
    scheme's decode hook checks ``gt``/``ge`` and names the field when a value is out of bounds.
    """

    gt: ClassVar[float | None] = None
    ge: ClassVar[float | None] = None

    def __repr__(self) -> str:
        return f"Duration({float(self)!r})"

    @classmethod
    def bounds(cls) -> str:
        """The bound as text (``> 0s``, ``>= 0s``), empty when there is none."""
        if cls.gt is not None:
            return f"> {format_duration(cls.gt)}"
        if cls.ge is not None:
            return f">= {format_duration(cls.ge)}"
        return ""

    @classmethod
    def check(cls, value: Duration) -> Duration:
        """``value`` as this type; ``ValueError`` when it is out of bounds."""
        if (cls.gt is not None and value <= cls.gt) or (cls.ge is not None and value < cls.ge):
            raise ValueError(f"expected a duration {cls.bounds()}, got {format_duration(value)}")
        return cls(value)


class PositiveDuration(Duration):
    """A duration more than zero."""

    gt = 0.0


class NonNegativeDuration(Duration):
    """A duration of zero or more (zero usually means "none": no timeout, no wait)."""

    ge = 0.0


def format_duration(seconds: float, resolution: float = 1e-9) -> str:
    """Seconds as Go's ``time.Duration.String()`` does, rounded to ``resolution`` seconds (default the
    nanosecond): ``0s``, ``812µs``, ``12.345ms``, ``1.5s``, ``1m30s``, ``1h2m3.25s``."""
    ns = round(seconds / resolution) * round(resolution * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_decimal(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_decimal(ns, 1_000_000)}ms"
    minutes, rest = divmod(ns, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    text = f"{_decimal(rest, 1_000_000_000)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` written exactly, without trailing zeros: ``12345, 1000`` -> ``12.345``."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    return f"{whole}." + str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")


_BARE_NUMBER = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> Duration:
    """Seconds from a Go duration string (``"2s"``, ``"1m30s"``, ``"0"``) or a number of milliseconds, as
    uniflow decodes ``time.Duration``: a number is whole milliseconds (``1.5`` is 1ms, as Go truncates),
    and a string needs a unit (``"50"`` is an error, as in Go's ``time.ParseDuration``)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int):
        return Duration(value / 1000.0)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r}")
        return Duration(math.trunc(value) / 1000.0)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: expected a string like '2s' or milliseconds")
    text = value.strip()
    sign = 1.0
    if text[:1] and text[0] in "+-":  # (fuzz finding: "" raised IndexError)
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return Duration(0.0)
    if _BARE_NUMBER.match(text):
        raise ValueError(f"invalid duration {value!r}: missing unit (write '{text}ms' or '{text}s'; "
                         "a YAML number, unquoted, is milliseconds)")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: expected a string like '2s', '150ms' or '1m30s'")
    return Duration(sign * total)


class EnvEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One env binding: the value named by ``id`` or ``name`` (or the ``-e`` environment), templated into ``data``."""

    data: Annotated[Any, Meta(description="the text or map to bind, templated with the value's data as `.`")]
    id: Annotated[str | None, Meta(description="the id of the value to bind")] = None
    name: Annotated[str | None, Meta(description="the name of the value to bind (in the spec's namespace)")] = None


class PortRef(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A connection target: the in-port ``port`` of the node named ``name`` or identified by ``id``."""

    port: Annotated[str, Meta(description="the target's in-port: NAME or NAME[INDEX]")]
    id: Annotated[str | None, Meta(description="the target node's id")] = None
    name: Annotated[str | None, Meta(description="the target node's name (in the same namespace)")] = None


class Spec(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The meta fields every spec has. A kind's spec class subclasses this and adds its own fields."""

    kind: Annotated[str, Meta(description="the node kind (`portflow kinds` lists them)")]
    id: Annotated[str, Meta(description="a UUID; assigned (UUIDv7) when missing")] = ""
    namespace: Annotated[str, Meta(description="the namespace the spec runs in")] = DEFAULT_NAMESPACE
    name: Annotated[str, Meta(description="unique within the namespace")] = ""
    annotations: Annotated[dict[str, str], Meta(description="free-form labels")] = {}
    env: Annotated[dict[str, EnvEntry], Meta(description="values bound into the spec's fields as {{ .KEY }}")] = {}
    ports: Annotated[dict[str, list[PortRef]], Meta(description="out-port -> the in-ports it sends to")] = {}

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def subject(self) -> str:
        """How messages name this spec: ``spec 'router' (kind router)``."""
        return describe({"name": self.name, "id": self.id, "kind": self.kind})


class Value(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A value (usually a secret) that specs bind through ``env``."""

    id: str = ""
    namespace: str = DEFAULT_NAMESPACE
    name: str = ""
    annotations: dict[str, str] = {}
    data: Any = None


def describe(doc: Any, kind: bool = True) -> str:
    """How error messages name a document: ``spec 'router' (kind router)``."""
    if not isinstance(doc, dict):
        return "spec"
    label = doc.get("name") or doc.get("id")
    text = f"spec {label!r}" if label else "spec"
    if kind and doc.get("kind"):
        text += f" (kind {doc['kind']})"
    return text


# -- reading and writing -----------------------------------------------------------------------

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""The largest YAML or JSON text ``read_documents`` reads (bytes of UTF-8)."""
MAX_YAML_NODES = 1_000_000
"""The most YAML nodes a text may expand to, aliases counted at every use (a "billion laughs" bound)."""


def read_documents(text: str, filename: str = "<input>", *, max_bytes: int = MAX_DOCUMENT_BYTES,
                   max_nodes: int = MAX_YAML_NODES) -> list[dict[str, Any]]:
    """Documents from YAML or JSON text: a list, a single document, or a multi-document YAML stream.

    A syntax error raises ``DocumentError`` as ``FILE:LINE: message``; a document that is not a mapping
    raises it too, naming its position; so does a text over ``max_bytes``, one nested too deeply, and YAML
    whose aliases expand past ``max_nodes`` nodes.
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise DocumentError(f"larger than {max_bytes} bytes", filename=filename)
    stripped = text.lstrip()
    if filename.endswith(".json") or stripped[:1] in ("[", "{"):
        try:
            loaded: Any = json.loads(text)
            return _flatten([loaded], filename)
        except RecursionError:
            raise DocumentError("nested too deeply", filename=filename) from None
        except json.JSONDecodeError as exc:
            if filename.endswith(".json"):
                raise DocumentError(exc.msg, filename=filename, line=exc.lineno) from None
            # YAML flow style also starts with [ or {: fall through to the YAML reader.
    try:
        loaded_docs = load_yaml(text, max_nodes=max_nodes, filename=filename)
    except RecursionError:
        raise DocumentError("nested too deeply", filename=filename) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(message, filename=filename, line=line) from None
    except yaml.YAMLError as exc:
        raise DocumentError(str(exc).splitlines()[0], filename=filename) from None
    return _flatten(loaded_docs, filename)


def load_yaml(text: str, *, max_nodes: int = MAX_YAML_NODES, filename: str | None = None) -> list[Any]:
    """Every document of a YAML stream (safe loader). The node graph is sized, each alias counted at every
    use, before anything is built: past ``max_nodes`` it raises ``DocumentError``."""
    loader = _SafeLoader(text)
    try:
        out = []
        while loader.check_node():
            node = loader.get_node()
            if _expanded_size(node, max_nodes) > max_nodes:
                raise DocumentError(f"YAML aliases expand to more than {max_nodes} nodes", filename=filename)
            out.append(loader.construct_document(node))
        return out
    finally:
        loader.dispose()


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes ``root`` stands for once every alias is expanded; stops counting past ``limit``."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done and any(id(c) not in sizes for c in children):
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(c), 1) for c in children))
    return sizes[id(root)]


def _flatten(loaded: Iterable[Any], filename: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for item in loaded:
        if item is None:
            continue
        items = item if isinstance(item, list) else [item]
        for doc in items:
            if not isinstance(doc, dict):
                raise DocumentError(
                    f"document {len(docs) + 1} is a {type(doc).__name__}, expected a mapping", filename=filename
                )
            docs.append({str(k): v for k, v in doc.items()})
    return docs


def read_file(path: str | Path, **limits: int) -> list[dict[str, Any]]:
    """Documents from a YAML or JSON file (``-`` is not special here). Unreadable: ``DocumentError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(exc.strerror or str(exc), filename=str(path)) from None
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8 text", filename=str(path)) from None
    return read_documents(text, str(path), **limits)


def _yaml_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _yaml_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v) for v in value]
    return value


def dump_documents(docs: list[dict[str, Any]], fmt: str = "yaml") -> str:
    """Documents as a YAML list or a JSON array."""
    if fmt == "json":
        return json.dumps(docs, indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "yaml":
        return str(yaml.dump(_yaml_safe(docs), Dumper=_SafeDumper, sort_keys=False, allow_unicode=True))
    raise ValueError(f"unknown format {fmt!r}")


def check_meta(doc: dict[str, Any]) -> list[str]:
    """Problems with a document's meta fields, one line each (empty when fine)."""
    problems = []
    kind = doc.get("kind")
    if not kind:
        problems.append("kind: required")
    elif not isinstance(kind, str):
        problems.append("kind: expected a string")
    for key in ("id", "namespace", "name"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            problems.append(f"{key}: expected a string, got {type(doc[key]).__name__}")
    ports = doc.get("ports")
    if ports is not None:
        if not isinstance(ports, dict):
            problems.append("ports: expected a mapping of out-port to targets")
        else:
            from .port import parse_port

            for out, targets in ports.items():
                try:
                    parse_port(str(out))
                except ValueError as exc:
                    problems.append(f"ports.{out}: {exc}")
                    continue
                refs = targets if isinstance(targets, list) else [targets]
                for i, ref in enumerate(refs):
                    where = f"ports.{out}[{i}]"
                    if not isinstance(ref, dict):
                        problems.append(f"{where}: expected a mapping with name or id, and port")
                        continue
                    if not ref.get("port"):
                        problems.append(f"{where}.port: required")
                    else:
                        try:
                            parse_port(str(ref["port"]))
                        except ValueError as exc:
                            problems.append(f"{where}.port: {exc}")
                    if not ref.get("name") and not ref.get("id"):
                        problems.append(f"{where}: name or id required")
    env = doc.get("env")
    if env is not None:
        if not isinstance(env, dict):
            problems.append("env: expected a mapping")
        else:
            for key, entry in env.items():
                entries = entry if isinstance(entry, list) else [entry]
                for e in entries:
                    if not isinstance(e, dict) or "data" not in e:
                        problems.append(f"env.{key}: expected a mapping with data")
    return problems


def validate_meta(doc: dict[str, Any]) -> None:
    """Raise ``SpecError`` naming the spec when its meta fields are wrong."""
    problems = check_meta(doc)
    if problems:
        raise SpecError(describe(doc), problems)
