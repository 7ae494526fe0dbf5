"""Env templates in Go's text/template language, in a whole flow served over a real socket: a value's
data shaped with ``printf``, ``index`` and ``range``, a choice made with ``if``/``eq`` on an environment
variable, ``with`` on an empty result, and a missing key left as Go leaves it (``<no value>``). Our own
flow; every template in it renders the same text under uniflow (Go's text/template)."""

from __future__ import annotations

import aiohttp

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
      - name: greet
        port: in

- kind: snippet
  name: greet
  language: text
  code: >-
    {{ .DSN }} {{ if eq .MODE "prod" }}live{{ else }}test{{ end }} {{ .HOSTS }}
    {{ with .TEAM }}{{ . }}{{ else }}nobody{{ end }} {{ .NOTE }}
  env:
    DSN:
      name: database
      data: '{{ printf "postgres://%s:%d/%s" .host .port (index .names 0) }}'
    HOSTS:
      name: database
      data: '{{ range $i, $h := .replicas }}{{ if $i }},{{ end }}{{ $h | printf "%q" }}{{ end }}'
    MODE:
      data: '{{ .MODE }}'
    TEAM:
      name: database
      data: '{{ if gt (len .owners) 0 }}{{ index .owners 0 }}{{ end }}'
    NOTE:
      name: database
      data: '{{ .note }}'
"""
VALUES = """
- name: database
  data:
    host: pg.internal
    port: 5432
    names: [orders, audit]
    replicas: [r1, r2]
    owners: []
"""


async def test_env_templates_render_go_template_actions(runtime):
    rt = await runtime(FLOW, values=VALUES, plugins=("net", "ctrl"), environment={"PORT": "0", "MODE": "prod"})
    url = rt.table.lookup("default", "listener").node.url
    async with aiohttp.ClientSession() as client, client.get(url + "/") as resp:
        assert resp.status == 200
        assert await resp.text() == 'postgres://pg.internal:5432/orders live "r1","r2" nobody <no value>'
