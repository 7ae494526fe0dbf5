"""What a running namespace imports: the clients and libraries of parts it does not use stay unimported
(each costs megabytes of resident memory), checked in a fresh interpreter by its ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ("psycopg", "psycopg_pool", "asyncmy", "opentelemetry", "prometheus_client", "igraph", "quickjs",
         "cel_expr_python", "RestrictedPython", "aio_pika", "paho", "redis", "nats")

GREET = """
- kind: listener
  name: web
  port: 0
  ports:
    out: [{name: router, port: in}]
- kind: router
  name: router
  routes: [{method: POST, path: /greet, port: 'out[0]'}]
  ports:
    'out[0]': [{name: greet, port: in}]
- kind: snippet
  name: greet
  language: text
  code: hello
"""

SCRIPT = """
import asyncio, json, sys, urllib.request

import portflow.cli.main  # noqa: F401 - what `portflow start` imports first
from portflow.apply import apply, prepare_specs
from portflow.runtime import Runtime
from portflow.spec import read_documents
from portflow.store import open_store


async def main():
    store = open_store("memory://")
    await store.open()
    docs, problems = prepare_specs(read_documents(sys.argv[1]), "default")
    assert not problems, problems
    await apply(store.specs, docs, namespace="default")
    runtime = Runtime(store, namespace="default")
    await runtime.start()
    try:
        url = runtime.table.lookup("default", "web").node.url + "/greet"
        request = urllib.request.Request(url, data=b'{"name": "ada"}', method="POST")
        answer = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())
        assert answer == b"hello", answer
    finally:
        await runtime.close()
        await store.close()
    print(json.dumps(sorted(sys.modules)))


asyncio.run(main())
"""


def imported(specs: str) -> set[str]:
    """The modules (and their top-level packages) a fresh interpreter holds after running ``specs`` and answering one request."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), specs], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.splitlines()[-1])
    return set(modules) | {m.split(".")[0] for m in modules}


def test_a_namespace_imports_no_client_nor_language_it_does_not_use():
    assert imported(GREET) & set(HEAVY) == set()


def test_a_cel_expression_without_math_or_base64_loads_neither_extension():
    modules = imported(GREET.replace("language: text\n  code: hello", "language: cel\n  code: \"'hello'.lowerAscii()\""))
    assert "cel_expr_python" in modules
    assert {"cel_expr_python.ext.ext_math", "cel_expr_python.ext.ext_encoders"} & modules == set()
