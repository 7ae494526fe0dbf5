"""uniflow's files through the CLI: the flows of its assert, test and merge node docs (our own copies, the
same shapes: ``code: 42`` and friends), and v0.12's words (``--env``, ``secrets``, ``--from-secrets``)."""

from __future__ import annotations

from .test_test import results

# The assert doc's first example: a json snippet whose code is a YAML number, checked by CEL.
ASSERT_NO_TARGET = """
- kind: test
  name: answers-42
  ports:
    out[0]:
      - name: constant
        port: in
    out[1]:
      - name: check
        port: in
- kind: snippet
  name: constant
  language: json
  code: 42
- kind: assert
  name: check
  expect: self == 42
"""

# The assert doc's second example: the frame of a named node's out port, not the last answer.
ASSERT_TARGET = """
- kind: test
  name: first-frame
  ports:
    out[0]:
      - name: one
        port: in
    out[1]:
      - name: check
        port: in
- kind: snippet
  name: one
  language: json
  code: 1
  ports:
    out:
      - name: two
        port: in
- kind: snippet
  name: two
  language: json
  code: 2
- kind: assert
  name: check
  expect: self == 1
  target:
    name: one
    port: out
"""

# The merge doc's shape (nameless json snippets with numeric code into merge in[0], in[1]), driven by a test.
MERGE = """
- kind: test
  name: merged
  ports:
    out[0]:
      - name: zero
        port: in
      - name: one
        port: in
    out[1]:
      - name: check
        port: in
- kind: snippet
  name: zero
  language: json
  code: 0
  ports:
    out:
      - name: merge
        port: in[0]
- kind: snippet
  name: one
  language: json
  code: 1
  ports:
    out:
      - name: merge
        port: in[1]
- kind: merge
  name: merge
  ports:
    out:
      - name: after
        port: in
- kind: snippet
  name: after
  language: cel
  code: self
- kind: assert
  name: check
  expect: self == [0, 1]
  target:
    name: merge
    port: out
"""


def test_the_assert_doc_examples_pass(cli):
    for text, name in ((ASSERT_NO_TARGET, "answers-42"), (ASSERT_TARGET, "first-frame")):
        result = cli("test", "--from-specs", cli.write("suite.yaml", text))
        assert result.exit_code == 0, result.output
        assert results(result.stdout)[f"default/{name}"] == ("PASS", [])


def test_the_merge_doc_shape_loads_and_merges(cli):
    result = cli("test", "--from-specs", cli.write("merge.yaml", MERGE))
    assert result.exit_code == 0, result.output
    assert results(result.stdout)["default/merged"] == ("PASS", [])


def test_a_number_for_code_is_stored_as_given_and_compiled_as_text(cli):
    assert cli("apply", "specs", "-f", cli.write("s.yaml", ASSERT_NO_TARGET)).exit_code == 0
    (doc,) = [d for d in cli.docs("specs") if d["name"] == "constant"]
    assert doc["code"] == 42  # the document is kept as written; the kind's field reads it as "42"


def test_env_is_an_alias_of_environment(cli):
    path = cli.write("suite.yaml", """
- kind: test
  name: templated
  ports:
    out[0]:
      - name: greet
        port: in
    out[1]:
      - name: check
        port: in
- kind: snippet
  name: greet
  language: text
  code: '{{ .WHO }}'
  env:
    WHO:
      data: '{{ .WHO }}'
- kind: assert
  name: check
  expect: self == "world"
""")
    for flags in (["--env", "WHO=world"], ["--env=WHO=world"], ["-e", "WHO=world"]):
        result = cli("test", "--from-specs", path, *flags)
        assert result.exit_code == 0, (flags, result.output)


def test_secrets_is_an_alias_of_values_with_a_deprecation_note(cli):
    path = cli.write("values.yaml", "- name: database\n  data:\n    password: hunter2\n")
    applied = cli("apply", "secrets", "-f", path)
    assert applied.exit_code == 0, applied.output
    assert "note: 'secrets' is uniflow v0.12's name of values and is deprecated; use 'values'" in applied.stderr
    assert [v["name"] for v in cli.docs("values")] == ["database"]
    listed = cli("get", "secrets")
    assert listed.exit_code == 0 and "database" in listed.stdout and "hunter2" not in listed.stdout


def test_from_secrets_is_an_alias_of_from_values(cli):
    specs = cli.write("suite.yaml", """
- kind: test
  name: bound
  ports:
    out[0]:
      - name: show
        port: in
    out[1]:
      - name: check
        port: in
- kind: snippet
  name: show
  language: text
  code: '{{ .USER }}'
  env:
    USER:
      name: database
      data: '{{ .user }}'
- kind: assert
  name: check
  expect: self == "admin"
""")
    values = cli.write("values.yaml", "- name: database\n  data:\n    user: admin\n")
    result = cli("test", "--from-specs", specs, "--from-secrets", values)
    assert result.exit_code == 0, result.output
