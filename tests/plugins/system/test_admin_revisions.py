"""examples/system.yaml on real PostgreSQL: ETag, If-Match and 409 on PATCH, PUT and DELETE; two clients
racing over one revision."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from portflow.store import open_store

from .conftest import node_of
from .test_admin_api import AUTH, EXAMPLE, PLUGINS, TOKEN, Admin


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS portflow_specs, portflow_values, portflow_changelog, portflow_history")


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Any]:
    """This module's runtimes run on PostgreSQL (the runtime fixture uses this store)."""
    reset_postgres(postgres_url)
    async with open_store(postgres_url) as st:
        yield st
    reset_postgres(postgres_url)


class Client(Admin):
    async def full(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                   **kw: Any) -> tuple[int, Any, Any]:
        async with self.session.request(method, self.base + path, headers={**AUTH, **(headers or {})},
                                        **kw) as resp:
            return resp.status, resp.headers.copy(), await resp.json(content_type=None)


@pytest.fixture
async def admin(runtime) -> AsyncIterator[Client]:
    rt = await runtime(EXAMPLE.read_text(), namespace="system", plugins=PLUGINS, environment={"PORT": "0"},
                       values=f"- name: admin-token\n  data: {TOKEN}\n")
    assert all(sb.loaded for sb in rt.table), [f"{sb.label}: {sb.error}" for sb in rt.table if not sb.loaded]
    async with aiohttp.ClientSession() as session:
        yield Client(f"http://127.0.0.1:{node_of(rt, 'listener').port}", session)


SPEC = {"kind": "snippet", "name": "hello", "language": "text", "code": "hi"}


async def test_etag_and_if_match_on_patch(admin, store):
    status, headers, made = await admin.full("POST", "/v1/specs", json=SPEC)
    assert status == 201 and headers["ETag"] == f'"{made["revision"]}"'
    status, headers, one = await admin.full("GET", f"/v1/specs/{made['id']}")
    assert status == 200 and headers["ETag"] == f'"{made["revision"]}"' and one == made
    etag = headers["ETag"]
    status, headers, patched = await admin.full("PATCH", f"/v1/specs/{made['id']}", json={"code": "hello"},
                                                headers={"If-Match": etag})
    assert status == 200 and patched["code"] == "hello" and headers["ETag"] == f'"{patched["revision"]}"'
    status, _, body = await admin.full("PATCH", f"/v1/specs/{made['id']}", json={"code": "lost"},
                                       headers={"If-Match": etag})
    assert status == 409
    assert body == {"error": f"revision: expected {made['revision']}, but it is at revision {patched['revision']}: "
                             "it changed since it was read"}
    assert (await store.specs.find({"namespace": "default"}))[0]["code"] == "hello"
    status, _, _ = await admin.full("PATCH", f"/v1/specs/{made['id']}", json={"code": "any"},
                                    headers={"If-Match": "*"})
    assert status == 200


async def test_put_replaces_and_delete_checks_if_match(admin, store):
    _, _, made = await admin.full("POST", "/v1/specs", json={**SPEC, "annotations": {"a": "1"}})
    status, headers, put = await admin.full("PUT", f"/v1/specs/{made['id']}", json=SPEC,
                                            headers={"If-Match": f'W/"{made["revision"]}"'})
    assert status == 200 and "annotations" not in put and headers["ETag"] == f'"{put["revision"]}"'
    assert "annotations" not in (await store.specs.find({"namespace": "default"}))[0]
    status, _, _ = await admin.full("PUT", f"/v1/specs/{made['id']}", json=SPEC,
                                    headers={"If-Match": f'"{made["revision"]}"'})
    assert status == 409
    status, _, _ = await admin.full("DELETE", f"/v1/specs/{made['id']}", headers={"If-Match": f'"{made["revision"]}"'})
    assert status == 409 and len(await store.specs.find({"namespace": "default"})) == 1
    status, _, gone = await admin.full("DELETE", f"/v1/specs/{made['id']}", headers={"If-Match": f'"{put["revision"]}"'})
    assert status == 200 and gone["id"] == made["id"] and await store.specs.find({"namespace": "default"}) == []


async def test_values_put_with_a_stale_revision_is_409(admin, store):
    _, _, made = await admin.full("POST", "/v1/values", json={"name": "token", "data": "one"})
    status, _, put = await admin.full("PUT", f"/v1/values/{made['id']}", json={"name": "token", "data": "two"},
                                      headers={"If-Match": f'"{made["revision"]}"'})
    assert status == 200 and put["data"] == "***"  # masked in answers, stored as sent
    status, _, _ = await admin.full("PUT", f"/v1/values/{made['id']}", json={"name": "token", "data": "three"},
                                    headers={"If-Match": f'"{made["revision"]}"'})
    assert status == 409 and (await store.values.find({"namespace": "default"}))[0]["data"] == "two"


async def test_two_clients_patching_from_one_revision_one_wins(admin, store):
    """Round after round, two PATCHes with the same If-Match race: one is answered 200, the other 409,
    and the stored document is the winner's."""
    _, _, made = await admin.full("POST", "/v1/specs", json=SPEC)
    rev = made["revision"]
    for round_ in range(8):
        answers = await asyncio.gather(*(
            admin.full("PATCH", f"/v1/specs/{made['id']}", json={"code": f"{round_}-{who}"},
                       headers={"If-Match": f'"{rev}"'}) for who in ("a", "b")))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200, 409], answers
        [winner] = [body for status, _, body in answers if status == 200]
        assert (await store.specs.find({"namespace": "default"}))[0]["code"] == winner["code"]
        rev = winner["revision"]
    history = await store.specs.history({"id": made["id"]})
    assert [r.op for r in history] == ["update"] * 8 + ["insert"]
