"""The ``amqp`` kind: AMQP 0-9-1 queues, exchanges and routing keys (RabbitMQ), through aio-pika.

What it does is :class:`AmqpSpec`'s docstring (``portflow explain amqp`` shows it). aio-pika's robust connection
reconnects and restores the channels, the queue, its bindings and the consumer; its pause between attempts is
fixed, so ours (``_connection_class``) grows it while the broker stays away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
import uuid
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ...errors import FlowError
from ...logs import spec_fields
from ...scheme import Context, Scheme, spec_error
from ...spec import PositiveDuration, Spec
from ...store.base import mask_url
from .base import Broker

__all__ = ["AmqpSpec", "AmqpNode", "Binding", "compile_amqp", "register"]

log = logging.getLogger("portflow.brokers.amqp")

DELIVERY_LIMIT = 1000
"""The ``x-delivery-limit`` of a quorum queue declared here (RabbitMQ drops a message returned more often)."""

COUNT = "x-delivery-count"


class Binding(msgspec.Struct, kw_only=True):
    """One binding of the consumed queue: messages published to ``exchange`` with a matching routing key."""

    exchange: Annotated[str, Meta(min_length=1, description="an exchange that exists on the broker")]
    routing_key: Annotated[str, Meta(description="the routing key (a pattern for a topic exchange)")] = ""
    arguments: Annotated[dict[str, Any], Meta(description="binding arguments (a headers exchange's match)")] = {}


class AmqpSpec(Spec, kw_only=True):
    """Consumes an AMQP 0-9-1 queue (RabbitMQ) into processes on ``out``; publishes what ``in`` receives.

    Consuming (``queue``): the queue is declared (a quorum queue unless ``queue_type: classic``; ``declare:
    false`` only checks that it exists) and bound to each ``bind`` entry's exchange and routing key. Each message
    leaves on ``out`` in its own process as ``{queue, data, headers, id}``: ``data`` is decoded by the message's
    content type (shown as the ``Content-Type`` header), else sniffed as a WebSocket message is; ``id`` is its
    ``message_id``. ``concurrency`` is the consumer's prefetch (``basic.qos``): the broker sends no more while that
    many processes run.

    A message is acknowledged only after its process exits without error. A failure is redelivered: a quorum
    queue counts the deliveries itself (``x-delivery-count``) and the message is nacked back to it; a classic
    queue counts nothing, so the message is published again to the queue with ``x-delivery-count`` raised and the
    original acknowledged once the broker confirmed the copy. The delivery numbered ``max_deliveries`` that fails
    goes to ``error`` (or is logged when nothing handles it) and is acknowledged: never lost silently. A quorum
    queue is declared with ``x-delivery-limit`` 1000 unless ``arguments`` set one (above ``max_deliveries``): that
    is RabbitMQ's own limit (20 by default since RabbitMQ 4), after which it drops the message; deliveries lost to
    a crash, a broken connection or an unload count there too (and in ``max_deliveries``), so it is kept far
    above ours.

    Runtimes consuming one queue share its messages (competing consumers). An unload or a reload cancels the
    consumer, lets the processes running finish and acknowledge, and returns unacknowledged what the broker had
    sent ahead.

    Publishing (``in``): a payload ``{queue, data, headers}`` or ``{routing_key, data, headers}`` (or anything
    else, as ``data``) is published persistent to ``exchange`` (default: the default exchange, whose routing key
    is a queue's name) with its routing key, else the spec's ``routing_key``. Publisher confirms are on: it is
    answered ``{exchange, routing_key, id}`` once the broker confirmed it, with an error when the broker refused
    it or could route it to no queue.

    The connection is robust: lost, it is retried after ``reconnect`` seconds, then less often the longer the
    broker stays away (half the time it has been away, at most 30 s), also when it is away as the node loads;
    readiness says "not connected" meanwhile, and the queue, its bindings and the consumer are restored. A
    process running when the connection broke finishes, but its message cannot be acknowledged any more: the
    broker redelivers it (at least once).
    """

    url: Annotated[str, Meta(description="the broker, amqp[s]://user:password@host:port/vhost (bind secrets from a "
                                         "value)")] = "amqp://guest:guest@127.0.0.1:5672/"
    queue: Annotated[str | None, Meta(description="the queue to consume; none: publish only")] = None
    declare: Annotated[bool, Meta(description="declare the queue (false: it must exist, as it is)")] = True
    queue_type: Annotated[Literal["quorum", "classic"], Meta(description="the queue's type (with declare: false "
                                                                         "too: how redeliveries are counted)")] = \
        "quorum"
    durable: Annotated[bool, Meta(description="classic: the queue survives a broker restart")] = True
    exclusive: Annotated[bool, Meta(description="classic: the queue is this connection's alone")] = False
    auto_delete: Annotated[bool, Meta(description="classic: the queue goes when its last consumer does")] = False
    arguments: Annotated[dict[str, Any], Meta(description="more x- arguments of the declared queue")] = {}
    bind: Annotated[list[Binding], Meta(description="bindings of the queue: [{exchange, routing_key}]")] = []
    exchange: Annotated[str, Meta(description="the exchange a packet on in is published to ('': the default)")] = ""
    routing_key: Annotated[str | None, Meta(description="the routing key of a packet on in that names none "
                                                         "(default: queue, on the default exchange)")] = None
    concurrency: Annotated[int, Meta(ge=1, le=65535, description="processes in flight at most (the prefetch)")] = 16
    max_deliveries: Annotated[int, Meta(ge=1, description="deliveries of a failing message before error")] = 5
    reconnect: Annotated[PositiveDuration, Meta(description="the first pause between attempts to reconnect")] = \
        PositiveDuration(1.0)


BACKOFF_CAP = 30.0
"""The longest pause between attempts to reconnect (unless ``reconnect`` is longer)."""


def backoff(base: float, down_for: float) -> float:
    """The pause before the next attempt to reconnect after ``down_for`` seconds without the broker: half that
    time, so that attempts thin out geometrically, between ``base`` and ``BACKOFF_CAP``."""
    return max(base, min(down_for / 2, BACKOFF_CAP))


@functools.cache
def _connection_class() -> type:
    """aio-pika's robust connection with a pause that grows while the broker stays away (aio-pika reads
    ``reconnect_interval`` before each pause; its own is fixed)."""
    import aio_pika

    class Connection(aio_pika.RobustConnection):
        _base = 1.0
        down_since: float | None = None

        @property
        def reconnect_interval(self) -> float:
            if self.down_since is None:
                return self._base
            return round(backoff(self._base, time.monotonic() - self.down_since), 2)

        @reconnect_interval.setter
        def reconnect_interval(self, value: float) -> None:
            self._base = float(value)

    return Connection


class _Unreachable(Exception):
    """The broker could not be reached (refused, timed out): worth trying again."""


def _unreachable(exc: BaseException) -> bool:
    """Whether a failed connect is the network's (try again), not the broker's answer (credentials, vhost)."""
    from aiormq.exceptions import AMQPConnectionError, AMQPError

    if type(exc) is AMQPConnectionError:  # aiormq's wrapping of a socket error
        return True
    return isinstance(exc, (OSError, TimeoutError)) and not isinstance(exc, AMQPError)


def _text(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


class AmqpNode(Broker):
    """The live node: ``load()`` connects, declares and consumes; ``unload()`` cancels the consumer, lets the
    processes in flight finish (they acknowledge), then closes."""

    WHERE = "queue"
    PUBLISH = "routing_key"

    def __init__(self, url: str, *, queue: str | None = None, declare: bool = True, queue_type: str = "quorum",
                 durable: bool = True, exclusive: bool = False, auto_delete: bool = False,
                 arguments: dict[str, Any] | None = None, bind: list[Binding] | None = None, exchange: str = "",
                 reconnect: float = 1.0, **broker: Any) -> None:
        super().__init__(url, **broker)
        self.queue_name = queue
        self.declare = declare
        self.queue_type = queue_type
        self.durable = durable
        self.exclusive = exclusive
        self.auto_delete = auto_delete
        self.arguments = dict(arguments or {})
        self.bind = list(bind or [])
        self.exchange_name = exchange
        self.reconnect = reconnect
        self.conn: Any = None
        self.channel: Any = None  # consuming
        self.pub: Any = None  # publishing, with confirms
        self.exchange: Any = None
        self.queue: Any = None
        self._tag: str | None = None
        self._stopping = False
        self._opening: asyncio.Task[None] | None = None  # trying to connect: the broker was away at load
        self._broken: str | None = None  # reached at last, but refused (the credentials, the queue's arguments)
        self.acked = 0  # messages acknowledged after their process succeeded

    # -- connecting -------------------------------------------------------------------------------
    def _failed(self, what: str, exc: BaseException) -> FlowError:
        """A load error (the runtime prefixes the spec): the field, what failed, the client's words."""
        return FlowError(f"{what}: {self.hidden(str(exc) or type(exc).__name__)}")

    async def load(self) -> None:
        """Connect, declare and consume. A broker that cannot be reached is not a failed load: the node starts
        "not connected" and keeps trying in the background (with the same backoff as a reconnect)."""
        self._stopping = False
        self._broken = None
        try:
            await self._open()
        except _Unreachable as exc:
            log.warning("%s: cannot reach %s (trying again, with backoff): %s", self.label, mask_url(self.url), exc, extra=self.log_fields)
            self._opening = asyncio.get_running_loop().create_task(self._keep_opening(),
                                                                   name=f"portflow-{self.label}-connect")

    async def _open(self) -> None:
        import aio_pika

        try:
            conn: Any = await aio_pika.connect_robust(self.url, timeout=5, reconnect_interval=self.reconnect,
                                                      connection_class=_connection_class())
        except Exception as exc:  # noqa: BLE001 - one line, credentials hidden
            if _unreachable(exc):
                raise _Unreachable(self.hidden(str(exc) or type(exc).__name__)) from None
            raise self._failed(f"url: cannot connect to {mask_url(self.url)}", exc) from None
        self.conn = conn
        conn.close_callbacks.add(self._closed)
        conn.reconnect_callbacks.add(self._reconnected)
        try:
            self.pub = await conn.channel(publisher_confirms=True, on_return_raises=True)
            self.exchange = await self._exchange(self.pub, self.exchange_name, "exchange")
            if self.queue_name:
                await self._consume()
        except BaseException:
            await self._close()
            raise

    async def _keep_opening(self) -> None:
        since = time.monotonic()
        while not self._stopping:
            await asyncio.sleep(backoff(self.reconnect, time.monotonic() - since))
            try:
                await self._open()
            except _Unreachable:
                continue
            except Exception as exc:  # noqa: BLE001 - reached, but refused: it will not mend by itself
                self._broken = str(exc)
                log.error("%s: %s", self.label, exc, extra=self.log_fields)
                return
            log.info("%s: connected to %s", self.label, mask_url(self.url), extra=self.log_fields)
            return

    async def _exchange(self, channel: Any, name: str, field: str) -> Any:
        if not name:
            return channel.default_exchange
        try:
            return await channel.get_exchange(name, ensure=True)
        except Exception as exc:  # noqa: BLE001 - a missing exchange: one line
            raise self._failed(f"{field}: no exchange {name!r}", exc) from None

    def _queue_arguments(self) -> dict[str, Any]:
        if self.queue_type == "classic":
            return dict(self.arguments)
        return {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT, **self.arguments}

    async def _consume(self) -> None:
        assert self.queue_name is not None
        self.channel = await self.conn.channel(publisher_confirms=False)
        await self.channel.set_qos(prefetch_count=self.concurrency)
        try:
            if self.declare:
                self.queue = await self.channel.declare_queue(
                    self.queue_name, durable=self.durable or self.queue_type == "quorum", exclusive=self.exclusive,
                    auto_delete=self.auto_delete, arguments=self._queue_arguments())
            else:
                self.queue = await self.channel.declare_queue(self.queue_name, passive=True)
        except Exception as exc:  # noqa: BLE001 - one line, naming the field
            raise self._failed(f"queue: cannot declare {self.queue_name!r}", exc) from None
        for i, binding in enumerate(self.bind):
            try:
                await self.queue.bind(binding.exchange, binding.routing_key, arguments=binding.arguments or None)
            except Exception as exc:  # noqa: BLE001 - a missing exchange, mostly
                raise self._failed(f"bind[{i}]: cannot bind to exchange {binding.exchange!r}", exc) from None
        self._tag = await self.queue.consume(self._received)

    def _closed(self, conn: Any, exc: BaseException | None = None) -> None:
        if not self._stopping and conn is self.conn and conn.down_since is None:
            conn.down_since = time.monotonic()
            log.warning("%s: disconnected from %s (reconnecting, with backoff from %.1fs to %.0fs)%s", self.label,
                        mask_url(self.url), self.reconnect, max(self.reconnect, BACKOFF_CAP),
                        f": {self.hidden(str(exc))}" if exc and str(exc) else "", extra=self.log_fields)

    def _reconnected(self, conn: Any) -> None:
        conn.down_since = None
        log.info("%s: reconnected to %s", self.label, mask_url(self.url), extra=self.log_fields)

    async def unload(self) -> None:
        """Cancel the consumer (the broker sends no more), let the processes in flight finish and acknowledge,
        then close: what the broker had sent and no process took returns to the queue unacknowledged."""
        self._stopping = True
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
        if self.queue is not None and self._tag is not None and self.connected:
            with contextlib.suppress(Exception):  # disconnected: the broker requeues everything unacked
                await self.queue.cancel(self._tag)
        self._tag = None
        await self.drain()
        await self._close()

    async def _close(self) -> None:
        conn, self.conn = self.conn, None
        self.channel = self.pub = self.queue = self.exchange = None
        if conn is not None:
            conn.close_callbacks.discard(self._closed)
            try:
                await conn.close()
            except Exception as exc:  # noqa: BLE001 - closing: log and go on
                log.warning("%s: closing the connection: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)

    async def close(self) -> None:
        if self.conn is not None or self._opening is not None:
            await self.unload()

    # -- consuming --------------------------------------------------------------------------------
    async def _received(self, msg: Any) -> None:
        """A delivery: its process runs in a task of the node's, not of the channel's, so that a broken
        connection (which cancels the channel's tasks) does not cancel a process half-way."""
        if self._stopping:
            return  # cancelled: left unacknowledged, it returns to the queue when the channel closes
        self.spawn(self._one(msg))

    def _delivery(self, msg: Any) -> int:
        count = (msg.headers or {}).get(COUNT)
        try:
            return int(count) + 1 if count is not None else 1
        except (TypeError, ValueError):
            return 1

    async def _one(self, msg: Any) -> None:
        try:
            headers = {k: _text(v) for k, v in (msg.headers or {}).items()}
            if msg.content_type:
                headers["Content-Type"] = msg.content_type
            payload = self.message(self.queue_name or "", msg.body, headers, msg.message_id)
            error = await self.fire(payload, to_error=False)
            if error is None:
                await msg.ack()
                self.acked += 1
                return
            delivery = self._delivery(msg)
            if delivery >= self.max_deliveries:
                await self.dead_letter(payload, error, delivery)
                await msg.ack()
            else:
                if self.queue_type == "quorum" and msg.redelivered and COUNT not in (msg.headers or {}):
                    log.warning("%s: queue %r redelivers without counting: taken as a classic queue (set "
                                "queue_type: classic)", self.label, self.queue_name, extra=self.log_fields)
                    self.queue_type = "classic"
                if self.queue_type == "quorum":
                    await msg.nack(requeue=True)  # the queue counts this delivery
                else:
                    await self._again(msg, delivery)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: the broker redelivers it
            log.warning("%s: cannot acknowledge a message (it will be redelivered): %s", self.label,
                        self.hidden(str(exc) or type(exc).__name__), extra=self.log_fields)

    async def _again(self, msg: Any, delivery: int) -> None:
        """A classic queue's redelivery: the message again at the queue's tail, counted, then the original acked."""
        import aio_pika

        copy = aio_pika.Message(
            msg.body, headers={**(msg.headers or {}), COUNT: delivery}, content_type=msg.content_type,
            content_encoding=msg.content_encoding, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=msg.priority, correlation_id=msg.correlation_id, reply_to=msg.reply_to,
            expiration=msg.expiration, message_id=msg.message_id, timestamp=msg.timestamp, type=msg.type,
            app_id=msg.app_id)  # not user_id: RabbitMQ refuses one that is not this connection's user
        await self.pub.default_exchange.publish(copy, routing_key=self.queue_name)
        await msg.ack()

    # -- publishing -------------------------------------------------------------------------------
    def not_ready(self) -> str | None:
        return self._broken or super().not_ready()

    @property
    def connected(self) -> bool:
        """Connected, and the channels reopened after a reconnect (until then a publish would fail)."""
        conn = self.conn
        if conn is None or conn.is_closed or not conn.connected.is_set():
            return False
        channels = [self.pub, self.channel] if self.queue_name else [self.pub]
        return all(ch is not None and not ch.is_closed for ch in channels)

    def outgoing(self, payload: Any) -> tuple[str | None, bytes, dict[str, str]]:
        """``routing_key`` is the payload's other name for the routing key (with an exchange, not a queue)."""
        if isinstance(payload, dict) and "data" in payload and "routing_key" in payload and self.WHERE not in payload:
            payload = {(self.WHERE if k == "routing_key" else k): v for k, v in payload.items()}
        return super().outgoing(payload)

    async def deliver(self, where: str, raw: bytes, headers: dict[str, str]) -> Any:
        import aio_pika

        content_type = None
        for key in [k for k in headers if k.lower() == "content-type"]:
            content_type = headers.pop(key)
        ident = uuid.uuid4().hex
        fields: dict[str, Any] = dict(headers)
        message = aio_pika.Message(raw, headers=fields or None, content_type=content_type, message_id=ident,
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        try:
            await self.exchange.publish(message, routing_key=where)
        except aio_pika.exceptions.PublishError:
            raise FlowError(f"no queue is bound for routing key {where!r} on exchange {self.exchange_name!r} "
                            "(returned unroutable)") from None
        except aio_pika.exceptions.DeliveryError:
            raise FlowError("the broker refused the message (nack)") from None
        return {"exchange": self.exchange_name, "routing_key": where, "id": ident}


def compile_amqp(spec: AmqpSpec, context: Context) -> AmqpNode:
    try:
        import aio_pika  # noqa: F401
    except ImportError:
        raise spec_error(spec, "", "the amqp kind needs its client: pip install 'portflow[amqp]'") from None
    if not spec.url.startswith(("amqp://", "amqps://")):
        raise spec_error(spec, "url", f"{mask_url(spec.url)!r} is not an amqp:// URL")
    if spec.queue == "":
        raise spec_error(spec, "queue", "empty (name the queue, or leave it out to only publish)")
    if spec.queue_type == "quorum":
        for field, value in (("exclusive", spec.exclusive), ("auto_delete", spec.auto_delete)):
            if value:
                raise spec_error(spec, field, "a quorum queue cannot be exclusive or auto-delete "
                                              "(set queue_type: classic)")
        if not spec.durable:
            raise spec_error(spec, "durable", "a quorum queue is always durable (set queue_type: classic)")
        limit = spec.arguments.get("x-delivery-limit", DELIVERY_LIMIT)
        if not isinstance(limit, int) or limit < spec.max_deliveries:
            raise spec_error(spec, "arguments", f"x-delivery-limit {limit!r} must be an integer at least "
                                                f"max_deliveries ({spec.max_deliveries}): RabbitMQ would drop "
                                                "a failing message before it goes to error")
    publish = spec.routing_key if spec.routing_key is not None else (spec.queue if not spec.exchange else None)
    return AmqpNode(spec.url, queue=spec.queue, declare=spec.declare, queue_type=spec.queue_type,
                    durable=spec.durable, exclusive=spec.exclusive, auto_delete=spec.auto_delete,
                    arguments=spec.arguments, bind=spec.bind, exchange=spec.exchange, publish=publish,
                    concurrency=spec.concurrency, max_deliveries=spec.max_deliveries,
                    reconnect=float(spec.reconnect), label=spec.subject, log_fields=spec_fields(spec),
                    lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: amqp
  name: orders
  url: amqp://guest:guest@127.0.0.1:5672/
  queue: orders
  bind:
    - exchange: amq.topic
      routing_key: orders.#
  max_deliveries: 3
  ports:
    out:
      - name: line
        port: in
- kind: snippet
  name: line
  language: cel
  code: '["order %v: %v\\n", self.id, self.data]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("amqp", AmqpSpec, compile_amqp, description=inspect.cleandoc(AmqpSpec.__doc__ or ""),
                    ports={"in": "messages to publish, {queue | routing_key, data, headers} or data",
                           "out": "each message as {queue, data, headers, id}",
                           "error": "messages that failed max_deliveries times; publish failures"},
                    example=EXAMPLE, plugin="brokers")
