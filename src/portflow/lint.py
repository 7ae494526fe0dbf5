"""Lint: what ``start`` would find in spec files, found without running anything or writing to a store.

:func:`lint_files` reads each file (decode errors), checks the meta fields, compiles every document in
a fresh context (``admission.compiled``: field and compile errors in every language), and looks at the
namespace as a whole: duplicate names, links to names or ports that do not exist (with a did-you-mean,
``wiring``), two listeners on one port, nodes nothing reaches, and listeners whose ``error`` port is not
wired. Each finding names the file and line (from PyYAML's node marks), the spec, the field and the
problem; errors are what ``start`` would refuse or leave inactive, warnings what it runs but likely not as
meant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .admission import Built, compiled
from .diff import secret_texts
from .errors import DocumentError, SpecError, UserError
from .redact import redact
from .runtime import bind
from .scheme import Context
from .spec import DEFAULT_NAMESPACE, check_meta, describe, new_id, read_documents
from .suggest import did_you_mean
from .wiring import Wires, inport_names

__all__ = ["Finding", "lint_files", "lint_documents", "read_sources", "field_line", "document_nodes"]

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: ``FILE:LINE: spec 'x' (kind k): field: message``."""

    file: str
    line: int | None
    subject: str
    field: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join(part for part in (where, self.subject, self.field, self.message) if part)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- where a field is written ------------------------------------------------------------------------

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def document_nodes(text: str) -> list[yaml.Node | None]:
    """The YAML node of each document, in ``read_documents`` order (a list's items are documents); empty
    when the text does not compose (JSON that YAML does not read, for one)."""
    loader = _SafeLoader(text)
    out: list[yaml.Node | None] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
                continue
            out.extend(node.value if isinstance(node, yaml.SequenceNode) else [node])
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()
    return out


_INDEX = re.compile(r"\[(\d+)\]")


def field_line(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of ``path`` (``ports.out[0][1].port``, ``routes[2].path``) inside a document's node:
    the deepest part of the path found (a key may itself hold brackets, like ``out[0]``)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    rest = path
    while rest and node is not None:
        if isinstance(node, yaml.MappingNode):
            best = None
            for key, value in node.value:
                name = str(key.value)
                fits = rest == name or rest.startswith((name + ".", name + "["))
                if fits and (best is None or len(name) > len(best[0])):
                    best = (name, key, value)
            if best is None:
                break
            name, key, node = best
            line = key.start_mark.line + 1
            rest = rest[len(name):].removeprefix(".")
        elif isinstance(node, yaml.SequenceNode):
            match = _INDEX.match(rest)
            if match is None or int(match.group(1)) >= len(node.value):
                break
            node = node.value[int(match.group(1))]
            line = node.start_mark.line + 1
            rest = rest[match.end():].removeprefix(".")
        else:
            break
    return line


# -- the checks --------------------------------------------------------------------------------------

@dataclass
class _Doc:
    file: str
    node: yaml.Node | None
    doc: dict[str, Any]

    def finding(self, field: str, message: str, severity: str = ERROR, subject: str | None = None) -> Finding:
        line = field_line(self.node, field) if field else field_line(self.node, "")
        return Finding(self.file, line, describe(self.doc) if subject is None else subject, field, message, severity)


_FIELD = re.compile(r"^([\w$-]+(?:\[\d+\])*(?:\.[\w$-]+(?:\[\d+\])*)*): (.*)$", re.DOTALL)


def _split(text: str) -> tuple[str, str]:
    """``'routes[2].path: must start with /'`` -> ``('routes[2].path', 'must start with /')``; a message
    without a field path -> ``('', message)``."""
    match = _FIELD.match(text)
    return (match.group(1), match.group(2)) if match else ("", text)


def _compile_findings(d: _Doc, built: Built) -> list[Finding]:
    exc = built.error
    if exc is None:
        return []
    if isinstance(exc, SpecError):
        return [d.finding(*_split(p)) for p in exc.problems]
    if isinstance(exc, UserError):
        text = " ".join(str(exc).split("\n"))
        subject = getattr(exc, "subject", "")
        if subject and text.startswith(subject + ": "):
            text = text[len(subject) + 2:]
        return [d.finding(*_split(text))]
    problem = built.problem or str(exc)
    return [d.finding("", problem.removeprefix(describe(d.doc) + ": "))]


def _listener_address(doc: dict[str, Any]) -> tuple[str, int] | None:
    port = doc.get("port")
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or port == 0:
        return None
    host = doc.get("host")
    host = host if isinstance(host, str) else ""
    return ("*" if host in ("", "*", "0.0.0.0", "::") else host), port  # noqa: S104 - a comparison


async def lint_documents(sources: Iterable[tuple[str, str]], namespace: str, context: Context,
                         limits: dict[str, int] | None = None,
                         environment: Mapping[str, str] | None = None) -> list[Finding]:
    """Lint ``(file name, text)`` pairs as one namespace (documents without one go to ``namespace``).

    Documents with ``data`` and no ``kind`` are values: not linted, but bound into the specs' ``env``.
    A spec with ``env`` is compiled when everything it binds is there: the values it names (in the files)
    and, for entries naming none, ``environment`` (``-e``); else only its links are checked."""
    findings: list[Finding] = []
    docs: list[_Doc] = []
    for filename, text in sources:
        try:
            loaded = read_documents(text, filename, **(limits or {}))
        except DocumentError as exc:
            message = str(exc).removeprefix(f"{filename}:{exc.line}: " if exc.line else f"{filename}: ")
            findings.append(Finding(filename, exc.line, "", "", message))
            continue
        nodes = document_nodes(text)
        for i, doc in enumerate(loaded):
            docs.append(_Doc(filename, nodes[i] if i < len(nodes) else None, doc))
    values = [d.doc for d in docs if "kind" not in d.doc and "data" in d.doc]
    docs = [d for d in docs if not ("kind" not in d.doc and "data" in d.doc)]
    secrets = secret_texts(values)
    scheme = context.scheme
    kinds = [k.name for k in scheme.kinds()] + [a for k in scheme.kinds() for a in k.aliases]
    valid: list[_Doc] = []
    seen: dict[tuple[str, str], _Doc] = {}
    for i, d in enumerate(docs):
        if not (d.doc.get("name") or d.doc.get("id")):
            subject = f"spec #{i + 1}"
        else:
            subject = None
        meta = check_meta(d.doc)
        if meta:
            findings.extend(d.finding(*_split(p), subject=subject) for p in meta)
            continue
        if not d.doc.get("namespace"):
            d.doc["namespace"] = namespace or DEFAULT_NAMESPACE
        if not d.doc.get("id"):
            d.doc["id"] = new_id()  # so that links by name resolve to one symbol each
        if d.doc.get("name"):
            key = (d.doc["namespace"], d.doc["name"])
            if key in seen:
                first = seen[key]
                findings.append(d.finding("name", f"{d.doc['name']!r} is used twice in namespace {key[0]!r} "
                                          f"(first at {first.file}:{field_line(first.node, 'name')})"))
                continue
            seen[key] = d
        if scheme.kind(d.doc["kind"]) is None:
            findings.append(d.finding("kind", f"unknown kind {d.doc['kind']!r}{did_you_mean(d.doc['kind'], kinds)}"
                                      "; `portflow kinds` lists the installed ones"))
        valid.append(d)
    def bound(doc: dict[str, Any]) -> dict[str, Any] | None:
        env = doc.get("env") or {}
        entries = [e for entry in env.values() for e in (entry if isinstance(entry, list) else [entry])]
        if not environment and any(isinstance(e, dict) and not (e.get("id") or e.get("name")) for e in entries):
            return None  # its templates wait for -e
        try:
            return bind(doc, values, environment or {}, doc["namespace"], [])
        except UserError:
            return None  # a value it names is not in the files: the store may hold it

    async with compiled([d.doc for d in valid], context, bound) as built:
        for d, b in zip(valid, built, strict=True):
            findings.extend(_compile_findings(d, b))
        wires = Wires(b.symbol for b in built)
        for d, b in zip(valid, built, strict=True):
            for m in wires.miswirings(b.symbol):
                findings.append(d.finding(m.field, m.message))
        findings.extend(_namespace_findings(valid, built, wires, scheme))
    if secrets:
        findings = [replace(f, message=redact(f.message, secrets)) for f in findings]
    return sorted(findings, key=lambda f: (f.file, f.line or 0))


def _namespace_findings(valid: list[_Doc], built: list[Built], wires: Wires, scheme: Any) -> list[Finding]:
    findings: list[Finding] = []
    listeners: dict[tuple[str, int], _Doc] = {}
    referrers = wires.referrers()
    for d, b in zip(valid, built, strict=True):
        kind = scheme.kind(b.symbol.kind)
        if kind is not None and kind.name == "listener":
            fields = d.doc if b.symbol.node is None else {"port": getattr(b.symbol.spec, "port", None),
                                                          "host": getattr(b.symbol.spec, "host", "")}
            address = _listener_address(fields)  # the bound port when it was compiled
            if address is not None:
                other = listeners.get(address)
                if other is not None:
                    findings.append(d.finding("port", f"port {address[1]} is also listened on by "
                                              f"{describe(other.doc)} ({other.file}:{field_line(other.node, 'port')})"))
                else:
                    listeners[address] = d
            if not d.doc.get("ports", {}).get("error"):
                findings.append(d.finding("ports", "the error port is not wired: a failing flow answers a bare "
                                          "500 (wire ports.error to answer errors yourself)", WARNING))
        node = b.symbol.node
        if node is not None and inport_names(node) and b.symbol.id not in referrers:
            findings.append(d.finding("", "nothing sends to this node (no spec's ports name it)", WARNING))
    return findings


def read_sources(paths: Iterable[str]) -> tuple[list[tuple[str, str]], list[Finding]]:
    """``(file name, text)`` of each readable file (``-`` is stdin), and a finding per unreadable one."""
    import sys

    sources: list[tuple[str, str]] = []
    findings: list[Finding] = []
    for path in paths:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            findings.append(Finding(path, None, "", "", exc.strerror or str(exc)))
            continue
        except UnicodeDecodeError:
            findings.append(Finding(path, None, "", "", "not UTF-8 text"))
            continue
        sources.append(("<stdin>" if path == "-" else path, text))
    return sources, findings


async def lint_files(paths: Iterable[str], namespace: str, context: Context,
                     limits: dict[str, int] | None = None,
                     environment: Mapping[str, str] | None = None) -> list[Finding]:
    """Lint files as one namespace; an unreadable file is a finding, not an exception."""
    sources, findings = read_sources(paths)
    return findings + await lint_documents(sources, namespace, context, limits, environment)
