"""Fuzzing spec decoding (issue 12, Also): any text through read_documents, and any document through
prepare_specs and the scheme, ends in documents or one clear UserError — never another exception.

The suite runs a few seconds of examples; ``make fuzz`` runs many more (``PORTFLOW_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portflow.apply import prepare_specs
from portflow.errors import UserError
from portflow.plugin import default_registries
from portflow.spec import dump_documents, read_documents

EXAMPLES = int(os.environ.get("PORTFLOW_FUZZ_EXAMPLES", "150"))
SCHEME = default_registries({}).scheme
KINDS = sorted(k.name for k in SCHEME.kinds())

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=20)
field_names = st.sampled_from(["code", "language", "port", "ports", "env", "routes", "query", "driver",
                               "source", "timeout", "opcode", "path", "method", "annotations", "x"])
documents = st.fixed_dictionaries(
    {"kind": st.one_of(st.sampled_from(KINDS), st.text(max_size=10), scalars)},
    optional={"name": st.one_of(st.text(max_size=10), scalars), "namespace": st.one_of(st.text(max_size=8), scalars),
              "id": st.one_of(st.text(max_size=8), scalars)},
).flatmap(lambda base: st.dictionaries(field_names, values, max_size=5).map(lambda extra: {**extra, **base}))
yaml_fragments = st.lists(st.sampled_from([
    "- ", "kind: ", "snippet", "&a ", "*a", "[", "]", "{", "}", ",", ":", "\n", "  ", "---\n", "'", '"', "\\",
    "<<: ", "!!str ", "!!binary ", "? ", "|\n", "#", "\t", "0x1", "1e9", "null", "~", "é", "\x00", "%YAML 1.1\n",
]), max_size=40).map("".join)


def _ok(text: str, filename: str = "<fuzz>") -> list[dict[str, Any]]:
    try:
        return read_documents(text, filename)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(filename)
        return []


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(yaml_fragments, st.text(max_size=200)))
def test_any_text_reads_as_documents_or_one_clear_error(text):
    for doc in _ok(text):
        assert isinstance(doc, dict) and all(isinstance(k, str) for k in doc)


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, max_size=3), st.sampled_from(["yaml", "json"]))
def test_any_document_decodes_or_is_one_problem_per_spec(docs, fmt):
    try:
        text = dump_documents(docs, fmt)
    except (TypeError, ValueError):
        return
    read = _ok(text, f"fuzz.{fmt}")
    valid, problems = prepare_specs(read, "default", SCHEME)
    assert len(valid) + len(problems) == len(read)
    for line in problems:
        assert line.startswith("spec") and line.strip()
