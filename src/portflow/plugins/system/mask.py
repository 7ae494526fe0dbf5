"""mask: hide values' data in what an HTTP flow answers, unless the request asks for it.

Values hold secrets, so an API that returns them should show ``data`` only when asked. ``mask`` sits in
front of the part of a flow that answers with value documents: it passes the request, unchanged, on
``out``, and in the answer that comes back replaces every scalar inside each value's ``data`` with
``***`` (map keys and list lengths stay visible, as ``portflow get values`` shows them), unless the
request's query says ``show_data=true``. The answer's ``body`` (or the answer itself, when it is not an
HTTP response map) may be one value document or a list of them; anything else — errors, streams, maps
without ``data`` — passes untouched.
"""

from __future__ import annotations

from typing import Any

from ...node import Relay
from ...packet import Packet
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec

__all__ = ["MaskSpec", "Mask", "compile_mask", "register", "mask_data", "mask_documents", "wants_data"]

MASK = "***"


class MaskSpec(Spec, kw_only=True):
    """Passes an HTTP request on ``out`` and masks the ``data`` of the value documents in the answer
    (every scalar becomes ``***``) unless the request's query has ``show_data=true``."""


def mask_data(value: Any) -> Any:
    """``data`` with every scalar replaced by ``***``; map keys and list lengths stay visible."""
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(v) for v in value]
    return MASK


def mask_documents(body: Any) -> Any:
    """A value document, or a list of them, with their ``data`` masked; anything else unchanged."""
    if isinstance(body, dict):
        return {**body, "data": mask_data(body["data"])} if "data" in body else body
    if isinstance(body, list):
        return [mask_documents(d) if isinstance(d, dict) else d for d in body]
    return body


def wants_data(request: Any) -> bool:
    """Whether the request's query says ``show_data=true`` (or ``1``, ``yes``, or a bare ``?show_data``)."""
    if not isinstance(request, dict):
        return False
    query = request.get("query")
    values = query.get("show_data") if isinstance(query, dict) else None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        return False
    return str(values[-1]).strip().lower() in ("true", "1", "yes", "")


class Mask(Relay):
    """in -> out; the answer's value documents masked unless the request asked for their data."""

    def __init__(self) -> None:
        super().__init__(error=False)

    async def receive(self, proc: Process, pck: Packet) -> Packet:
        answer = await self.out_port.send(proc, pck, pck)
        if answer is pck or answer.is_error or wants_data(pck.payload):
            return answer
        payload = answer.payload
        if isinstance(payload, dict) and "data" not in payload and "body" in payload:  # an HTTP response
            return Packet({**payload, "body": mask_documents(payload["body"])})
        return Packet(mask_documents(payload))



def compile_mask(spec: MaskSpec, context: Context) -> Mask:
    return Mask()


EXAMPLE = """\
- kind: mask
  name: mask-values
  ports:
    out:
      - name: values-router
        port: in
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "mask", MaskSpec, compile_mask,
        description="Mask values' data in an HTTP flow's answer unless the request has ?show_data=true.",
        ports={"in": "an HTTP request payload",
               "out": "the request, unchanged; its answer comes back with values' data masked"},
        example=EXAMPLE, plugin="system",
    )
