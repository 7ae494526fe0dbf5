"""auth: bearer tokens compared in constant time; everything else is a 401 with no detail."""

from __future__ import annotations

from typing import Any

import pytest

from portflow.errors import SpecError, UserError
from portflow.plugins.system.auth import UNAUTHORIZED, Auth

from .conftest import Record, context_for, node_of, send_to


def request(*authorization: str, **extra: Any) -> dict[str, Any]:
    header = {"Authorization": list(authorization)} if authorization else {}
    return {"method": "GET", "path": "/", "header": header, "status": 0, **extra}


@pytest.fixture
def guarded():
    auth, inner = Auth("s3cret-token"), Record()
    auth.out_port.link(inner.in_port)
    return auth, inner


async def test_the_right_token_passes_the_request_unchanged(guarded):
    auth, inner = guarded
    req = request("Bearer s3cret-token")
    assert await send_to(auth, req) == {"seen": req}
    assert await send_to(auth, request("bearer   s3cret-token  ")) == {"seen": request("bearer   s3cret-token  ")}
    assert len(inner.seen) == 2


@pytest.mark.parametrize("payload", [
    request(), request("Bearer wrong"), request("Basic s3cret-token"), request("s3cret-token"),
    request("Bearer"), request("Bearer s3cret-token", "Bearer s3cret-token"), request("Bearer s3cret-tokenX"),
    request("Bearer s3cret-toke"), {"header": {"Authorization": "Bearer x"}}, "Bearer s3cret-token", None, [],
    {"header": {"Authorization": ["Bearer s3cret-token"], "authorization": ["Bearer s3cret-token"]}},
])
async def test_anything_else_is_401_without_detail(guarded, payload):
    auth, inner = guarded
    answer = await send_to(auth, payload)
    assert answer == UNAUTHORIZED
    assert answer["body"] == "Unauthorized" and answer["status"] == 401
    assert inner.seen == []


async def test_header_names_are_case_insensitive(guarded):
    auth, _ = guarded
    assert await send_to(auth, {"header": {"authorization": ["Bearer s3cret-token"]}}) != UNAUTHORIZED
    assert await send_to(auth, {"header": {"authorization": "Bearer s3cret-token"}}) != UNAUTHORIZED


def test_an_empty_or_unbound_token_does_not_compile(store):
    for token in ("", "  ", "<no value>", "{{ .TOKEN }}"):
        with pytest.raises(UserError, match="token"):
            Auth(token)
    ctx = context_for(store)
    with pytest.raises(SpecError, match=r"spec 'a' \(kind auth\): token: required"):
        ctx.scheme.decode({"kind": "auth", "name": "a"})
    with pytest.raises(SpecError, match=r"spec 'a' \(kind auth\): token: expected str of length >= 1, got ''"):
        ctx.scheme.decode({"kind": "auth", "name": "a", "token": ""})  # the bound is declared: decode checks it
    with pytest.raises(SpecError, match="scheme"):
        ctx.scheme.decode({"kind": "auth", "name": "a", "token": "x", "scheme": "basic"})


async def test_token_bound_from_a_value(runtime, store):
    rt = await runtime("""
- kind: auth
  name: auth
  token: '{{ .TOKEN }}'
  env:
    TOKEN:
      name: admin-token
      data: '{{ . }}'
  ports:
    out:
      - name: inner
        port: in
- kind: record
  name: inner
""", namespace="system", values="""
- name: admin-token
  data: from-a-value
""")
    auth = node_of(rt, "auth")
    assert (await send_to(auth, request("Bearer from-a-value")))["seen"]
    assert await send_to(auth, request("Bearer {{ .TOKEN }}")) == UNAUTHORIZED
