"""Where a field is written: lint's line numbers come from PyYAML's node marks."""

from portflow.lint import Finding, document_nodes, field_line

TEXT = """\
# a comment
- kind: router
  name: r
  routes:
    - method: GET
      path: /a
    - method: GET
      path: /b
  ports:
    out[0]:
      - name: x
        port: in
      - name: y
        port: inn
---
kind: snippet
name: s
"""


def test_each_document_and_field_has_its_line():
    nodes = document_nodes(TEXT)
    assert len(nodes) == 2
    assert field_line(nodes[0], "") == 2
    assert field_line(nodes[0], "routes[1].path") == 8
    assert field_line(nodes[0], "ports.out[0][1].port") == 14  # a key with brackets, then an index
    assert field_line(nodes[0], "ports.out[0][1]") == 13
    assert field_line(nodes[0], "routes[7].path") == 4  # past the end: the deepest part found
    assert field_line(nodes[0], "nothing.here") == 2
    assert field_line(nodes[1], "name") == 17
    assert field_line(None, "name") is None


def test_json_and_text_that_does_not_compose():
    assert field_line(document_nodes('[{"kind": "a",\n "name": "b"}]')[0], "name") == 2
    assert document_nodes("a: [") == []


def test_a_finding_reads_as_one_line():
    assert str(Finding("f.yaml", 3, "spec 'a' (kind k)", "code", "bad")) == "f.yaml:3: spec 'a' (kind k): code: bad"
    assert str(Finding("f.yaml", None, "", "", "not UTF-8 text")) == "f.yaml: not UTF-8 text"
