"""Redaction (issue 12 item 9): a secret never shows in a message, raw, repr'd, JSON-escaped or URL-encoded."""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid

import pytest

from portflow.redact import redact
from portflow.runtime import Runtime
from portflow.store import open_store

SECRETS = [
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab'cd\"ef\\gh\n-----END PRIVATE KEY-----",
    "it's a \"quoted\" p\\ss",
    "tab\there and\r\nCRLF",
    "ünïcødé-sécret",
]
FORMS = {
    "raw": lambda s: s,
    "repr": repr,
    "json": json.dumps,
    "json-ascii": lambda s: json.dumps(s, ensure_ascii=True),
    "json-unicode": lambda s: json.dumps(s, ensure_ascii=False),
    "url": lambda s: urllib.parse.quote(s, safe=""),
    "url-plus": urllib.parse.quote_plus,
    "repr-of-json": lambda s: repr(json.dumps(s)),
    "json-of-repr": lambda s: json.dumps(repr(s)),
}


def _pieces(secret: str) -> list[str]:
    """Parts of a secret that must not survive either: its longer lines."""
    return [line for line in secret.splitlines() if len(line) >= 8]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_a_secret_is_hidden(secret, form):
    message = f"field: bad value {FORMS[form](secret)} (expected a number)"
    out = redact(message, [secret])
    assert "***" in out and out.startswith("field: bad value ") and out.endswith("(expected a number)")
    for piece in _pieces(secret):
        assert piece not in out
        assert json.dumps(piece)[1:-1] not in out


async def test_a_pem_secret_stays_out_of_the_error_log_and_the_symbol(caplog):
    pem = SECRETS[0]
    async with open_store(f"memory://redact-{uuid.uuid4().hex}") as store:
        await store.values.insert([{"id": "v", "namespace": "default", "name": "key", "data": pem}])
        await store.specs.insert([{"id": "s", "namespace": "default", "kind": "snippet", "name": "x",
                                   "language": "{{ .K }}", "code": "1",
                                   "env": {"K": {"name": "key", "data": "{{ . }}"}}}])
        caplog.set_level(logging.INFO)
        async with Runtime(store) as rt:
            error = rt.table.lookup("default", "x").error
    assert "unknown language '***'" in error
    logged = caplog.text
    assert "unknown language '***'" in logged
    for piece in _pieces(pem):
        for text in (error, logged):
            assert piece not in text and repr(piece)[1:-1] not in text
