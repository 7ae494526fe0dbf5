"""Redaction: hide secrets in messages, in every form a message may quote them.

A message quotes a value raw, with ``repr`` (``'a\\nb'``, ``"it's"``), JSON-escaped (``"a\\nb"``,
``\\u00e9``) or URL-encoded (``a%0Ab``), and sometimes one of these inside another (the ``repr`` of a
JSON text). :func:`redact` replaces each such form of each secret, and each line of a multi-line secret
(a PEM key), by ``***``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["redact", "forms", "secret_texts", "hide_credentials", "CREDENTIAL_HEADERS"]

MIN_LENGTH = 4
"""Shorter secrets are not redacted: they would hide ordinary words."""

_ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda s: repr(s)[1:-1],
    lambda s: repr(s + "'")[1:-2],  # the form repr() uses for a text with a single quote and no double
    lambda s: json.dumps(s)[1:-1],
    lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    lambda s: urllib.parse.quote(s, safe=""),
    lambda s: urllib.parse.quote_plus(s, safe=""),
    lambda s: s.encode("unicode_escape").decode("ascii"),
)


def forms(secret: str) -> set[str]:
    """The texts a message may show ``secret`` as: raw, escaped or encoded once or twice, and its lines."""
    parts = {secret} | {line.strip() for line in secret.splitlines() if len(line.strip()) >= MIN_LENGTH * 2}
    once = {enc(p) for p in parts for enc in _ENCODINGS} | parts
    twice = {enc(p) for p in once for enc in _ENCODINGS}
    return {f for f in once | twice if len(f) >= MIN_LENGTH}


def redact(message: str, secrets: Iterable[str]) -> str:
    """``message`` with every form of every secret of ``MIN_LENGTH`` characters or more replaced by ``***``."""
    found = [s for s in {s for s in secrets if isinstance(s, str) and len(s) >= MIN_LENGTH}]
    if not found:
        return message
    for text in sorted({f for s in found for f in forms(s)}, key=len, reverse=True):
        if text in message:
            message = message.replace(text, "***")
    return message


def secret_texts(data: Any) -> list[str]:
    """The string (and number) leaves of a value's data: the texts :func:`redact` hides."""
    if isinstance(data, dict):
        return [t for v in data.values() for t in secret_texts(v)]
    if isinstance(data, list):
        return [t for v in data for t in secret_texts(v)]
    if isinstance(data, (str, int, float)) and not isinstance(data, bool):
        return [str(data)]
    return []


#: Request and response headers whose values frames (the ``frames`` table, the debugger) never show.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def hide_credentials(payload: Any) -> Any:
    """An HTTP payload with the values of credential headers replaced by ``***`` (other payloads as they are)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("header"), dict):
        return payload
    header = {k: (["***"] if str(k).lower() in CREDENTIAL_HEADERS else v) for k, v in payload["header"].items()}
    return {**payload, "header": header}
