"""What every broker kind shares: decoding a message's body, encoding a packet to publish, the dead letter.

A broker kind (``nats``, ``mqtt``, ``amqp``, ``redis``) is a :class:`Broker`: a trigger (:class:`Source`)
whose messages leave on ``out`` as ``{<where>, data, headers, id}`` — ``<where>`` is the family's word
(``subject``, ``topic``, ``queue``, ``stream``) — and whose ``in`` publishes. Each kind writes only what its
client does differently: ``connected``, ``deliver(where, raw, headers)`` (one publish, answered with what the
broker confirmed) and its consume loop, which calls ``fire`` and, for a message that failed its last
delivery, ``dead_letter``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import FlowError
from ...packet import Packet
from ...port import IN, InPort
from ...process import Process
from ...store.base import mask_url, scrub
from ..net import mime
from ..triggers.source import Source

__all__ = ["Broker", "decode", "encode"]

log = logging.getLogger("portflow.brokers")


def decode(raw: bytes | bytearray | memoryview | None, content_type: str | None) -> Any:
    """A message body as data: by its content type, else sniffed as a WebSocket message is; bytes that do not
    decode stay bytes (nothing is lost), an empty body is None."""
    if not raw:
        return None
    try:
        return mime.decode(bytes(raw), content_type)
    except mime.BodyError:
        return bytes(raw)


def encode(data: Any, headers: dict[str, str]) -> bytes:
    """A packet's data as a message body; ``headers`` gains the ``Content-Type`` it was encoded with (one
    that is already set is kept and chooses the encoding)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return data.encode()
    content_type, raw = mime.encode(data, headers.get("Content-Type"))
    headers["Content-Type"] = content_type
    return raw


class Broker(Source):
    """The base of the broker kinds; see the module docstring. ``WHERE`` names the payload's destination key."""

    INPORTS = {IN: "in_port"}
    WHERE = "subject"
    PUBLISH = "publish"  # the spec's field naming where ``in`` publishes by default (for error messages)

    def __init__(self, url: str, *, publish: str | None = None, concurrency: int = 16, max_deliveries: int = 5,
                 **source: Any) -> None:
        super().__init__(**source)
        self.url = url
        self.publish_to = publish
        self.concurrency = concurrency
        self.max_deliveries = max_deliveries
        self.in_port = InPort(IN, self, self._publish)
        self.dropped = 0  # messages that failed max_deliveries times and that error did not handle

    # -- what a kind writes ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        raise NotImplementedError

    async def deliver(self, where: str, raw: bytes, headers: dict[str, str]) -> Any:
        """Publish one message; the answer on ``in`` (the broker's confirmation, or None)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def not_ready(self) -> str | None:
        return None if self.connected else f"not connected to {mask_url(self.url)}"

    def hidden(self, text: str) -> str:
        """``text`` (a client's error) with the URL's credentials hidden."""
        return scrub(text, self.url)

    def message(self, where: str, raw: Any, headers: Mapping[str, Any] | None, ident: Any) -> dict[str, Any]:
        """The payload of a consumed message."""
        headers = {str(k): v if isinstance(v, str) else str(v) for k, v in (headers or {}).items()}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        return {self.WHERE: where, "data": decode(raw, content_type), "headers": headers, "id": ident}

    def outgoing(self, payload: Any) -> tuple[str | None, bytes, dict[str, str]]:
        """What to publish for a packet: ``{<where>, data, headers}`` as sent, anything else as ``data``."""
        keys = {self.WHERE, "data", "headers", "id"}
        if isinstance(payload, dict) and "data" in payload and set(payload) <= keys:
            where, data, headers = payload.get(self.WHERE), payload.get("data"), dict(payload.get("headers") or {})
        else:
            where, data, headers = None, payload, {}
        headers = {str(k): str(v) for k, v in headers.items()}
        raw = encode(data, headers)
        return (str(where) if where is not None else None), raw, headers

    async def failed(self, proc: Process, text: str) -> Packet:
        """Answer ``in`` with an error (to ``error`` when it is linked)."""
        err = Packet(FlowError(f"{self.label}: {text}"))
        return await self.error_port.send(proc, err, err)

    async def _publish(self, proc: Process, pck: Packet) -> Packet:
        try:
            where, raw, headers = self.outgoing(pck.payload)
        except mime.BodyError as exc:
            return await self.failed(proc, f"cannot encode the message: {exc}")
        where = where or self.publish_to
        if not where:
            return await self.failed(proc, f"no {self.WHERE} to publish to (set {self.PUBLISH} or the payload's {self.WHERE})")
        if not self.connected:
            return await self.failed(proc, "not connected")
        try:
            return Packet(await self.deliver(where, raw, headers))
        except Exception as exc:  # noqa: BLE001 - answered, as data
            return await self.failed(proc, f"publish to {where} failed: {self.hidden(str(exc) or type(exc).__name__)}")

    async def dead_letter(self, payload: dict[str, Any], error: BaseException, delivery: int) -> None:
        """The last failed delivery of a message: to ``error`` as the error, the message in the process's
        ``message`` variable; dropped with an error line when ``error`` does not handle it."""
        proc = Process()
        try:
            err = FlowError(f"{self.label}: message {payload.get('id')} on {payload.get(self.WHERE)} failed "
                            f"{delivery} time(s): {error}")
            proc.set("message", payload)
            answer = await self.error_port.send(proc, Packet(err), Packet(err))
            if answer.payload is err or isinstance(answer.payload, BaseException):
                self.dropped += 1
                log.error("%s; dropped", err, extra=self.log_fields)
            else:
                await proc.commit()
        finally:
            await proc.exit()
