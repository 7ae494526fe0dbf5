"""The ``nats`` kind: NATS subjects (core, with queue groups) and JetStream durable consumers.

Consuming (``consume``, a subject): each message leaves on ``out`` in its own process as ``{subject, data, headers,
id}``; ``data`` is decoded by the ``Content-Type`` header (else sniffed, as a WebSocket message is).
``concurrency`` bounds the processes in flight: no more messages are taken while that many run.

- core NATS (no ``stream``): ``group`` is the queue group, so runtimes in one group split the messages.
  Core NATS has no acknowledgement: a failed process is logged (and sent to ``error``).
- JetStream (``stream`` set): a durable pull consumer named ``group`` on the stream. A message is
  acknowledged only after its process exits without error; a failure naks it (redelivered), and the
  delivery numbered ``max_deliveries`` that fails goes to ``error`` (or is logged when nothing handles
  it) and is terminated: never lost silently. A message whose process is still running when its
  ``ack_wait`` passes is redelivered (at least once).

Publishing (``in``): a payload ``{subject, data, headers}`` (or anything else, as ``data``) is published to
its ``subject`` or the spec's ``publish``; with ``stream`` it is answered with the broker's acknowledgement
``{stream, seq}``, else once the server has it (a flush), with null.

Reconnecting: a lost connection is logged once (a warning) and retried every second without end (nats-py's
``reconnect_time_wait``, a fixed wait); meanwhile readiness and ``get`` show the node "not connected to URL",
a packet on ``in`` is answered with that error, JetStream messages wait in the stream and flow again once
reconnected (an acknowledgement the loss dropped: that message is redelivered). Core NATS keeps nothing for
a client that is away.

Loading creates the durable consumer, or updates it to the spec (``concurrency`` is its max_ack_pending,
``ack_wait``, ``consume``), so a reload applies them. Unloading (a reload, a removed spec, shutdown) takes no
more messages, lets the processes in flight finish and acknowledge (up to the runtime's grace; one still
running then is cancelled, unacknowledged: redelivered after ``ack_wait``), sends their acknowledgements and
closes: a reload loses none and processes none twice; the messages not yet taken stay in the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Annotated, Any

from msgspec import Meta

from ...errors import FlowError
from ...lifetime import TaskStatus
from ...logs import spec_fields
from ...scheme import Context, Scheme, spec_error
from ...spec import PositiveDuration, Spec
from ...store.base import mask_url
from .base import Broker

__all__ = ["NatsSpec", "NatsNode", "compile_nats", "register"]

log = logging.getLogger("portflow.brokers.nats")

#: Seconds between two attempts to reconnect (nats-py's ``reconnect_time_wait``: a fixed wait, not growing).
RECONNECT_WAIT = 1.0
#: Seconds between two checks, while no message comes, that the durable consumer still exists.
CHECK_EVERY = 5.0


class NatsSpec(Spec, kw_only=True):
    """Consumes a NATS subject (core or JetStream) into processes on ``out``; publishes what ``in`` receives.

    With ``stream``, ``group`` is a durable consumer (runtimes sharing it split the messages): a message is
    acknowledged when its process exits without error, else redelivered, and after ``max_deliveries`` goes to
    ``error``. At most ``concurrency`` messages are in flight. A lost connection is logged once and retried
    every second (nats-py's ``reconnect_time_wait``, a fixed wait); until it is back the node is "not
    connected" in readiness and ``get``, and JetStream messages wait in the stream (a consumer deleted on the
    server shows there too, until it is back). A reload updates the consumer to the spec; a reload or unload
    takes no more messages, lets those in flight finish and acknowledge (a process still running after the
    grace is cancelled, its message redelivered after ``ack_wait``), then closes.
    """

    url: Annotated[str, Meta(description="the server, nats://[user:password@]host:port (bind secrets from a value)")] = \
        "nats://127.0.0.1:4222"
    consume: Annotated[str | None, Meta(description="the subject to consume (wildcards allowed); none: publish only")] = None
    group: Annotated[str | None, Meta(description="the queue group (core) or durable consumer name (JetStream)")] = None
    stream: Annotated[str | None, Meta(description="consume and publish through this JetStream stream")] = None
    publish: Annotated[str | None, Meta(description="the subject a packet on in goes to when it names none")] = None
    concurrency: Annotated[int, Meta(ge=1, description="processes in flight at most")] = 16
    max_deliveries: Annotated[int, Meta(ge=1, description="JetStream: deliveries of a failing message before error")] = 5
    ack_wait: Annotated[PositiveDuration, Meta(description="JetStream: how long a delivery may take before redelivery")] = \
        PositiveDuration(30.0)


def _ident(msg: Any) -> str | None:
    ident = (msg.headers or {}).get("Nats-Msg-Id")
    if ident is None and msg.reply and msg.reply.startswith("$JS.ACK."):
        ident = str(msg.metadata.sequence.stream)
    return ident


class NatsNode(Broker):
    """The live node: ``load()`` connects and consumes, ``unload()`` stops taking messages and drains."""

    WHERE = "subject"

    def __init__(self, url: str, *, subject: str | None = None, group: str | None = None, stream: str | None = None,
                 ack_wait: float = 30.0, **broker: Any) -> None:
        super().__init__(url, **broker)
        self.subject = subject
        self.group = group
        self.stream = stream
        self.ack_wait = ack_wait
        self.nc: Any = None
        self.js: Any = None
        self._stopping = False  # set by unload: the consume loop takes no more messages
        self._closing = False
        self._gone: str | None = None  # why the durable consumer cannot be found (deleted on the server)
        self._checked = 0.0  # when the loop, idle, last asked the server for the consumer

    async def _connect(self) -> None:
        import nats
        import nats.errors

        async def disconnected() -> None:
            if not self._closing:
                log.warning("%s: disconnected from %s (reconnecting)", self.label, mask_url(self.url), extra=self.log_fields)

        async def reconnected() -> None:
            log.info("%s: reconnected to %s", self.label, mask_url(self.url), extra=self.log_fields)

        async def error(exc: Exception) -> None:
            # The loss of the connection and each failed attempt to reconnect report here too: the loss is
            # logged once (``disconnected``), these are debug lines.
            text = self.hidden(str(exc) or type(exc).__name__)
            lost = isinstance(exc, (OSError, asyncio.TimeoutError, nats.errors.StaleConnectionError,
                                    nats.errors.ConnectionClosedError))
            if lost or self._closing or self.nc is None or not self.nc.is_connected:
                log.debug("%s: %s", self.label, text, extra=self.log_fields)
            else:
                log.warning("%s: %s", self.label, text, extra=self.log_fields)

        try:
            self.nc = await nats.connect(self.url, max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT,
                                         connect_timeout=5, disconnected_cb=disconnected, error_cb=error,
                                         reconnected_cb=reconnected, allow_reconnect=True)
        except Exception as exc:  # noqa: BLE001 - one line, credentials hidden
            raise FlowError(f"{self.label}: cannot connect to {mask_url(self.url)}: "
                            f"{self.hidden(str(exc) or type(exc).__name__)}") from None
        if self.stream:
            self.js = self.nc.jetstream()

    async def load(self) -> None:
        self._stopping = self._closing = False
        self._gone = None
        await self._connect()
        if self.subject:
            await self.run(self._consume_jetstream if self.stream else self._consume_core)

    async def unload(self) -> None:
        """Take no more messages, let the processes in flight finish (they ack), then close.

        A JetStream fetch under way is let run out (at most a second) rather than cancelled: cancelled, the
        messages it was handed would be neither processed nor acknowledged until their ``ack_wait``."""
        self._stopping = True
        job, self._job = self._job, None
        if job is not None and self.stream:
            with contextlib.suppress(Exception):  # still fetching after 2 s: cancelled below
                await asyncio.wait_for(asyncio.shield(job.task), timeout=2.0)
        if job is not None:
            await job.stop()
        await self.drain()
        nc, self.nc = self.nc, None
        if nc is not None:
            self._closing = True
            with contextlib.suppress(Exception):  # disconnected: those messages are redelivered
                await asyncio.wait_for(nc.flush(), timeout=2.0)  # the acks of the last processes
            try:
                await nc.close()
            except Exception as exc:  # noqa: BLE001 - closing: log and go on
                log.warning("%s: closing the connection: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)

    async def close(self) -> None:
        if self.nc is not None:
            await self.unload()

    # -- consuming --------------------------------------------------------------------------------
    async def _consume_core(self, status: TaskStatus[Any]) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        queue: asyncio.Queue[Any] = asyncio.Queue(self.concurrency)

        async def received(msg: Any) -> None:
            await queue.put(msg)  # blocks the subscription's reader while the flow is behind

        sub = await self.nc.subscribe(self.subject, queue=self.group or "", cb=received,
                                      pending_msgs_limit=self.concurrency * 4)
        await self.nc.flush()
        status.started()
        try:
            while not self._stopping:
                msg = await queue.get()
                await slots.acquire()
                self.spawn(self._one_core(msg, slots))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _one_core(self, msg: Any, slots: asyncio.Semaphore) -> None:
        try:
            await self.fire(self.message(msg.subject, msg.data, msg.headers, _ident(msg)))
        finally:
            slots.release()

    async def _subscribe_jetstream(self) -> Any:
        """A pull subscription on the durable consumer ``group``, created or updated to this spec: a reload that
        changes ``concurrency`` (the consumer's max_ack_pending), ``ack_wait`` or ``consume`` applies it."""
        from nats.js.api import ConsumerConfig

        config = ConsumerConfig(name=self.group, durable_name=self.group, filter_subject=self.subject,
                                max_deliver=-1, ack_wait=self.ack_wait, max_ack_pending=self.concurrency)
        try:
            await self.js.add_consumer(self.stream, config)  # the server creates it, or updates it in place
            return await self.js.pull_subscribe_bind(durable=self.group, stream=self.stream)
        except Exception as exc:  # noqa: BLE001 - one line: no stream, a subject outside it
            raise FlowError(f"{self.label}: cannot consume {self.subject} as {self.group!r} on stream "
                            f"{self.stream!r}: {self.hidden(str(exc) or type(exc).__name__)}") from None

    async def _consume_jetstream(self, status: TaskStatus[Any]) -> None:
        import nats.errors

        sub = await self._subscribe_jetstream()
        status.started()

        busy = 0  # messages whose process runs
        room = asyncio.Event()
        failing = False  # the last fetch failed: a failure that lasts is logged once

        def done(_: asyncio.Task[Any]) -> None:
            nonlocal busy
            busy -= 1
            room.set()

        while not self._stopping:
            while busy >= self.concurrency and not self._stopping:
                room.clear()
                await room.wait()
            if self._stopping:
                break
            try:
                msgs = await sub.fetch(self.concurrency - busy, timeout=1.0)
                failing = False
            except (TimeoutError, nats.errors.TimeoutError):
                msgs, failing = [], False
                await self._check_consumer()
            except Exception as exc:  # noqa: BLE001 - retried; while disconnected the disconnect was logged
                loud = self.connected and not failing
                log.log(logging.WARNING if loud else logging.DEBUG, "%s: fetch failed (retrying every %.0fs): %s",
                        self.label, RECONNECT_WAIT, self.hidden(str(exc) or type(exc).__name__),
                        extra=self.log_fields)
                msgs, failing = [], True
                await asyncio.sleep(RECONNECT_WAIT)
            for msg in msgs:
                busy += 1
                self.spawn(self._one_jetstream(msg)).add_done_callback(done)

    async def _check_consumer(self) -> None:
        """While idle, every ``CHECK_EVERY`` seconds: is the durable consumer still there? A fetch from one that
        was deleted (or whose stream was) only times out; the node then says so, in readiness and once in the
        log, until it is back (created again, or the spec reloaded)."""
        import nats.js.errors

        now = asyncio.get_running_loop().time()
        if now - self._checked < CHECK_EVERY or not self.connected:
            return
        self._checked = now
        try:
            await self.js.consumer_info(self.stream, self.group)
        except nats.js.errors.NotFoundError:
            if self._gone is None:
                self._gone = (f"the consumer {self.group!r} of stream {self.stream!r} is gone from the server "
                              "(reload the spec to create it again)")
                log.warning("%s: %s", self.label, self._gone, extra=self.log_fields)
            return
        except Exception:  # noqa: BLE001 - not connected or slow: asked again later
            return
        if self._gone is not None:
            log.info("%s: the consumer %r is back", self.label, self.group, extra=self.log_fields)
        self._gone = None

    def not_ready(self) -> str | None:
        return super().not_ready() or self._gone

    async def _one_jetstream(self, msg: Any) -> None:
        try:
            delivery = msg.metadata.num_delivered
            payload = self.message(msg.subject, msg.data, msg.headers, _ident(msg))
            error = await self.fire(payload, to_error=False)
            if error is None:
                await msg.ack()
            elif delivery < self.max_deliveries:
                await msg.nak()
            else:
                await self.dead_letter(payload, error, delivery)
                await msg.term()
        except Exception as exc:  # noqa: BLE001 - the ack failed: the broker redelivers it
            log.warning("%s: cannot acknowledge a message (it will be redelivered): %s", self.label, exc, extra=self.log_fields)

    # -- publishing -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def deliver(self, where: str, raw: bytes, headers: dict[str, str]) -> Any:
        if self.stream:
            ack = await self.js.publish(where, raw, stream=self.stream, headers=headers or None)
            return {"stream": ack.stream, "seq": ack.seq}
        await self.nc.publish(where, raw, headers=headers or None)
        await self.nc.flush()
        return None


def compile_nats(spec: NatsSpec, context: Context) -> NatsNode:
    try:
        import nats  # noqa: F401
    except ImportError:
        raise spec_error(spec, "", "the nats kind needs its client: pip install 'portflow[nats]'") from None
    if not spec.url.startswith(("nats://", "tls://", "ws://", "wss://")):
        raise spec_error(spec, "url", f"{mask_url(spec.url)!r} is not a nats:// URL")
    if spec.stream and spec.consume and not spec.group:
        raise spec_error(spec, "group", "a JetStream consumer needs a durable name (group)")
    return NatsNode(spec.url, subject=spec.consume, group=spec.group, stream=spec.stream, publish=spec.publish,
                    concurrency=spec.concurrency, max_deliveries=spec.max_deliveries, ack_wait=float(spec.ack_wait),
                    label=spec.subject, log_fields=spec_fields(spec),
                    lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: nats
  name: orders
  url: nats://127.0.0.1:4222
  stream: ORDERS
  consume: orders.>
  group: portflow
  max_deliveries: 3
  ports:
    out:
      - name: line
        port: in
- kind: snippet
  name: line
  language: cel
  code: '["order %v on %s\\n", self.data, self.subject]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("nats", NatsSpec, compile_nats, description=inspect.cleandoc(NatsSpec.__doc__ or ""),
                    ports={"in": "messages to publish, {subject, data, headers} or data",
                           "out": "each message as {subject, data, headers, id}",
                           "error": "messages that failed max_deliveries times; publish failures"},
                    example=EXAMPLE, plugin="brokers")
