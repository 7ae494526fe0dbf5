"""Charts (uniflow v0.12): a stored composite whose name is a kind; its env rendered from the using spec."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from portflow.apply import apply, prepare_charts
from portflow.chart import check_chart, expand
from portflow.spec import read_documents

GREETER = """
- name: greeter
  env:
    GREETING:
      - data: '{{ .greeting }}, {{ .name }}'
  specs:
    - kind: snippet
      name: say
      language: text
      code: '{{ .GREETING }}!'
  inbounds:
    in:
      - name: say
        port: in
  outbounds:
    out:
      - name: say
        port: out
"""

FLOW = """
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
      path: /a
      port: out[0]
    - method: GET
      path: /b
      port: out[1]
  ports:
    out[0]:
      - name: alice
        port: in
    out[1]:
      - name: bob
        port: in
- kind: greeter
  name: alice
  greeting: Hello
- kind: greeter
  name: bob
  greeting: Hi
"""


async def charts_into(store, text: str) -> None:
    charts, problems = prepare_charts(read_documents(text), "default")
    assert not problems, problems
    await apply(store.charts, charts, namespace="default")


async def get(url: str) -> str:
    async with aiohttp.ClientSession() as client, client.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_a_chart_is_a_kind_rendered_from_the_using_specs_fields(store, flow):
    await charts_into(store, GREETER)
    runtime = await flow(FLOW, environment={"PORT": "0"})
    url = runtime.table.lookup("default", "listener").node.url
    assert await get(url + "/a") == "Hello, alice!"
    assert await get(url + "/b") == "Hi, bob!"


async def test_changing_a_chart_rebuilds_the_specs_of_its_kind(store, flow):
    await charts_into(store, GREETER)
    runtime = await flow(FLOW, environment={"PORT": "0"})
    url = runtime.table.lookup("default", "listener").node.url
    assert await get(url + "/a") == "Hello, alice!"
    await charts_into(store, GREETER.replace("'{{ .GREETING }}!'", "'{{ .GREETING }}?'"))
    for _ in range(250):  # the change reaches the runtime through the store's change stream
        if await get(url + "/a") == "Hello, alice?":
            break
        await asyncio.sleep(0.02)
    assert await get(url + "/a") == "Hello, alice?"
    assert await get(url + "/b") == "Hi, bob?"


def test_expand_gives_the_block_with_the_chart_env_rendered():
    (chart,) = read_documents(GREETER)
    block = expand(chart, {"kind": "greeter", "name": "x", "greeting": "Yo", "ports": {"out": []}})
    assert block["kind"] == "block" and block["ports"] == {"out": []}
    assert block["specs"][0]["env"] == {"GREETING": {"data": "Yo, x"}}


def test_a_chart_needs_a_name_and_specs():
    assert check_chart({"specs": []}) == ["name: required (it is the kind the chart makes)",
                                          "specs: expected a non-empty list of specs"]
    assert check_chart({"name": "c", "specs": [{"kind": "nop"}], "bogus": 1})[0].startswith("bogus: not a chart field")


@pytest.fixture
def cli_runner(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from portflow.cli.main import cli

    monkeypatch.setenv("PORTFLOW_DATABASE_URL", f"memory://charts-{tmp_path.name}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def test_apply_and_get_charts_and_test_from_charts(cli_runner, tmp_path):
    (tmp_path / "charts.yaml").write_text(GREETER)
    applied = cli_runner("apply", "charts", "-f", "charts.yaml")
    assert applied.exit_code == 0 and "greeter" in applied.output
    listed = cli_runner("get", "charts")
    assert listed.exit_code == 0 and "greeter" in listed.output
    (tmp_path / "suite.yaml").write_text("""
- kind: test
  name: greets
  ports:
    out[0]:
      - name: carol
        port: in
    out[1]:
      - name: check
        port: in
- kind: greeter
  name: carol
  greeting: Hey
- kind: assert
  name: check
  expect: self == "Hey, carol!"
""")
    tested = cli_runner("test", "--from-specs", "suite.yaml", "--from-charts", "charts.yaml")
    assert tested.exit_code == 0, tested.output
    assert tested.output.splitlines()[-1] == "1 passed, 0 failed"


async def test_a_chart_env_entry_with_a_name_binds_a_value(store, flow):
    await charts_into(store, """
- name: dsn
  env:
    USER:
      - name: database
        data: '{{ .user }}'
  specs:
    - kind: snippet
      name: show
      language: text
      code: 'user={{ .USER }}'
  inbounds:
    in:
      - name: show
        port: in
""")
    runtime = await flow(FLOW.replace("kind: greeter", "kind: dsn"),
                         environment={"PORT": "0"}, values="- name: database\n  data:\n    user: admin\n")
    url = runtime.table.lookup("default", "listener").node.url
    assert await get(url + "/a") == "user=admin"
