"""auth: let an HTTP request through only when it carries the right credentials.

``scheme: bearer`` (the only one so far) compares the request's ``Authorization: Bearer <token>``
header with ``token`` in constant time (``hmac.compare_digest``). A match passes the request, unchanged,
on ``out``; anything else — no header, another scheme, a wrong token, two ``Authorization`` headers, a
payload that is not an HTTP request — is answered at once with ``{status: 401, header:
{WWW-Authenticate: Bearer}, body: "Unauthorized"}``, saying nothing about what was wrong.

Bind ``token`` from a value rather than writing it into the spec::

    token: '{{ .TOKEN }}'
    env:
      TOKEN:
        name: admin-token
        data: '{{ . }}'

An empty token, or one that still reads ``{{ }}`` or ``<no value>`` (a binding that found nothing), is
refused when the spec compiles: a missing secret never means "no password" or a guessable one.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...errors import UserError
from ...node import Relay
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from ...template import NO_VALUE, has_template

__all__ = ["AuthSpec", "Auth", "compile_auth", "register", "UNAUTHORIZED"]

#: The answer to a request that is not let through. Nothing in it depends on the request.
UNAUTHORIZED = {"status": 401, "header": {"WWW-Authenticate": ["Bearer"]}, "body": "Unauthorized"}


class AuthSpec(Spec, kw_only=True):
    """Passes an HTTP request on ``out`` only when its ``Authorization: Bearer <token>`` header matches
    ``token`` (compared in constant time); answers anything else with 401 ``Unauthorized`` and no detail."""

    scheme: Annotated[Literal["bearer"], Meta(description="how the request proves itself (only bearer so far)")] = \
        "bearer"
    token: Annotated[str, Meta(min_length=1, description="the secret token; bind it from a value")]


def _authorization(payload: Any) -> str | None:
    """The request's one Authorization header value, or None (missing, repeated, or not a request)."""
    if type(payload) is not dict:
        return None
    header = payload.get("header")
    if not isinstance(header, dict):
        return None
    values = None
    for key, value in header.items():
        if isinstance(key, str) and key.lower() == "authorization":
            if values is not None:
                return None  # the same header under two spellings
            values = value
    if isinstance(values, str):
        return values
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


class Auth(Relay):
    """in -> out when the bearer token matches; otherwise the 401 answer. Built from the token itself."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise UserError("token: must not be empty")
        if NO_VALUE in token or has_template(token):
            raise UserError("token: is not bound (it still reads a template or <no value>); bind it from a value")
        self._token = token.encode()
        super().__init__(error=False)

    def allows(self, payload: Any) -> bool:
        """Whether the request carries ``Authorization: Bearer <token>`` with this node's token."""
        value = _authorization(payload)
        if value is None:
            return False
        scheme, _, credentials = value.strip().partition(" ")
        given = credentials.strip().encode()
        # Compare even when the scheme is wrong, so that the time taken says nothing about the token.
        same = hmac.compare_digest(given, self._token)
        return same and scheme.lower() == "bearer"

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        if self.allows(pck.payload):
            return await self.out_port.send(proc, pck, pck)
        return Packet({**UNAUTHORIZED, "header": {"WWW-Authenticate": ["Bearer"]}})  # a fresh copy each time



def compile_auth(spec: AuthSpec, context: Context) -> Auth:
    return Auth(spec.token)


EXAMPLE = """\
- kind: auth
  name: auth
  scheme: bearer
  token: '{{ .TOKEN }}'
  env:
    TOKEN:
      name: admin-token
      data: '{{ . }}'
  ports:
    out:
      - name: router
        port: in
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "auth", AuthSpec, compile_auth,
        description="Let HTTP requests through only with Authorization: Bearer <token>; answer others 401.",
        ports={"in": "an HTTP request payload",
               "out": "the request, unchanged, when its bearer token matches"},
        example=EXAMPLE, plugin="system",
    )
