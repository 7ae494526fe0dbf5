"""``{{ .X }}`` templates, the subset of Go text/template that uniflow specs use.

Supported actions: ``{{ . }}``, ``{{ .KEY }}``, ``{{ .a.b }}``, with optional ``{{-``/``-}}`` trimming.
A missing key renders ``<no value>`` as Go does; the typed decode afterwards reports it. Anything else
inside ``{{ }}`` is a ``TemplateError``. Output is always a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import TemplateError

__all__ = ["render", "render_fields", "has_template", "NO_VALUE"]

NO_VALUE = "<no value>"
_ACTION = re.compile(r"(\s*)\{\{(-?)(.*?)(-?)\}\}(\s*)", re.S)
_WHOLE = re.compile(r"^\{\{-?\s*(\.[\w.-]*)\s*-?\}\}$")
_PATH = re.compile(r"^\.(?:[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)?$")


def has_template(text: str) -> bool:
    return "{{" in text


def _lookup(data: Any, path: str) -> Any:
    value = data
    for key in path.split(".")[1:]:
        if not key:
            continue
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return NO_VALUE
    return value


def _text(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return str(value)


def render(template: str, data: Any) -> str:
    """Execute ``template`` with ``data`` as ``.``."""
    if "{{" not in template:
        return template

    def action(match: re.Match[str]) -> str:
        lead, trim_left, body, trim_right, tail = match.groups()
        expr = body.strip()
        if not _PATH.match(expr):
            raise TemplateError(f"template {template!r}: unsupported action {{{{ {expr} }}}}; use {{{{ .KEY }}}}")
        out = _text(_lookup(data, expr))
        return ("" if trim_left else lead) + out + ("" if trim_right else tail)

    rendered = _ACTION.sub(action, template)
    if "{{" in rendered and _ACTION.search(rendered) is None and "{{" in template:
        raise TemplateError(f"template {template!r}: unclosed action")
    return rendered


def render_fields(value: Any, data: Any, *, keep_type: bool = False) -> Any:
    """Render every string leaf and every string map key in ``value``; other values pass through.

    With ``keep_type``, a string that is exactly one action (``'{{ .password }}'``) becomes the value it
    names, unconverted (a map stays a map); ``env`` data is rendered this way.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        if keep_type:
            match = _WHOLE.match(value)
            if match:
                found = _lookup(data, match.group(1))
                if found is not NO_VALUE and found is not None:
                    return found
        return render(value, data)
    if isinstance(value, dict):
        return {render_fields(k, data): render_fields(v, data, keep_type=keep_type) for k, v in value.items()}
    if isinstance(value, list):
        return [render_fields(v, data, keep_type=keep_type) for v in value]
    return value
