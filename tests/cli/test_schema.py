"""``portflow schema``: one JSON Schema for whole spec files; the examples validate against it."""

from __future__ import annotations

import json
import subprocess

import jsonschema
import pytest
import yaml

from .conftest import ROOT
from .test_subprocess import PORTFLOW

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    out = subprocess.run([PORTFLOW, "schema"], capture_output=True, text=True, timeout=120, check=True)
    schema = json.loads(out.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(validator, docs) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(docs)]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(validator, path):
    assert problems(validator, yaml.safe_load(path.read_text())) == []


def test_ping_uses_a_template_where_a_number_goes(validator):
    [listener] = [d for d in yaml.safe_load((ROOT / "examples" / "ping.yaml").read_text()) if d["kind"] == "listener"]
    assert listener["port"] == "{{ .PORT }}" and problems(validator, listener) == []
    assert problems(validator, dict(listener, port=8000)) == []


@pytest.mark.parametrize(("doc", "field"), [
    ({"kind": "listner", "name": "x"}, "kind"),
    ({"kind": "listener", "name": "l", "protocol": "http", "port": [1]}, "port"),
    ({"kind": "snippet", "name": "s", "language": "text", "code": 3}, "code"),
    ({"kind": "syscall", "name": "s", "opcode": "specs.explode"}, "opcode"),
])
def test_mistakes_are_caught_at_their_field(validator, doc, field):
    assert problems(validator, [doc])
    best = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    assert best is not None and list(best.absolute_path) == [field], best.message


def test_values_and_single_documents(validator):
    assert problems(validator, {"name": "token", "data": {"k": "v"}}) == []
    assert problems(validator, [{"name": "token"}])  # neither a kind nor data


def test_writes_a_file_the_readme_points_to(cli, tmp_path):
    result = cli("schema", "-o", str(tmp_path / "portflow.schema.json"))
    assert result.exit_code == 0 and result.stderr.strip() == f"wrote {tmp_path / 'portflow.schema.json'}"
    schema = json.loads((tmp_path / "portflow.schema.json").read_text())
    assert schema["$defs"]["spec"]["properties"]["kind"]["enum"] == sorted(schema["$defs"]["spec"]["properties"]
                                                                           ["kind"]["enum"])
    assert "listener" in schema["$defs"]["spec"]["properties"]["kind"]["enum"]
    assert "# yaml-language-server: $schema=" in (ROOT / "README.md").read_text()
