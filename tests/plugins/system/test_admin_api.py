"""examples/system.yaml over real HTTP: CRUD of specs and values, 401s, masking, introspection, watch,
validation, and a spec posted for `default` that a running runtime of `default` starts serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import node_of

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "system.yaml"
TOKEN = "t0ps3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PLUGINS = ("ctrl", "net", "sql")


class Admin:
    """A client of the admin API: ``await admin.call(method, path, json=...) -> (status, body)``."""

    def __init__(self, base: str, session: Any) -> None:
        self.base = base
        self.session = session

    async def call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                   **kw: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, headers=AUTH if headers is None else headers,
                                        **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text


@pytest.fixture(params=["granian", "uvicorn"])
async def admin(request, runtime, store) -> AsyncIterator[Admin]:
    """The example workflow running in `system` on the test's store, on each HTTP server."""
    rt = await runtime(EXAMPLE.read_text(), namespace="system", plugins=PLUGINS, environment={"PORT": "0"},
                       values=f"- name: admin-token\n  data: {TOKEN}\n",
                       settings={"listener_server": request.param})
    inactive = [f"{sb.label}: {sb.error}" for sb in rt.table if not sb.loaded]
    assert not inactive, inactive
    listener = node_of(rt, "listener")
    async with aiohttp.ClientSession() as session:
        yield Admin(f"http://127.0.0.1:{listener.port}", session)


async def eventually(check, timeout: float = 5.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.02)


# -- specs ----------------------------------------------------------------------------------------------

async def test_specs_create_read_update_delete(admin, store):
    status, made = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "hello",
                                                               "language": "text", "code": "hi"})
    assert status == 201 and made["namespace"] == "default" and made["id"]
    status, listed = await admin.call("GET", "/v1/specs?namespace=default")
    assert status == 200 and listed == [made]
    status, listed = await admin.call("GET", "/v1/specs?namespace=default&name=other")
    assert (status, listed) == (200, [])
    status, one = await admin.call("GET", f"/v1/specs/{made['id']}")
    assert (status, one) == (200, made)
    status, patched = await admin.call("PATCH", f"/v1/specs/{made['id']}", json={"code": "hello"})
    assert status == 200 and patched["code"] == "hello" and patched["id"] == made["id"]
    assert (await store.specs.find({"id": made["id"]}))[0]["code"] == "hello"
    status, gone = await admin.call("DELETE", f"/v1/specs/{made['id']}")
    assert (status, gone) == (200, patched)
    assert await store.specs.find({"id": made["id"]}) == []
    status, _body = await admin.call("GET", f"/v1/specs/{made['id']}")
    assert status == 404
    status, _body = await admin.call("DELETE", f"/v1/specs/{made['id']}")
    assert status == 404


async def test_create_a_list_and_conflicts(admin):
    status, made = await admin.call("POST", "/v1/specs", json=[
        {"kind": "snippet", "name": "a", "language": "text", "code": "a", "namespace": "team"},
        {"kind": "snippet", "name": "b", "language": "text", "code": "b", "namespace": "team"}])
    assert status == 201 and [d["name"] for d in made] == ["a", "b"]
    status, body = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "a", "namespace": "team",
                                                               "language": "text", "code": "again"})
    assert status == 409 and "already has a document named 'a'" in body["error"]


async def test_an_invalid_spec_is_400_with_the_field_and_nothing_is_stored(admin, store):
    before = await store.specs.find()
    status, body = await admin.call("POST", "/v1/specs", json={"kind": "listener", "name": "broken", "port": "x"})
    assert status == 400
    assert body["error"] == "spec 'broken' (kind listener): port: expected int, got str"
    assert body["problems"] == [body["error"]]
    assert await store.specs.find() == before
    status, body = await admin.call("POST", "/v1/specs", json={"name": "no-kind"})
    assert status == 400 and "kind: required" in body["error"]
    status, body = await admin.call("POST", "/v1/specs", data="not json", headers={**AUTH,
                                                                                   "Content-Type": "text/plain"})
    assert status == 400 and body["error"].startswith("input:")
    assert await store.specs.find() == before


async def test_a_patch_that_breaks_the_spec_is_400_and_changes_nothing(admin, store):
    _, made = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "s", "language": "text",
                                                          "code": "x"})
    status, body = await admin.call("PATCH", f"/v1/specs/{made['id']}", json={"language": None})
    assert status == 400 and body["error"] == "spec 's' (kind snippet): language: required"
    assert (await store.specs.find({"id": made["id"]}))[0] == {k: v for k, v in made.items() if k != "revision"}
    status, body = await admin.call("PATCH", "/v1/specs/missing", json={"code": "y"})
    assert status == 404


# -- values ---------------------------------------------------------------------------------------------

async def test_values_create_read_update_delete_masked_unless_asked(admin, store):
    status, made = await admin.call("POST", "/v1/values", json={"name": "db", "data": {"user": "u", "pw": "p"}})
    assert status == 201 and made["data"] == {"user": "***", "pw": "***"}
    assert (await store.values.find({"id": made["id"]}))[0]["data"] == {"user": "u", "pw": "p"}
    status, listed = await admin.call("GET", "/v1/values?namespace=default")
    assert status == 200 and [v["data"] for v in listed] == [{"user": "***", "pw": "***"}]
    status, listed = await admin.call("GET", "/v1/values?namespace=default&show_data=true")
    assert [v["data"] for v in listed] == [{"user": "u", "pw": "p"}]
    status, one = await admin.call("GET", f"/v1/values/{made['id']}?show_data=true")
    assert status == 200 and one["data"] == {"user": "u", "pw": "p"}
    status, patched = await admin.call("PATCH", f"/v1/values/{made['id']}", json={"data": "rotated"})
    assert status == 200 and patched["data"] == "***"
    assert (await store.values.find({"id": made["id"]}))[0]["data"] == "rotated"
    status, gone = await admin.call("DELETE", f"/v1/values/{made['id']}?show_data=true")
    assert status == 200 and gone["data"] == "rotated"
    assert await store.values.find({"id": made["id"]}) == []
    status, _ = await admin.call("GET", f"/v1/values/{made['id']}")
    assert status == 404


async def test_a_value_without_data_is_400(admin, store):
    status, body = await admin.call("POST", "/v1/values", json={"name": "empty"})
    assert status == 400 and body["error"] == "value 'empty': data: required"
    assert await store.values.find({"name": "empty"}) == []


async def test_the_admin_token_itself_is_masked(admin):
    status, listed = await admin.call("GET", "/v1/values?namespace=system")
    assert status == 200 and listed[0]["name"] == "admin-token" and listed[0]["data"] == "***"
    assert TOKEN not in json.dumps(listed)


# -- auth -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer "},
])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/specs"), ("POST", "/v1/specs"), ("GET", "/v1/specs/x"), ("PATCH", "/v1/specs/x"),
    ("DELETE", "/v1/specs/x"), ("GET", "/v1/values"), ("GET", "/v1/symbols"), ("GET", "/v1/processes"),
    ("GET", "/v1/specs?watch=true"), ("GET", "/nowhere"),
])
async def test_every_route_needs_the_token(admin, store, headers, method, path):
    before = await store.specs.find()
    status, body = await admin.call(method, path, headers=headers, json={"kind": "snippet", "name": "x"})
    assert (status, body) == (401, "Unauthorized")
    assert await store.specs.find() == before


async def test_unknown_routes_after_auth(admin):
    assert (await admin.call("GET", "/v1/nothing"))[0] == 404
    assert (await admin.call("PUT", "/v1/specs"))[0] == 405


# -- introspection ----------------------------------------------------------------------------------------

async def test_symbols_and_processes(admin):
    status, symbols = await admin.call("GET", "/v1/symbols")
    assert status == 200
    by_name = {s["name"]: s for s in symbols}
    assert by_name["listener"]["loaded"] is True and by_name["auth"]["token"] == "{{ .TOKEN }}"
    assert TOKEN not in json.dumps(symbols)
    status, processes = await admin.call("GET", "/v1/processes")
    assert status == 200 and processes and all(p["status"] == 0 for p in processes)
    assert all({"id", "status", "start_time"} <= set(p) for p in processes)


# -- a spec that reaches a running runtime -------------------------------------------------------------

async def test_a_posted_spec_is_served_by_the_runtime_of_its_namespace(admin, runtime):
    default = await runtime("", namespace="default", plugins=("ctrl", "net"))
    status, made = await admin.call("POST", "/v1/specs", json=[
        {"kind": "listener", "name": "web", "host": "127.0.0.1", "port": 0,
         "ports": {"out": [{"name": "greet", "port": "in"}]}},
        {"kind": "snippet", "name": "greet", "language": "text", "code": "hello from the API"},
    ])
    assert status == 201 and {d["namespace"] for d in made} == {"default"}

    async def served() -> Any:
        sb = default.table.lookup("default", "web")
        return sb is not None and sb.loaded and sb.node.port

    port = await eventually(served)
    async with admin.session.get(f"http://127.0.0.1:{port}/") as resp:
        assert resp.status == 200 and await resp.text() == "hello from the API"

    status, _ = await admin.call("PATCH", f"/v1/specs/{made[1]['id']}", json={"code": "changed"})
    assert status == 200

    async def changed() -> Any:
        async with admin.session.get(f"http://127.0.0.1:{port}/") as resp:
            return await resp.text() == "changed"

    await eventually(changed)
    for doc in made:
        assert (await admin.call("DELETE", f"/v1/specs/{doc['id']}"))[0] == 200
    await eventually(lambda: _async(default.table.lookup("default", "web") is None))


async def _async(value: Any) -> Any:
    return value


# -- watch: server-sent events -----------------------------------------------------------------------------

async def read_events(resp: Any, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events of a server-sent-event response (comments skipped)."""
    events: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    while len(events) < count:
        line = (await resp.content.readline()).decode()
        assert line, "the stream ended"
        line = line.rstrip("\r\n")
        if not line:
            if "data" in fields:
                events.append({"seq": int(fields["id"]), **json.loads(fields["data"])})
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            fields[key] = value
    return events


async def test_watch_streams_create_update_delete_in_order(admin, store):
    async with admin.session.get(admin.base + "/v1/specs?watch=true&namespace=default", headers=AUTH,
                                 timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert (await resp.content.readline()).startswith(b": watching")
        _, made = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "w", "language": "text",
                                                              "code": "1"})
        await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "elsewhere", "namespace": "other",
                                                    "language": "text", "code": "1"})
        await admin.call("PATCH", f"/v1/specs/{made['id']}", json={"code": "2"})
        await admin.call("DELETE", f"/v1/specs/{made['id']}")
        events = await read_events(resp, 3)
    assert [(e["op"], e["id"], e["namespace"], e["name"]) for e in events] == [
        ("insert", made["id"], "default", "w"), ("update", made["id"], "default", "w"),
        ("delete", made["id"], "default", "w")]
    assert events[0]["seq"] < events[1]["seq"] < events[2]["seq"]


async def test_watch_resumes_after_last_event_id(admin):
    async with admin.session.get(admin.base + "/v1/specs?watch=true", headers=AUTH) as resp:
        await resp.content.readline()
        _, made = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "r1", "language": "text",
                                                              "code": "1"})
        (first,) = await read_events(resp, 1)
    await admin.call("DELETE", f"/v1/specs/{made['id']}")
    async with admin.session.get(admin.base + "/v1/specs?watch=true",
                                 headers={**AUTH, "Last-Event-ID": str(first["seq"])}) as resp:
        await resp.content.readline()
        (missed,) = await read_events(resp, 1)
    assert (missed["op"], missed["id"]) == ("delete", made["id"])


async def test_a_watcher_that_leaves_is_forgotten(admin, store):
    async with admin.session.get(admin.base + "/v1/values?watch=true", headers=AUTH) as resp:
        await resp.content.readline()
        assert store._feed.active
        watchers = len(store._feed._watches)
    async def gone() -> bool:
        return len(store._feed._watches) < watchers
    await eventually(gone)


async def test_a_reload_of_the_workflow_ends_open_streams_at_once(admin, store):
    """Changing a system spec unloads the listener; its open streams end now, not after the grace period."""
    async with admin.session.get(admin.base + "/v1/specs?watch=true", headers=AUTH) as resp:
        await resp.content.readline()
        _, found = await admin.call("GET", "/v1/specs?namespace=system&name=respond-created")
        started = asyncio.get_running_loop().time()
        status, _ = await admin.call("PATCH", f"/v1/specs/{found[0]['id']}", json={"annotations": {"v": "2"}})
        assert status == 200
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, AssertionError)):
            async with asyncio.timeout(5):
                await read_events(resp, 2)
    assert asyncio.get_running_loop().time() - started < 5

    async def reloaded() -> bool:
        status, _ = await admin.call("GET", "/v1/symbols")
        return status == 200
    await eventually(reloaded)


async def test_rotating_the_admin_token_through_the_api(admin):
    _, (token,) = await admin.call("GET", "/v1/values?namespace=system&name=admin-token")
    status, _ = await admin.call("PATCH", f"/v1/values/{token['id']}", json={"data": "the-new-token"})
    assert status == 200
    new = {"Authorization": "Bearer the-new-token"}

    async def rotated() -> bool:
        return (await admin.call("GET", "/v1/symbols", headers=new))[0] == 200

    await eventually(rotated)
    assert await admin.call("GET", "/v1/symbols") == (401, "Unauthorized")


async def test_a_spec_that_does_not_compile_is_400_on_create_and_patch(admin, store):
    before = await store.specs.find()
    status, body = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "calc",
                                                               "language": "cel", "code": "1 +"})
    assert status == 400 and body["error"].startswith("spec 'calc' (kind snippet): code: cel: Syntax error")
    assert await store.specs.find() == before
    status, made = await admin.call("POST", "/v1/specs", json={"kind": "snippet", "name": "calc",
                                                               "language": "cel", "code": "self + 1"})
    assert status == 201
    status, body = await admin.call("PATCH", f"/v1/specs/{made['id']}", json={"code": "1 +"})
    assert status == 400 and "code: cel: Syntax error" in body["error"]
    assert (await store.specs.find({"id": made["id"]}))[0]["code"] == "self + 1"


PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQ'IBAD\"ANBgk\\qhkiG9w0\n-----END PRIVATE KEY-----"


async def test_a_secret_with_quotes_backslashes_and_newlines_stays_out_of_symbols(admin):
    status, _ = await admin.call("POST", "/v1/values", json={"name": "pem", "namespace": "system", "data": PEM})
    assert status == 201
    status, _ = await admin.call("POST", "/v1/specs", json={
        "kind": "snippet", "name": "leaky", "namespace": "system", "language": "{{ .K }}", "code": "1",
        "env": {"K": {"name": "pem", "data": "{{ . }}"}}})
    assert status == 201

    async def failed() -> Any:
        _status, symbols = await admin.call("GET", "/v1/symbols")
        return next((s for s in symbols if s["name"] == "leaky" and s.get("error")), None)

    symbol = await eventually(failed)
    assert "unknown language '***'" in symbol["error"]
    text = json.dumps(await admin.call("GET", "/v1/symbols"))
    for form in ("MIIEvQ", "qhkiG9w0", "PRIVATE KEY-----\\\\n"):
        assert form not in text
