"""Admission (issue 12 item 5): apply and the admin API compile what they write; a broken update that
reaches the store anyway leaves the last good node serving."""

from __future__ import annotations

import asyncio
import logging
import uuid

from portflow.runtime import STALE, Runtime
from portflow.store import open_store
from support.probe import call

BAD_CEL = "- kind: snippet\n  name: calc\n  language: cel\n  code: '1 +'\n"
GOOD_CEL = "- kind: snippet\n  name: calc\n  language: cel\n  code: 'self + 1'\n"


def test_apply_refuses_a_snippet_that_does_not_compile_and_writes_nothing(cli):
    path = cli.write("flow.yaml", "- kind: snippet\n  name: ok\n  language: text\n  code: hi\n" + BAD_CEL)
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith("error: spec 'calc' (kind snippet): code: cel: Syntax error")
    assert errors[-1] == "error: 1 spec rejected; nothing applied"
    assert cli.docs("specs") == []


def test_apply_refuses_javascript_python_and_field_constraints(cli):
    path = cli.write("flow.yaml", """
- {kind: snippet, name: js, language: javascript, code: 'export default function ( {'}
- {kind: snippet, name: py, language: python, code: 'def f(:'}
- {kind: listener, name: web, port: 70000}
""")
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 1
    assert "error: spec 'js' (kind snippet): code: javascript: SyntaxError" in result.stderr
    assert "error: spec 'py' (kind snippet): code: python: invalid syntax" in result.stderr
    assert "error: spec 'web' (kind listener): port: expected int <= 65535, got 70000" in result.stderr
    assert cli.docs("specs") == []


def test_an_unknown_kind_is_stored_with_a_warning(cli):
    path = cli.write("flow.yaml", "- kind: made-up\n  name: later\n")
    result = cli("apply", "specs", "-f", path)
    assert result.exit_code == 0
    assert "warning: spec 'later' (kind made-up): unknown kind 'made-up'" in result.stderr
    assert [d["name"] for d in cli.docs("specs")] == ["later"]


async def test_a_broken_update_keeps_the_last_good_node_serving(caplog):
    url = f"memory://admission-{uuid.uuid4().hex}"
    async with open_store(url) as store:
        await store.specs.insert([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                   "language": "cel", "code": "self + 1"}])
        async with Runtime(store) as rt:
            assert await call(rt, "calc", 1) == 2
            caplog.set_level(logging.WARNING)
            await store.specs.update([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                       "language": "cel", "code": "1 +"}])
            for _ in range(100):
                sb = rt.table.lookup("default", "calc")
                if sb.error:
                    break
                await asyncio.sleep(0.02)
            assert sb.error.startswith(STALE + "spec 'calc' (kind snippet): code: cel: Syntax error")
            assert await call(rt, "calc", 1) == 2  # the last good version still answers
            assert "spec 'calc' (kind snippet): the stored version does not compile; the last good version " \
                   "keeps serving" in caplog.text
            await store.specs.update([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                       "language": "cel", "code": "self + 2"}])
            for _ in range(100):
                if rt.table.lookup("default", "calc").error is None:
                    break
                await asyncio.sleep(0.02)
            assert await call(rt, "calc", 1) == 3


async def test_a_spec_that_was_never_good_stays_inactive():
    url = f"memory://admission-{uuid.uuid4().hex}"
    async with open_store(url) as store:
        await store.specs.insert([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                   "language": "cel", "code": "1 +"}])
        async with Runtime(store) as rt:
            sb = rt.table.lookup("default", "calc")
            assert sb.node is None and not sb.loaded and "Syntax error" in sb.error


def test_get_says_which_stored_spec_is_stale_and_why(cli):
    async def store_broken() -> None:
        async with open_store(cli.url) as store:
            await store.specs.insert([{"id": "c1", "namespace": "default", "kind": "snippet", "name": "calc",
                                       "language": "cel", "code": "1 +"}])

    asyncio.run(store_broken())
    result = cli("get", "specs")
    assert result.exit_code == 0
    assert "warning: stale: spec 'calc' (kind snippet): code: cel: Syntax error" in result.stderr


def test_specs_that_need_a_runtime_compile_in_admission_and_get(cli):
    """syscall needs a store and the internal SQL driver a symbol table: admission gives both (private), so
    the admin API example applies and `get` calls none of it stale."""
    from .conftest import ROOT

    applied = cli("apply", "specs", "-n", "system", "-f", str(ROOT / "examples" / "system.yaml"))
    assert applied.exit_code == 0, applied.output
    got = cli("get", "specs", "-n", "system")
    assert got.exit_code == 0 and got.stderr == ""
