"""Whole YAML flows through the runtime: the ctrl kinds as a user writes them."""

from __future__ import annotations

from portflow.errors import FlowError
from portflow.packet import Packet
from portflow.port import OutPort
from portflow.process import Process
from support.probe import call


async def test_snippet_if_branches(flow):
    runtime = await flow("""
- kind: snippet
  name: entry
  language: cel
  code: self * 2
  ports:
    out:
      - name: check
        port: in
- kind: if
  name: check
  when: self > 10
  ports:
    out[0]:
      - name: big
        port: in
    out[1]:
      - name: small
        port: in
- kind: snippet
  name: big
  language: text
  code: big
- kind: snippet
  name: small
  language: text
  code: small
""")
    assert await call(runtime, "entry", 6) == "big"
    assert await call(runtime, "entry", 2) == "small"


async def test_switch_routes_by_the_first_match(flow):
    runtime = await flow("""
- kind: switch
  name: route
  matches:
    - when: self.method == 'GET'
      port: out[0]
    - when: "true"
      port: out[1]
  ports:
    out[0]: [{name: get, port: in}]
    out[1]: [{name: other, port: in}]
- {kind: snippet, name: get, language: text, code: read}
- {kind: snippet, name: other, language: text, code: write}
""")
    assert await call(runtime, "route", {"method": "GET"}) == "read"
    assert await call(runtime, "route", {"method": "POST"}) == "write"


async def test_loop_alias_and_reduce(flow):
    runtime = await flow("""
- kind: loop
  name: each
  ports:
    out[0]: [{name: square, port: in}]
    out[1]: [{name: total, port: in}]
- kind: snippet
  name: square
  language: cel
  code: self * self
- kind: snippet
  name: total
  language: javascript
  code: "export default (xs) => xs.reduce((a, b) => a + b, 0)"
""")
    assert await call(runtime, "each", [1, 2, 3]) == 14


async def test_reduce_folds_within_one_process(flow):
    runtime = await flow("""
- kind: for
  name: each
  ports:
    out[0]: [{name: sum, port: in}]
- kind: reduce
  name: sum
  action: acc + cur
  init: 0
""")
    assert await call(runtime, "each", [1, 2, 3, 4]) == [1, 3, 6, 10]


async def test_try_throw_and_an_error_handler(flow):
    runtime = await flow("""
- kind: try
  name: guarded
  ports:
    out: [{name: fail, port: in}]
    error: [{name: recover, port: in}]
- kind: throw
  name: fail
- kind: snippet
  name: recover
  language: python
  code: "{'status': 400, 'body': 'recovered from ' + str(self)}"
""")
    assert await call(runtime, "guarded", "forbidden") == {"status": 400, "body": "recovered from forbidden"}


async def test_step_runs_children_in_order(flow):
    runtime = await flow("""
- kind: step
  name: shout
  specs:
    - kind: snippet
      language: javascript
      code: "export default (s) => s.toUpperCase()"
    - kind: snippet
      language: cel
      code: self + '!'
""")
    assert await call(runtime, "shout", "hi") == "HI!"


async def test_a_step_childs_error_goes_to_the_steps_error(flow):
    runtime = await flow("""
- kind: step
  name: risky
  specs:
    - kind: snippet
      language: javascript
      code: "export default () => { throw new Error('bad step') }"
  ports:
    error: [{name: handler, port: in}]
- kind: snippet
  name: handler
  language: text
  code: handled
""")
    assert await call(runtime, "risky", 1) == "handled"


async def test_a_listener_inside_a_block_serves_requests(flow):
    import aiohttp

    runtime = await flow("""
- kind: block
  name: web
  specs:
    - kind: listener
      name: http
      protocol: http
      host: 127.0.0.1
      port: 0
      ports:
        out: [{name: pong, port: in}]
    - kind: snippet
      name: pong
      language: text
      code: pong
""")
    block = runtime.table.lookup("default", "web")
    assert block.loaded, block.error
    listener = block.node.table.lookup("default/web", "http")
    assert listener is not None and listener.loaded
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{listener.node.port}/ping") as response:
        assert response.status == 200
        assert await response.text() == "pong"
    await runtime.close()
    assert not listener.loaded


async def test_fork_runs_in_the_background(flow, tmp_path):
    path = tmp_path / "forked.log"
    runtime = await flow(f"""
- kind: fork
  name: background
  ports:
    out: [{{name: log, port: in}}]
- kind: print
  name: log
  filename: {path}
""")
    assert await call(runtime, "background", ["job %d\n", 7]) is None
    assert path.read_text() == "job 7\n"


async def test_cache_answers_repeats(flow):
    runtime = await flow("""
- kind: cache
  name: cached
  capacity: 10
  ttl: 1m
  ports:
    out: [{name: counter, port: in}]
- kind: reduce
  name: counter
  action: acc + 1
  init: 0
""")
    sb = runtime.table.lookup("default", "cached")
    probe = OutPort("probe")
    probe.link(sb.node.inport("in"))
    proc = Process()
    answers = [(await probe.send(proc, Packet(key))).payload for key in ("a", "b", "a", "c")]
    await proc.exit()
    assert answers == [1, 2, 1, 3]


async def test_wait_alias(flow):
    runtime = await flow("- {kind: wait, name: nap, interval: 10ms}")
    assert await call(runtime, "nap", "x") == "x"


async def test_a_spec_that_does_not_compile_is_reported_with_its_field(flow):
    runtime = await flow("""
- kind: snippet
  name: bad
  language: cel
  code: "1 +"
- kind: if
  name: cond
  when: self >
""")
    problems = "\n".join(runtime.problems)
    assert "spec 'bad' (kind snippet): code:" in problems
    assert "spec 'cond' (kind if): when:" in problems
    assert runtime.table.lookup("default", "bad").node is None


async def test_a_timeout_names_the_node(flow):
    runtime = await flow("""
- kind: snippet
  name: spin
  language: javascript
  timeout: 50ms
  code: "export default () => { while (true) {} }"
""")
    answer = await call(runtime, "spin", 1)
    assert isinstance(answer, FlowError)
    assert "spec 'spin' (kind snippet)" in str(answer) and "timeout after 50ms" in str(answer)
