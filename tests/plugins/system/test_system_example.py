"""uniflow's ``examples/system.yaml``, run unchanged: a listener, a router and five ``text`` snippets whose
SQL (MySQL-style backquoted table names) goes to one ``sql`` node on the ``internal`` driver. Our own copy
of that flow; every route answers the table as uniflow does, over a real socket."""

from __future__ import annotations

import aiohttp

SYSTEM = """
- kind: listener
  name: listener
  protocol: http
  port: '{{ .PORT }}'
  env:
    PORT:
      data: '{{ .PORT }}'
  ports:
    out:
      - name: router
        port: in

- kind: router
  name: router
  routes:
    - method: GET
      path: /frames
      port: out[0]
    - method: GET
      path: /processes
      port: out[1]
    - method: GET
      path: /symbols
      port: out[2]
    - method: GET
      path: /specs
      port: out[3]
    - method: GET
      path: /values
      port: out[4]
  ports:
    out[0]:
      - name: frames_read
        port: in
    out[1]:
      - name: processes_read
        port: in
    out[2]:
      - name: symbols_read
        port: in
    out[3]:
      - name: specs_read
        port: in
    out[4]:
      - name: values_read
        port: in
"""
SNIPPET = """
- kind: snippet
  name: {table}_read
  language: text
  code: SELECT * FROM `{table}`
  ports:
    out:
      - name: internal
        port: in
"""
TABLES = ("frames", "processes", "symbols", "specs", "values")
FLOW = SYSTEM + "".join(SNIPPET.format(table=t) for t in TABLES) + """
- kind: sql
  name: internal
  driver: internal
"""
NAMES = {"listener", "router", "internal", *(f"{t}_read" for t in TABLES)}


async def test_every_route_of_uniflows_system_example_answers_its_table(runtime):
    rt = await runtime(FLOW, plugins=("sql", "net", "ctrl"), environment={"PORT": "0"})
    url = rt.table.lookup("default", "listener").node.url
    ids = {sb.name: sb.id for sb in rt.table}
    async with aiohttp.ClientSession() as client:
        async def get(path: str) -> list:
            async with client.get(url + path) as resp:
                assert resp.status == 200, await resp.text()
                assert resp.content_type == "application/json"
                return await resp.json()

        # No values stored: an empty table is an empty list, not null.
        assert await get("/values") == []

        specs = await get("/specs")
        assert {s["name"] for s in specs} == NAMES
        snippet = next(s for s in specs if s["name"] == "frames_read")
        assert snippet["kind"] == "snippet" and snippet["code"] == "SELECT * FROM `frames`"
        assert snippet["ports"] == {"out": [{"name": "internal", "port": "in"}]}  # nested, as a map

        symbols = await get("/symbols")
        assert {s["name"] for s in symbols} == NAMES and all(s["loaded"] is True for s in symbols)

        # The request's own process is live while its SQL runs: it is in the table, running.
        processes = await get("/processes")
        assert len(processes) == 1 and processes[0]["status"] == 0 and isinstance(processes[0]["start_time"], int)

        # ...and so are the frames it made so far, as uniflow's agent records them: each packet an
        # out-port wrote (``output``) and each packet an in-port read (``input``), in order.
        frames = await get("/frames")
        hops = [(f["symbol_id"], f["port"]) for f in frames]
        assert hops == [(ids["listener"], "out"), (ids["router"], "in"), (ids["router"], "out[0]"),
                        (ids["frames_read"], "in"), (ids["frames_read"], "out"), (ids["internal"], "in")]
        assert len({f["process_id"] for f in frames}) == 1  # this request's process only: the others ended
        request = frames[0]["output"]
        assert request["method"] == "GET" and request["path"] == "/frames"
        assert frames[1]["input"] == request and frames[2]["output"]["path"] == "/frames"
        assert frames[4]["output"] == frames[5]["input"] == "SELECT * FROM `frames`"
        # nothing has answered yet: each answers when the one after it has
        assert [("input" in f, "output" in f) for f in frames] == [(False, True), (True, False)] * 3
