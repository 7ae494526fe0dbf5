"""The ``mqtt`` kind: MQTT 5 topics (QoS 0 and 1), shared subscriptions, persistent sessions.

Consuming (``consume``, a topic filter): each message leaves on ``out`` in its own process as ``{topic, data,
headers, id}``; ``headers`` are the message's user properties (and its ``Content-Type``), ``data`` is decoded
by the content type (else sniffed, as a WebSocket message is), ``id`` is the packet identifier (null at QoS 0).

- ``group``: the shared subscription ``$share/GROUP/<consume>``, so runtimes in one group split the messages.
- ``qos: 1`` (the default): a message is acknowledged (PUBACK) only after its process exits without error.
  MQTT has no negative acknowledgement: a failed process is retried here, up to ``max_deliveries`` in all,
  then it goes to ``error`` (or is logged when nothing handles it) and is acknowledged: never lost silently.
- ``concurrency`` bounds the processes in flight: it is the session's Receive Maximum (the broker should send
  no more unacknowledged messages) and the client reads no more while that many run (QoS 0 messages, which
  the broker does not count, and a broker that sends more anyway: Mosquitto 2.0.11 does, after acks).
- ``client_id``: a persistent session (clean start off, kept ``session_expiry`` after a disconnect). Only
  with it does the broker keep the QoS 1 messages published while the runtime is down or reloading, and
  redeliver those it had sent but that were not acknowledged (a runtime killed mid-stream loses nothing).
  Without it the session ends with the connection: such messages are not kept.

A lost connection is retried with backoff (1 s doubling to 16 s); meanwhile the node is "not connected".

Publishing (``in``): a payload ``{topic, data, headers}`` (or anything else, as ``data``) is published at
``qos`` to its ``topic`` or the spec's ``publish``, and answered with ``{topic, id}`` once the broker has it
(QoS 1: its PUBACK; QoS 0: once written).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import urllib.parse
import uuid
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...errors import FlowError
from ...logs import spec_fields
from ...scheme import Context, Scheme, spec_error
from ...spec import PositiveDuration, Spec
from ...store.base import mask_url
from .base import Broker

__all__ = ["MqttSpec", "MqttNode", "compile_mqtt", "register"]

log = logging.getLogger("portflow.brokers.mqtt")

SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}


class MqttSpec(Spec, kw_only=True):
    """Consumes an MQTT topic (QoS 0 or 1) into processes on ``out``; publishes what ``in`` receives."""

    url: Annotated[str, Meta(description="the broker, mqtt://[user:password@]host:port or mqtts:// "
                                         "(bind secrets from a value)")] = "mqtt://127.0.0.1:1883"
    consume: Annotated[str | None, Meta(description="the topic filter to consume (+ and # allowed); none: "
                                                    "publish only")] = None
    group: Annotated[str | None, Meta(description="consume as the shared subscription $share/GROUP/topic")] = None
    qos: Annotated[Literal[0, 1], Meta(description="quality of service to consume and publish at: 0 or 1")] = 1
    publish: Annotated[str | None, Meta(description="the topic a packet on in goes to when it names none")] = None
    client_id: Annotated[str | None, Meta(description="a persistent session: the broker keeps its messages "
                                                      "while disconnected (none: they are not kept)")] = None
    session_expiry: Annotated[PositiveDuration, Meta(description="with client_id: how long the broker keeps "
                                                                 "the session after a disconnect")] = \
        PositiveDuration(3600.0)
    concurrency: Annotated[int, Meta(ge=1, le=65535, description="processes in flight at most")] = 16
    max_deliveries: Annotated[int, Meta(ge=1, description="attempts of a failing message before error")] = 5


def parse_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """``(host, port, tls, username, password)`` of an ``mqtt://`` URL; ValueError when it is not one."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError("not an mqtt:// URL")
    default_port, tls = SCHEMES[parts.scheme]
    port = parts.port or default_port  # ValueError on a bad port
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port, tls, user, password


class MqttNode(Broker):
    """The live node: ``load()`` connects (paho's network thread) and subscribes, ``unload()`` drains.

    paho calls back on its own thread; a message is handed to the event loop with ``call_soon_threadsafe``
    and acknowledged from there (``Client.ack`` only queues the packet for the network thread)."""

    WHERE = "topic"

    def __init__(self, url: str, *, topic: str | None = None, group: str | None = None, qos: int = 1,
                 client_id: str | None = None, session_expiry: float = 3600.0, **broker: Any) -> None:
        super().__init__(url, **broker)
        self.topic = topic
        self.group = group
        self.qos = qos
        self.client_id = client_id
        self.session_expiry = session_expiry
        self.client: Any = None
        self.finished = 0  # messages whose processing ended (acknowledged, dead-lettered or left unacknowledged)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._subscribed = False  # the broker confirmed the subscription on this connection
        self._closing = False
        self._taking = False  # arriving messages start processes (off while unloading)
        self._handing: list[tuple[Any, tuple[int, int]]] = []  # taken on the network thread, no process yet
        self._waking = False  # a _received call is on its way to the loop
        self._idle = asyncio.Event()  # set when _received has taken them
        self._slots = threading.Semaphore(self.concurrency)
        self._epoch = 0  # a new session (not resumed) begins a new epoch: older packet ids mean nothing
        self._busy: set[tuple[int, int]] = set()  # (epoch, mid) of the QoS 1 messages whose process runs
        self._unacked: set[tuple[int, int]] = set()  # done, but acknowledged while disconnected
        self._first: asyncio.Future[str | None] | None = None  # the first connection's outcome
        self._unsubscribed: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] | None = None  # our DISCONNECT was written
        self._lock = threading.Lock()
        self._published: dict[int, asyncio.Future[Any]] = {}  # mid -> answered by on_publish
        self._early: dict[int, Any] = {}  # on_publish came before publish() returned its mid

    @property
    def filter(self) -> str | None:
        if self.topic is None:
            return None
        return f"$share/{self.group}/{self.topic}" if self.group else self.topic

    # -- called on paho's network thread -----------------------------------------------------------
    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: Any, _: Any, flags: Any, reason: Any, __: Any) -> None:
        if reason.is_failure:
            self._call(self._outcome, f"refused: {reason}")
            return
        if not flags.session_present:
            self._epoch += 1
            self._unacked.clear()
        self._connected = True
        if self.filter is not None and self._taking:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            client.subscribe(self.filter, options=SubscribeOptions(qos=self.qos, retainHandling=1))
        else:
            self._subscribed = True
        self._call(self._outcome, None)

    def _on_connect_fail(self, _: Any, __: Any) -> None:
        self._call(self._outcome, "unreachable")

    def _on_disconnect(self, _: Any, __: Any, ___: Any, reason: Any, ____: Any) -> None:
        was, self._connected = self._connected, False
        self._subscribed = False
        if self._closing:
            self._call(self._settle, self._gone, None)
        elif was:
            self._call(log.warning, "%s: disconnected from %s (%s; reconnecting)", self.label,
                       mask_url(self.url), reason)

    def _on_subscribe(self, _: Any, __: Any, ___: Any, reasons: Any, ____: Any) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            self._call(log.error, "%s: the broker refused the subscription to %s: %s", self.label, self.filter,
                       ", ".join(failed))
        else:
            self._subscribed = True

    def _on_unsubscribe(self, *_: Any) -> None:
        self._call(self._settle, self._unsubscribed, None)

    def _on_publish(self, _: Any, __: Any, mid: int, reason: Any, ___: Any) -> None:
        with self._lock:
            fut = self._published.pop(mid, None)
            if fut is None:
                self._early[mid] = reason
                return
        self._call(self._settle, fut, reason)

    def _on_message(self, client: Any, _: Any, msg: Any) -> None:
        if not self._taking:
            return  # unloading: not acknowledged, so a persistent session gets it again
        key = (self._epoch, msg.mid)
        if msg.qos:
            if key in self._busy:
                return  # resent after a reconnect while its process runs: that one acknowledges it
            if msg.dup and key in self._unacked:
                self._unacked.discard(key)  # processed; its acknowledgement was lost with the connection
                client.ack(msg.mid, msg.qos)
                return
        while not self._slots.acquire(timeout=0.2):  # back-pressure: read no more while the flow is full
            if not self._taking:
                return
        with self._lock:  # unload stops taking under this lock, then waits for the messages handed over
            if not self._taking:
                self._slots.release()
                return
            if msg.qos:
                self._busy.add(key)
            self._handing.append((msg, key))
            wake, self._waking = not self._waking, True
        if wake:  # one wake-up of the loop for the messages that arrive before it runs
            self._call(self._received)

    # -- on the event loop -------------------------------------------------------------------------
    def _outcome(self, problem: str | None) -> None:
        first = self._first is not None and not self._first.done()
        if problem is None:
            log.info("%s: connected to %s", self.label, mask_url(self.url), extra=self.log_fields)
        elif not first and problem.startswith("refused"):  # a reconnection: paho goes on trying
            log.warning("%s: %s %s; retrying", self.label, mask_url(self.url), self.hidden(problem), extra=self.log_fields)
        self._settle(self._first, problem)

    @staticmethod
    def _settle(fut: asyncio.Future[Any] | None, value: Any) -> None:
        if fut is not None and not fut.done():
            fut.set_result(value)

    def _received(self) -> None:
        with self._lock:
            taken, self._handing, self._waking = self._handing, [], False
        for msg, key in taken:
            self.spawn(self._one(msg, key))
        self._idle.set()

    async def _stop_taking(self) -> None:
        """Start no more processes; return once every message already taken has its process (so that
        ``drain`` waits for it)."""
        with self._lock:
            self._taking = False
            handing = self._waking
        if handing:  # their _received call is on its way to the loop
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=2.0)

    async def _one(self, msg: Any, key: tuple[int, int]) -> None:
        try:
            props = getattr(msg, "properties", None)
            headers = dict(getattr(props, "UserProperty", None) or [])
            content_type = getattr(props, "ContentType", None)
            if content_type:
                headers["Content-Type"] = content_type
            payload = self.message(msg.topic, msg.payload, headers, msg.mid if msg.qos else None)
            for delivery in range(1, self.max_deliveries + 1):
                error = await self.fire(payload, to_error=False)
                if error is None:
                    break
                if delivery == self.max_deliveries:
                    await self.dead_letter(payload, error, delivery)
            if msg.qos and key[0] == self._epoch and self.client is not None:
                if not self._connected:
                    self._unacked.add(key)
                self.client.ack(msg.mid, msg.qos)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: a persistent session gets it again
            log.warning("%s: cannot acknowledge a message: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)
        finally:
            self.finished += 1
            self._busy.discard(key)
            self._slots.release()

    # -- lifecycle ---------------------------------------------------------------------------------
    async def load(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._taking = self.topic is not None
        self._slots = threading.Semaphore(self.concurrency)
        host, port, tls, user, password = parse_url(self.url)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id or "",
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if user is not None:
            client.username_pw_set(user, password)
        if tls:
            client.tls_set()
        client.reconnect_delay_set(1, 16)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = self.concurrency
        if self.client_id:
            props.SessionExpiryInterval = int(self.session_expiry)
        self._first = self._loop.create_future()
        self.client = client
        try:
            client.connect_async(host, port, keepalive=30, clean_start=not self.client_id, properties=props)
        except Exception as exc:  # noqa: BLE001 - one line, credentials hidden
            raise FlowError(f"{self.label}: cannot connect to {mask_url(self.url)}: "
                            f"{self.hidden(str(exc) or type(exc).__name__)}") from None
        client.loop_start()
        try:
            problem = await asyncio.wait_for(asyncio.shield(self._first), timeout=5.0)
        except TimeoutError:
            problem = "no answer"
        if problem is not None and problem.startswith("refused"):
            await self._stop_client()
            raise FlowError(f"{self.label}: {mask_url(self.url)} {self.hidden(problem)}")
        if problem is not None:  # paho goes on trying; readiness says "not connected" meanwhile
            log.warning("%s: cannot connect to %s yet (%s); retrying", self.label, mask_url(self.url), problem, extra=self.log_fields)

    async def unload(self) -> None:
        """Take no more messages, let the processes in flight finish (they acknowledge), then disconnect.

        With a persistent session the subscription stays and what arrives meanwhile is left unacknowledged
        (the session's next connection gets it); without one the topic is unsubscribed first and what the
        broker sent until then is processed."""
        client = self.client
        if client is None:
            return
        if self._taking and not self.client_id and self._connected and self.filter is not None:
            assert self._loop is not None
            self._unsubscribed = self._loop.create_future()
            client.unsubscribe(self.filter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unsubscribed, timeout=2.0)
        await self._stop_taking()
        await self.drain()
        await self._stop_client()

    async def _stop_client(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        self._closing = True
        self._taking = False
        if self._connected:
            assert self._loop is not None
            # A round trip after the last acknowledgements: the broker handles a client's packets in order,
            # so once it answers it has them. paho may close its socket with unread messages in it (a
            # reset), and a reset can lose what the broker had not read yet.
            self._unsubscribed = self._loop.create_future()
            client.unsubscribe(f"portflow/barrier/{uuid.uuid4().hex}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unsubscribed, timeout=2.0)
            self._gone = self._loop.create_future()
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone, timeout=3.0)
        else:
            client.disconnect()  # stops paho's reconnecting
        await asyncio.to_thread(client.loop_stop)
        self._connected = False
        with self._lock:
            pending, self._published = self._published, {}
            self._early.clear()
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("disconnected before the broker confirmed"))

    async def close(self) -> None:
        if self.client is not None:
            await self.unload()

    # -- publishing -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.client is not None and self._connected

    def not_ready(self) -> str | None:
        if not self.connected:
            return f"not connected to {mask_url(self.url)}"
        return None if self._subscribed else f"not subscribed to {self.filter} yet"

    async def deliver(self, where: str, raw: bytes, headers: dict[str, str]) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        assert self._loop is not None
        props = Properties(PacketTypes.PUBLISH)
        content_type = headers.pop("Content-Type", None)
        if content_type:
            props.ContentType = content_type
        if headers:
            props.UserProperty = list(headers.items())
        fut: asyncio.Future[Any] = self._loop.create_future()
        info = self.client.publish(where, raw, qos=self.qos, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(mqtt.error_string(info.rc))
        with self._lock:
            if info.mid in self._early:
                fut.set_result(self._early.pop(info.mid))
            else:
                self._published[info.mid] = fut
        reason = await fut
        if reason is not None and getattr(reason, "is_failure", False):
            raise ConnectionError(f"the broker refused it: {reason}")
        return {"topic": where, "id": info.mid if self.qos else None}


def compile_mqtt(spec: MqttSpec, context: Context) -> MqttNode:
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        raise spec_error(spec, "", "the mqtt kind needs its client: pip install 'portflow[mqtt]'") from None
    try:
        parse_url(spec.url)
    except ValueError:
        raise spec_error(spec, "url", f"{mask_url(spec.url)!r} is not an mqtt:// URL") from None
    if spec.consume is not None:
        if not spec.consume or spec.consume.startswith("$share/"):
            raise spec_error(spec, "consume", "a topic filter, without $share/ (set group for a shared subscription)")
        if spec.group is not None and (not spec.group or any(c in spec.group for c in "/+#")):
            raise spec_error(spec, "group", f"{spec.group!r}: a share name has no '/', '+' or '#'")
    if spec.publish is not None and (not spec.publish or any(c in spec.publish for c in "+#")):
        raise spec_error(spec, "publish", f"{spec.publish!r}: a topic to publish to has no wildcards")
    return MqttNode(spec.url, topic=spec.consume, group=spec.group, qos=spec.qos, client_id=spec.client_id,
                    session_expiry=float(spec.session_expiry), publish=spec.publish, concurrency=spec.concurrency,
                    max_deliveries=spec.max_deliveries, label=spec.subject, log_fields=spec_fields(spec),
                    lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: mqtt
  name: sensors
  url: mqtt://127.0.0.1:1883
  consume: sensors/+/temperature
  group: portflow
  client_id: portflow-sensors
  max_deliveries: 3
  ports:
    out:
      - name: line
        port: in
- kind: snippet
  name: line
  language: cel
  code: '["%s: %v\\n", self.topic, self.data]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("mqtt", MqttSpec, compile_mqtt, description=inspect.cleandoc(MqttSpec.__doc__ or ""),
                    ports={"in": "messages to publish, {topic, data, headers} or data",
                           "out": "each message as {topic, data, headers, id}",
                           "error": "messages that failed max_deliveries times; publish failures"},
                    example=EXAMPLE, plugin="brokers")
