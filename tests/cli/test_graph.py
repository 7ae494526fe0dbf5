"""``portflow graph``: the namespace as a picture; examples/*.svg are what the command draws now."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from portflow.graph import picture
from portflow.layout import layout

from .conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

WIRED = """\
- kind: listener
  name: http
  port: 8080
  ports:
    out:
      - name: greeter
        port: in
    error:
      - name: oops
        port: in
- kind: block
  name: greeter
  specs:
    - kind: snippet
      language: cel
      code: "'hello ' + self"
      ports:
        out:
          - name: $1
            port: in
    - kind: snippet
      language: cel
      code: self + '!'
  inbounds:
    in:
      - name: $0
        port: in
  outbounds:
    out:
      - name: $1
        port: out
- kind: snippet
  name: oops
  language: text
  code: sorry
  ports:
    out:
      - name: gone
        port: in
- kind: snippet
  name: bad
  language: cel
  code: '1 +'
- kind: router
  name: router
  routes:
    - {method: GET, path: /, port: 'out[0]'}
  ports:
    out[0]:
      - name: oops
        port: inn
"""


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_pictures_are_up_to_date(cli, example):
    result = cli("graph", "-f", str(example), "-o", "svg")
    assert result.exit_code == 0, result.output
    committed = example.with_suffix(".svg")
    assert committed.exists() and committed.read_text(encoding="utf-8") == result.stdout, \
        f"{committed.name} is stale: run `make pictures`"


def test_mermaid_marks_kinds_ports_errors_groups_and_inactive_nodes(cli):
    path = cli.write("wired.yaml", WIRED)
    result = cli("graph", "-f", path)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[:2] == ["flowchart LR", "  %% wired.yaml (namespace default)"]
    assert out[2] == '  n1["<b>http</b><br/>listener<br/><i>inactive: error leads to \'oops\', which is inactive</i>"]'
    assert out[3:10] == ['  subgraph n2["greeter (block)"]', "    direction LR", '    n6["<b>$0</b><br/>snippet"]',
                         '    n7["<b>$1</b><br/>snippet"]', '    n8(["in"])', '    n9(["out"])', "  end"]
    assert '  n3["<b>oops</b><br/>snippet<br/><i>inactive: missing target out -#gt; gone</i>"]' in out
    assert any(line.startswith('  n4["<b>bad</b><br/>snippet<br/><i>inactive: code: cel: Syntax error') for line in out)
    assert '  n10["<b>gone</b><br/>missing<br/><i>inactive: does not exist</i>"]' in out
    assert out[out.index('  n1 -->|"out → in"| n2'):][:7] == [
        '  n1 -->|"out → in"| n2',
        '  n1 -.->|"error → in"| n3',  # error links dashed
        '  n3 -->|"out → in"| n10',
        '  n5 -->|"out[0] → inn (ignored: no such port)"| n3',
        '  n6 -->|"out → in"| n7',
        '  n8 -->|"in → in"| n6',  # the block's in-port feeds its first child
        '  n7 -->|"out → out"| n9']
    assert "  class n1,n3,n4,n5 inactive" in out and "  class n10 missing" in out and "  class n8,n9 port" in out


def test_dot_links_blocks_through_their_port_nodes(cli):
    result = cli("graph", "-f", cli.write("wired.yaml", WIRED), "-o", "dot")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("digraph portflow {\n")
    assert "  subgraph cluster_n2 {\n" in text
    assert '  n1 -> n8 [label="out → in"];' in text  # into the block's `in` port node, not the cluster
    assert '  n1 -> n3 [label="error → in", style=dashed];' in text
    assert '  n5 -> n3 [label="out[0] → inn", color="#c62828", fontcolor="#c62828"];' in text


def test_svg_is_laid_out_without_overlaps_and_children_inside_their_group(cli):
    result = cli("graph", "-f", cli.write("wired.yaml", WIRED), "-o", "svg")
    assert result.exit_code == 0
    root = ET.fromstring(result.stdout)
    ns = {"s": "http://www.w3.org/2000/svg"}
    rects = {g.get("id"): g.find("s:rect", ns) for g in root.findall("s:g", ns)}
    boxes = {k: tuple(float(r.get(a)) for a in ("x", "y", "width", "height")) for k, r in rects.items()}
    group = boxes.pop("n2")
    children = {k: boxes.pop(k) for k in ("n6", "n7", "n8", "n9")}
    assert len(boxes) == 5  # http, oops, bad, router, gone
    for x, y, w, h in children.values():
        assert group[0] <= x and x + w <= group[0] + group[2] and group[1] <= y and y + h <= group[1] + group[3]
    outer = [*boxes.values(), group]
    for i, a in enumerate(outer):
        for b in outer[i + 1:]:
            apart = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
            assert apart, (a, b)
    assert 'class="edge error"' in result.stdout and 'class="edge broken"' in result.stdout
    assert "inactive: missing target out -&gt; gone" in result.stdout


def test_layout_places_every_node_and_routes_every_edge():
    docs = [{"id": f"i{n}", "kind": "snippet", "name": f"s{n}", "namespace": "default",
             "ports": {"out": [{"name": f"s{m}", "port": "in"} for m in range(n + 1, min(n + 3, 6))]}}
            for n in range(6)]
    docs[5]["ports"] = {"out": [{"name": "s0", "port": "in"}]}  # a cycle
    pic = picture(docs, "t", "default")
    placed = layout(pic)
    assert set(placed.boxes) == {n.key for n in pic.nodes}
    assert len(placed.routes) == len(pic.edges) and all(len(r) >= 2 for r in placed.routes)
    xs = [placed.boxes[n.key].x for n in pic.nodes[:5]]
    assert xs == sorted(xs)  # layered left to right along the chain


def test_graph_of_the_store_marks_what_get_marks(cli):
    cli("apply", "specs", "-f", cli.write("s.yaml", "- kind: snippet\n  name: a\n  language: text\n  code: a\n"
                                                    "  ports:\n    out:\n      - name: b\n        port: in\n"))
    result = cli("graph")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "  %% namespace default"
    assert "inactive: missing target out -#gt; b" in result.stdout


def test_svg_without_the_layout_library_names_it(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "igraph", None)
    result = cli("graph", "-f", str(ROOT / "examples" / "ping.yaml"), "-o", "svg")
    assert result.exit_code == 1
    assert result.stderr == ("error: SVG needs the layout library igraph, which this installation lacks: "
                             "pip install 'igraph>=1.0,<1.1' (or use -o mermaid or -o dot)\n")


def test_graph_through_the_real_executable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFLOW_")}
    env["PORTFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'portflow.db'}"
    exe = str(Path(sys.executable).with_name("portflow"))
    ping = str(ROOT / "examples" / "ping.yaml")
    result = subprocess.run([exe, "graph", "-f", ping, "-o", "svg"], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "examples" / "ping.svg").read_text(encoding="utf-8")
