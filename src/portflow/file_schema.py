"""One JSON Schema for whole spec files, for editors: every installed kind, chosen by ``kind``.

A file is a list of documents or one document (a multi-document YAML stream is checked document by
document). A document with ``kind`` is a spec, checked against its kind's schema (from
``Scheme.json_schema``) through an ``if``/``then`` per kind on a ``const`` discriminator; one without is a
value (``data`` required). Every typed field also accepts a template (``'{{ .PORT }}'``): a spec's fields
are templates until ``env`` binds them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["file_schema", "TEMPLATE", "SCHEMA_ID"]

SCHEMA_ID = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {"type": "string", "pattern": r"\{\{.*\}\}", "description": "a template, bound from env"}
_META = ("kind", "id", "namespace", "name", "annotations", "env", "ports")


def _plain_string(node: Any) -> bool:
    """A schema any string satisfies (a template needs no alternative there)."""
    return isinstance(node, dict) and node.get("type") == "string" and not ({"enum", "pattern", "const",
                                                                             "format", "minLength", "maxLength"}
                                                                            & node.keys())


def _templated(node: Any) -> Any:
    """``node`` (a field's schema) that also accepts a template, recursively through objects and lists."""
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("properties"), dict):
        node["properties"] = {k: _templated(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = _templated(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = _templated(node["additionalProperties"])
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            node[key] = [_templated(v) if isinstance(v, dict) and "properties" in v else v for v in node[key]]
    if _plain_string(node) or node == {}:
        return node
    outer = {k: node.pop(k) for k in ("title", "description", "default") if k in node}
    return {**outer, "anyOf": [node, TEMPLATE]}


def _rename_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/") and v[8:] in names:
                out[k] = "#/$defs/" + names[v[8:]]
            else:
                out[k] = _rename_refs(v, names)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, names) for v in node]
    return node


def file_schema(scheme: Any) -> dict[str, Any]:
    """The JSON Schema of a spec file for the kinds of ``scheme``."""
    defs: dict[str, Any] = {}
    selectors = []
    kinds = [k.name for k in scheme.kinds()]
    for kind in kinds:
        schema = scheme.json_schema(kind)
        own = schema.get("$defs", {})
        names: dict[str, str] = {}
        for name, body in own.items():  # one name per distinct definition; a clash gets the kind's name
            if name in defs and json.dumps(defs[name], sort_keys=True) != json.dumps(body, sort_keys=True):
                names[name] = f"{name}.{kind}"
        own = _rename_refs(own, names)
        root = _rename_refs({k: v for k, v in schema.items() if k != "$defs"}, names)
        for name, body in own.items():
            defs.setdefault(names.get(name, name), _templated(body) if "properties" in body else body)
        target = root if "$ref" in root else _templated(root)
        selectors.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": target})
    for body in defs.values():  # the kind field itself is the discriminator, never a template
        props = body.get("properties") if isinstance(body, dict) else None
        if isinstance(props, dict) and "kind" in props:
            props["kind"] = {"description": "the node kind (`portflow kinds` lists them)", "enum": kinds}
    defs["spec"] = {"type": "object", "required": ["kind"], "allOf": selectors,
                    "properties": {"kind": {"description": "the node kind (`portflow kinds` lists them)",
                                            "enum": kinds}}}
    defs["value"] = {"type": "object", "required": ["data"],
                     "properties": {"id": {"type": "string"}, "namespace": {"type": "string"},
                                    "name": {"type": "string"}, "data": {"description": "the value: any JSON"}}}
    defs["document"] = {"if": {"required": ["kind"]}, "then": {"$ref": "#/$defs/spec"},
                        "else": {"$ref": "#/$defs/value"}}
    return {
        "$schema": SCHEMA_ID,
        "title": "portflow spec file",
        "description": "Specs (a kind and its fields) and values (data), as a list or one document. "
                       "Written by `portflow schema`.",
        "anyOf": [{"type": "array", "items": {"$ref": "#/$defs/document"}}, {"$ref": "#/$defs/document"}],
        "$defs": copy.deepcopy(defs),
    }
