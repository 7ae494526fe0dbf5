"""Env templates: Go's ``text/template`` language as uniflow uses it (``gotemplate`` runs it).

``{{ .KEY }}``, pipelines, ``printf``, ``if``/``range``/``with``, variables and the comparison functions
(see ``gotemplate``). A missing key renders ``<no value>`` as Go does; the typed decode afterwards
reports it. A template that does not parse or fails is a ``TemplateError``. Output is a string, except
that ``render_fields(..., keep_type=True)`` gives the value itself for a string that is exactly one
``{{ .path }}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .gotemplate import NO_VALUE, execute

__all__ = ["render", "render_fields", "has_template", "NO_VALUE"]

_WHOLE = re.compile(r"^\{\{-?\s*(\.[\w.-]*)\s*-?\}\}$")


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


def render(template: str, data: Any) -> str:
    """Execute ``template`` with ``data`` as ``.``."""
    if "{{" not in template:
        return template
    return execute(template, data)


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
