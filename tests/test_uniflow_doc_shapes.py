"""The shapes of the YAML examples in uniflow's node docs (v0.14.0), in our own copies: each loads into a
runtime without a problem (a target the fragment leaves out only makes its node inactive, as in uniflow),
and the one uniflow rejects (a listener without a port) is rejected here too, naming the field."""

from __future__ import annotations

import pytest

from portflow.errors import SpecError
from portflow.plugin import default_registries

SHAPES = {
    "block": """
- kind: block
  specs:
    - kind: snippet
      language: javascript
      code: "export default function (args) { return { payload: { method: 'GET', body: args } } }"
      ports:
        out:
          - name: $1
            port: in
    - kind: http
      url: https://api.example.invalid/data
      ports:
        out:
          - name: $2
            port: in
    - kind: snippet
      language: javascript
      code: "export default function (args) { return args.body }"
  inbounds:
    in:
      - name: $0
        port: in
  outbounds:
    out:
      - name: $2
        port: out
""",
    "for": "- kind: for\n  ports:\n    out[0]: [{name: each, port: out}]\n    out[1]: [{name: after, port: out}]\n",
    "fork": "- kind: fork\n  ports:\n    out: [{name: later, port: out}]\n",
    "if": "- kind: if\n  when: \"count > 10\"\n  ports:\n    out[0]: [{name: big, port: out}]\n",
    "nop": "- kind: print\n  filename: /dev/null\n  ports:\n    out: [{name: sink, port: in}]\n- kind: nop\n  name: sink\n",
    "pipe": "- kind: pipe\n  ports:\n    out[0]: [{name: a, port: in}]\n    out[1]: [{name: b, port: in}]\n",
    "retry": "- kind: retry\n  threshold: 3\n",
    "sleep": "- kind: sleep\n  interval: 2000\n",
    "snippet": """
- kind: snippet
  language: javascript
  code: |
    export default function (args) {
      return { body: { error: args.error() }, status: 400 };
    }
""",
    "split": "- kind: split\n  ports:\n    out[0]: [{name: a, port: in}]\n    out[1]: [{name: b, port: in}]\n",
    "step": """
- kind: step
  specs:
    - kind: snippet
      language: javascript
      code: "export default function (args) { return { payload: { method: 'GET', body: args } } }"
    - kind: http
      url: https://api.example.invalid/data
    - kind: snippet
      language: javascript
      code: "export default function (args) { return args.body }"
""",
    "switch": """
- kind: switch
  matches:
    - when: "payload['status'] == 'success'"
      port: out[0]
    - when: "payload['status'] == 'error'"
      port: out[1]
""",
    "throw": "- kind: throw\n",
    "try": "- kind: try\n  ports:\n    out: [{name: next, port: in}]\n    error: [{name: catch, port: in}]\n",
    "http": "- kind: http\n  name: upstream\n  url: https://example.invalid/\n",
    "router": """
- kind: router
  name: routes
  routes:
    - method: GET
      path: /api/data
      port: out[0]
    - method: POST
      path: /api/submit
      port: out[1]
""",
    "sql": """
- kind: snippet
  language: javascript
  code: "export default function () { return ['INSERT INTO USERS(name) VALUES (?)', ['foo', 'bar']] }"
  ports:
    out: [{name: db, port: in}]
- kind: sql
  name: db
  driver: sqlite3
  source: file::memory:?cache=shared
""",
}


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_the_doc_example_shape_loads(flow, name):
    runtime = await flow(SHAPES[name], watch=False)
    assert runtime.problems == []
    assert all(sb.node is not None for sb in runtime.table), [sb.error for sb in runtime.table]


def test_a_listener_without_a_port_is_rejected_as_in_uniflow():
    scheme = default_registries().scheme
    with pytest.raises(SpecError, match=r"port: required"):
        scheme.decode({"kind": "listener", "protocol": "http", "host": "localhost"})
