"""uniflow's value model seen over real HTTP: a null answer, JSON numbers as doubles, Go's truthiness, an
error payload in JavaScript, SQL without rows. Each flow is a small listener -> ... runtime of its own."""

from __future__ import annotations

import json

import aiohttp
import pytest

LISTENER = """
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  env:
    PORT:
      data: '{{ .PORT }}'
  ports:
    out:
      - name: first
        port: in
"""


@pytest.fixture
def serve(flow):
    """``await serve(yaml)``: the listener above -> the spec named ``first`` in ``yaml``; its base URL."""

    async def start(specs: str) -> str:
        runtime = await flow(LISTENER + specs, environment={"PORT": "0"})
        listener = runtime.table.lookup("default", "listener")
        assert listener is not None and listener.loaded, listener
        return listener.node.url

    return start


async def call(url: str, path: str = "/", **kw) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as client, client.request(kw.pop("method", "GET"), url + path, **kw) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


@pytest.mark.parametrize("snippet", [
    "language: json\n  code: 'null'",
    "language: javascript\n  code: 'export default function (args) { return null }'",
])
async def test_a_snippet_answering_null_is_a_json_null(serve, snippet):
    url = await serve(f"- kind: snippet\n  name: first\n  {snippet}\n")
    assert await call(url) == (200, "application/json; charset=utf-8", "null\n")


async def test_nothing_answered_is_an_empty_200(serve):
    url = await serve("- kind: nop\n  name: first\n")  # nop answers the None packet
    status, _, body = await call(url)
    assert (status, body) == (200, "")


async def test_json_body_numbers_are_doubles_so_uniflow_cel_runs_and_whole_results_are_integers(serve):
    url = await serve("""
- kind: snippet
  name: first
  language: cel
  code: '{"twice": self.body.n * 2.0, "half": self.body.n / 4.0, "same": self.body.n == 21}'
""")
    status, ctype, body = await call(url, method="POST", json={"n": 21})
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    assert json.loads(body) == {"twice": 42, "half": 5.25, "same": True}
    assert '"twice":42,' in body or '"twice":42}' in body  # written as Go writes a whole float64: no ".0"


async def test_a_json_snippet_number_is_a_double(serve):
    url = await serve("""
- kind: snippet
  name: first
  language: json
  code: 21
  ports:
    out:
      - name: double
        port: in
- kind: snippet
  name: double
  language: cel
  code: self * 2.0
""")
    assert await call(url) == (200, "application/json; charset=utf-8", "42\n")


async def test_if_treats_an_empty_list_as_true_and_zero_as_false(serve):
    url = await serve("""
- kind: if
  name: first
  when: self.body.v
  ports:
    out[0]:
      - name: yes
        port: in
    out[1]:
      - name: no
        port: in
- kind: snippet
  name: yes
  language: text
  code: truthy
- kind: snippet
  name: no
  language: text
  code: falsy
""")
    results = {}
    for value in ([], {}, 0, "", False, None, "0", [0]):
        results[repr(value)] = (await call(url, method="POST", json={"v": value}))[2]
    assert results == {"[]": "truthy", "{}": "truthy", "0": "falsy", "''": "falsy", "False": "falsy",
                       "None": "falsy", "'0'": "truthy", "[0]": "truthy"}


async def test_an_error_payload_reaches_javascript_as_uniflows_snippet_doc_expects(serve):
    # the flow of uniflow's snippet doc: an error answered as {error: args.error()} with status 400
    url = await serve("""
- kind: snippet
  name: first
  language: javascript
  code: |
    export default function () { throw new Error("the disk is full") }
  ports:
    error:
      - name: report
        port: in
- kind: snippet
  name: report
  language: javascript
  code: |
    export default function (args) {
      return {
        body: {
          error: args.error()
        },
        status: 400
      };
    }
""")
    assert await call(url) == (400, "application/json; charset=utf-8", '{"error":"the disk is full"}\n')


async def test_sql_without_rows_answers_an_empty_list(serve):
    url = await serve("""
- kind: snippet
  name: first
  language: text
  code: SELECT 1 AS one WHERE 1 = 0
  ports:
    out:
      - name: db
        port: in
- kind: sql
  name: db
  driver: sqlite
  source: ':memory:'
""")
    assert await call(url) == (200, "application/json; charset=utf-8", "[]\n")
