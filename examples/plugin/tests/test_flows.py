"""The example kinds in whole flows, through a Runtime."""

from __future__ import annotations

import hashlib

from portflow import FlowError


async def test_hash_in_a_chain(flow, call):
    runtime = await flow("""
- kind: snippet
  name: body
  language: cel
  code: self.body
  ports:
    out:
      - name: etag
        port: in
- kind: hash
  name: etag
  algorithm: md5
""")
    assert await call(runtime, "body", {"body": "hello"}) == "5d41402abc4b2a76b9719d911017c592"


async def test_a_bad_payload_goes_to_the_error_port(flow, call):
    runtime = await flow("""
- kind: hash
  name: etag
  ports:
    error:
      - name: explain
        port: in
- kind: snippet
  name: explain
  language: cel
  code: '"cannot hash: " + string(self)'
""")
    assert await call(runtime, "etag", ["not", "text"]) == "cannot hash: hash: expected text or bytes, got list"


async def test_counter_numbers_the_elements_of_a_for_loop(flow, call):
    runtime = await flow("""
- kind: for
  name: each
  ports:
    out[0]:
      - name: number
        port: in
- kind: counter
  name: number
""")
    assert await call(runtime, "each", ["a", "b"]) == [
        {"count": 1, "payload": "a"}, {"count": 2, "payload": "b"}]
    # The next process starts over.
    assert await call(runtime, "each", ["c", "d"]) == [
        {"count": 1, "payload": "c"}, {"count": 2, "payload": "d"}]


async def test_the_plugin_config_reaches_the_codec(flow, call):
    runtime = await flow("- kind: hash\n  name: etag\n", config={"algorithm": "sha1"})
    assert await call(runtime, "etag", "hello") == hashlib.sha1(b"hello").hexdigest()


async def test_a_spec_error_is_a_load_problem_and_leaves_no_node(flow):
    runtime = await flow("- kind: counter\n  name: number\n  step: 0\n")
    assert runtime.problems == ["spec 'number' (kind counter): step: must not be 0"]
    assert runtime.table.lookup("default", "number").node is None
