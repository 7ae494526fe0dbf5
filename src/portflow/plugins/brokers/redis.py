"""The ``redis`` kind: Redis streams read through a consumer group, and Redis pub/sub.

Streams (``mode: stream``, the default; ``stream`` names the stream to consume): the runtime reads it as the
consumer ``consumer`` (host and pid by default) of the group ``group``, which is made when missing and then
starts at ``start`` (``all`` the stream, or only the entries added from then on). Each entry leaves on ``out``
in its own process as ``{stream, data, headers, id}``: the entry's ``data`` field is the body, decoded by its
``Content-Type`` field (else sniffed, as a WebSocket message is); its other fields are the headers (an entry
without a ``data`` field has its fields as data). An entry is acknowledged (XACK) only after its process exits
without error; a failure is claimed back and run again, and the delivery numbered ``max_deliveries`` that
fails goes to ``error`` (or is logged when nothing handles it) and is acknowledged: never lost silently. An
entry left pending longer than ``claim_idle`` — its consumer was killed, or its process is that slow — is
claimed by a consumer of the group that has room (XAUTOCLAIM): at least once. ``concurrency`` bounds the
processes in flight: no more entries are read while that many run. The runtimes of one group split the
entries; a consumer of the group that holds nothing and was idle ten times ``claim_idle`` (a runtime that
died: the default name is new with each process) is removed from the group.

Pub/sub (``mode: pubsub``, ``channel`` or ``pattern`` to consume): each message leaves on ``out`` as
``{channel, data, headers, id}`` (headers empty, id null). Pub/sub keeps nothing and has no acknowledgement:
a message published while no runtime listens, or while the connection is down, is lost (at most once); a
failed process is logged (and sent to ``error``). Every subscribed runtime gets every message.

Publishing (``in``): a payload ``{stream|channel, data, headers}`` (or anything else, as ``data``) goes to its
``stream``/``channel`` or the spec's ``publish``: XADD with the headers as fields, answered with the entry's
id; or PUBLISH (pub/sub carries no headers), answered with the number of subscribers that received it.

A lost connection is retried with a growing pause (up to 5 s); meanwhile readiness says "not connected".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...errors import FlowError
from ...lifetime import TaskStatus
from ...logs import spec_fields
from ...scheme import Context, Scheme, spec_error
from ...spec import PositiveDuration, Spec
from ...store.base import mask_url
from .base import Broker, decode

__all__ = ["RedisSpec", "RedisNode", "compile_redis", "register"]

log = logging.getLogger("portflow.brokers.redis")

BLOCK_MS = 1000  # how long one read waits for entries: unload waits at most this for a read under way
MAX_PAUSE = 5.0  # the longest pause between attempts to reach a server that went away
ACK_DELAY = 0.05  # how long a finished entry's XACK may wait to go with the next read


class RedisSpec(Spec, kw_only=True):
    """Consumes a Redis stream (consumer group) or pub/sub channel into processes on ``out``; publishes what
    ``in`` receives.

    Stream mode: an entry is acknowledged only after its process exits without error; a failure is run again,
    up to ``max_deliveries`` times, then goes to ``error`` (or is logged and dropped). An entry pending longer
    than ``claim_idle`` (its runtime died) is claimed by another consumer of the group: at least once. The
    entry's ``data`` field is the body, its other fields the headers.

    Pub/sub mode is at most once: nothing is acknowledged or kept, a message sent while no runtime listens
    (or while the connection is down) is lost, and every subscribed runtime gets every message.
    """

    url: Annotated[str, Meta(description="the server, redis://[user:password@]host:port[/db], rediss:// or "
                                         "unix:// (bind secrets from a value)")] = "redis://127.0.0.1:6379"
    mode: Annotated[Literal["stream", "pubsub"], Meta(description="streams with a consumer group (acknowledged), "
                                                                  "or pub/sub (at most once)")] = "stream"
    stream: Annotated[str | None, Meta(description="stream mode: the stream to consume; none: publish only")] = None
    group: Annotated[str, Meta(description="stream mode: the consumer group (runtimes in one group split entries)")] = \
        "portflow"
    consumer: Annotated[str | None, Meta(description="stream mode: this runtime's name in the group "
                                                     "(default host-pid; keep it stable to resume its entries)")] = None
    start: Annotated[Literal["all", "new"], Meta(description="stream mode: where a new group starts: the whole "
                                                             "stream, or entries added from then on")] = "all"
    channel: Annotated[str | None, Meta(description="pubsub mode: the channel to consume")] = None
    pattern: Annotated[str | None, Meta(description="pubsub mode: the channel pattern to consume (PSUBSCRIBE)")] = None
    publish: Annotated[str | None, Meta(description="the stream (or channel) a packet on in goes to when it names none")] = \
        None
    maxlen: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(description="stream mode: publishing trims the "
                                                                         "stream to about this many entries "
                                                                         "(XADD MAXLEN ~)")] = None
    concurrency: Annotated[int, Meta(ge=1, description="processes in flight at most")] = 16
    max_deliveries: Annotated[int, Meta(ge=1, description="stream mode: deliveries of a failing entry before error")] = 5
    claim_idle: Annotated[PositiveDuration, Meta(description="stream mode: how long an entry may stay pending "
                                                             "before another consumer claims it")] = \
        PositiveDuration(30.0)


#: KEYS[1] stream; ARGV group, this consumer, idle ms: delete the other consumers with nothing pending, idle longer.
_TIDY = """
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and f['pending'] == 0 and f['idle'] > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
"""


def _transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the server being out of reach (retried), not a refusal (credentials)."""
    import redis.exceptions

    if isinstance(exc, (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)):
        return False
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError))


def _text(raw: Any) -> str:
    return raw.decode(errors="replace") if isinstance(raw, (bytes, bytearray)) else str(raw)


class _Pause:
    """A growing pause between attempts: 0.1 s doubling up to ``MAX_PAUSE``; ``reset()`` after a success."""

    def __init__(self) -> None:
        self.seconds = 0.1

    async def wait(self) -> None:
        await asyncio.sleep(self.seconds)
        self.seconds = min(self.seconds * 2, MAX_PAUSE)

    def reset(self) -> None:
        self.seconds = 0.1


class RedisNode(Broker):
    """The live node: ``load()`` connects (and makes the group), consumes; ``unload()`` stops reading, lets the
    processes in flight finish and acknowledges them, then closes."""

    def __init__(self, url: str, *, mode: str = "stream", stream: str | None = None, group: str = "portflow",
                 consumer: str | None = None, start: str = "all", channel: str | None = None,
                 pattern: str | None = None, claim_idle: float = 30.0, maxlen: int | None = None,
                 **broker: Any) -> None:
        super().__init__(url, **broker)
        self.mode = mode
        self.WHERE = "channel" if mode == "pubsub" else "stream"
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.start = start
        self.channel = channel
        self.pattern = pattern
        self.claim_idle = claim_idle
        self.maxlen = maxlen
        self.client: Any = None
        self._up = False  # the last command reached the server
        self._stopping = False
        self._held: set[bytes] = set()  # entries whose process runs or whose XACK is not confirmed yet
        self._room = asyncio.Event()  # set when an entry leaves _held
        self._acks: list[bytes] = []  # entries to acknowledge in the next XACK
        self._acker: asyncio.Task[Any] | None = None
        self._work: asyncio.Queue[tuple[bytes, Any, int] | None] | None = None  # entries for the workers

    # -- connection -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.client is not None and self._up

    def _lost(self, exc: BaseException, doing: str) -> None:
        if self._up:
            log.warning("%s: %s: lost %s (retrying): %s", self.label, doing, mask_url(self.url),
                        self.hidden(str(exc) or type(exc).__name__), extra=self.log_fields)
        self._up = False

    def _found(self) -> None:
        if not self._up:
            log.info("%s: connected to %s", self.label, mask_url(self.url), extra=self.log_fields)
        self._up = True

    async def load(self) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._stopping = False
        # A node loaded again starts afresh: what an earlier load left unacknowledged is pending in Redis, read
        # back from this consumer's history below.
        self._held, self._acks, self._work, self._room = set(), [], None, asyncio.Event()
        self.consumer = self.consumer or f"{socket.gethostname()}-{os.getpid()}"
        # No retries inside the client: a failed command comes back here, which pauses and says "not connected".
        self.client = aioredis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5,
                                              socket_timeout=BLOCK_MS / 1000 + 10, socket_keepalive=True)
        try:
            await self.client.ping()
            if self.stream:
                await self._make_group()
            self._up = True
        except Exception as exc:  # noqa: BLE001 - one line, credentials hidden
            text = self.hidden(str(exc) or type(exc).__name__)
            if not _transient(exc):  # refused (credentials, a key that is no stream): the spec stays inactive
                await self._close_client()
                # the table's line names the spec: "spec 'x' (kind redis): load failed: url: cannot use ..."
                raise FlowError(f"url: cannot use {mask_url(self.url)}: {text}") from None
            # Not there yet: the loop below retries (and makes the group once it is).
            log.warning("%s: url: cannot reach %s (retrying): %s", self.label, mask_url(self.url), text, extra=self.log_fields)
        if self.stream:
            await self.run(self._consume_stream)
        elif self.channel or self.pattern:
            await self.run(self._consume_pubsub)
        else:
            await self.run(self._watch)

    async def _make_group(self) -> None:
        import redis.exceptions

        try:
            await self.client.xgroup_create(self.stream, self.group, "0" if self.start == "all" else "$",
                                            mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def unload(self) -> None:
        """Read no more, let a read under way run out (it returns within a second), wait for the processes in
        flight and their acknowledgements, then close. An entry still unacknowledged stays pending: this
        consumer resumes it when it loads again, another claims it after ``claim_idle``."""
        self._stopping = True
        self._room.set()
        job, self._job = self._job, None
        if job is not None:
            with contextlib.suppress(Exception):  # still reading after that: cancelled below
                await asyncio.wait_for(asyncio.shield(job.task), timeout=BLOCK_MS / 1000 + 1)
            await job.stop()
        if self._work is not None:  # each worker ends after the entries queued before its None
            for _ in range(self.concurrency):
                self._work.put_nowait(None)
        await self.drain()
        acker = self._acker
        if acker is not None and not acker.done():
            acker.cancel()
        if self._acks and self.client is not None:
            with contextlib.suppress(Exception):  # the server is gone: those entries stay pending
                await asyncio.wait_for(self._send_acks(), timeout=2.0)
        await self._close_client()

    async def _close_client(self) -> None:
        client, self.client = self.client, None
        self._up = False
        if client is not None:
            try:
                await client.aclose()
            except Exception as exc:  # noqa: BLE001 - closing: log and go on
                log.warning("%s: closing the connection: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)

    async def close(self) -> None:
        if self.client is not None:
            await self.unload()

    async def _watch(self, status: TaskStatus[Any]) -> None:
        """Publish only: ping once a second so that readiness follows the connection."""
        import redis.exceptions

        status.started()
        pause = _Pause()
        while not self._stopping:
            try:
                await self.client.ping()
                self._found()
                pause.reset()
                await asyncio.sleep(1.0)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._lost(exc, "ping")
                await pause.wait()

    # -- streams ----------------------------------------------------------------------------------
    async def _consume_stream(self, status: TaskStatus[Any]) -> None:
        import redis.exceptions

        # ``concurrency`` workers run the entries, one process each: cheaper than a task per entry.
        work = self._work = asyncio.Queue()
        for _ in range(self.concurrency):
            self.spawn(self._worker(work))
        status.started()
        pause = _Pause()
        loop = asyncio.get_running_loop()
        history: bytes | None = b"0"  # first this consumer's own pending entries (a previous load's), page by page
        cursor = b"0-0"  # where the next XAUTOCLAIM scan goes on
        next_claim = 0.0
        every = min(max(self.claim_idle / 2, 0.05), 5.0)
        next_tidy = loop.time() + self._tidy_after
        while not self._stopping:
            # Entries whose process ended count as free: their XACK goes first in the read's pipeline.
            while len(self._held) - len(self._acks) >= self.concurrency and not self._stopping:
                self._room.clear()
                await self._room.wait()
            if self._stopping:
                break
            acks, self._acks = self._acks, []
            free = self.concurrency - len(self._held) + len(acks)
            try:
                if history is not None:
                    entries = await self._read(acks, history, free, None)
                    history = entries[-1][0] if entries else None
                    fresh = False
                elif loop.time() >= next_claim:
                    cursor, entries = await self._claim(acks, cursor, free)
                    if cursor == b"0-0":
                        next_claim = loop.time() + every
                        if loop.time() >= next_tidy:
                            next_tidy = loop.time() + self._tidy_after
                            await self._tidy()
                    fresh = False
                else:
                    entries = await self._read(acks, b">", free, BLOCK_MS)
                    fresh = True
                self._release(acks)
                self._found()
                pause.reset()
            except asyncio.CancelledError:
                self._acks[:0] = acks  # unload sends them
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._acks[:0] = acks  # sent again with the next read
                self._lost(exc, "read")
                await pause.wait()
                continue
            except redis.exceptions.ResponseError as exc:
                self._acks[:0] = acks
                if "NOGROUP" in str(exc):  # the stream or group was deleted: made again
                    with contextlib.suppress(Exception):
                        await self._make_group()
                else:
                    log.warning("%s: reading %s failed (retrying): %s", self.label, self.stream, exc, extra=self.log_fields)
                await pause.wait()
                continue
            if not entries:
                continue
            deliveries = {} if fresh else await self._deliveries(entries)
            for ident, fields in entries:
                if ident in self._held:  # still running here: claimed back, not run twice
                    continue
                self._held.add(ident)
                work.put_nowait((ident, fields, deliveries.get(ident, 1)))

    async def _worker(self, work: asyncio.Queue[tuple[bytes, Any, int] | None]) -> None:
        while (item := await work.get()) is not None:
            await self._one(*item)

    @property
    def _tidy_after(self) -> float:
        return max(10 * self.claim_idle, 1.0)

    async def _tidy(self) -> None:
        """Remove the group's consumers that hold nothing and were idle ``_tidy_after`` (runtimes that died or
        stopped: a new pid is a new consumer). One script, so no entry can become pending to one in between;
        a live consumer removed is made again by its next read."""
        try:
            removed = await self.client.eval(_TIDY, 1, self.stream, self.group, self.consumer,
                                             int(self._tidy_after * 1000))
        except Exception as exc:  # noqa: BLE001 - tidying is best effort
            log.info("%s: cannot remove idle consumers: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)
            return
        if removed:
            log.info("%s: removed %d idle consumer(s) of group %s", self.label, removed, self.group, extra=self.log_fields)

    async def _with_acks(self, acks: list[bytes], command: str, *args: Any, **kwargs: Any) -> Any:
        """``command``'s reply, sent in one pipeline after the XACK of ``acks`` (one round trip for both)."""
        if not acks:
            return await getattr(self.client, command)(*args, **kwargs)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xack(self.stream, self.group, *acks)
            getattr(pipe, command)(*args, **kwargs)
            return (await pipe.execute())[-1]

    async def _read(self, acks: list[bytes], start: bytes, count: int, block: int | None) -> list[tuple[bytes, Any]]:
        reply = await self._with_acks(acks, "xreadgroup", self.group, self.consumer, {self.stream: start},
                                      count=count, block=block)
        return [(i, f) for _, entries in reply or () for i, f in entries if f is not None]

    async def _claim(self, acks: list[bytes], cursor: bytes, count: int) -> tuple[bytes, list[tuple[bytes, Any]]]:
        reply = await self._with_acks(acks, "xautoclaim", self.stream, self.group, self.consumer,
                                      int(self.claim_idle * 1000), cursor, count=count)
        return reply[0], [(i, f) for i, f in reply[1] if f is not None]

    async def _deliveries(self, entries: list[tuple[bytes, Any]]) -> dict[bytes, int]:
        """How many times each of ``entries`` (read from history or claimed: now this consumer's) was delivered."""
        ids = [i for i, _ in entries]
        try:
            rows = await self.client.xpending_range(self.stream, self.group, min(ids), max(ids),
                                                    len(ids) + len(self._held), consumername=self.consumer)
        except Exception as exc:  # noqa: BLE001 - counted as first deliveries; the next failure counts again
            log.warning("%s: cannot read delivery counts: %s", self.label, self.hidden(str(exc)), extra=self.log_fields)
            return {}
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}

    def _payload(self, ident: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
        if len(fields) == 1 and b"data" in fields:  # the common entry: a body, no headers
            return {self.WHERE: self.stream, "data": decode(fields[b"data"], None), "headers": {}, "id": ident.decode()}
        headers = {_text(k): _text(v) for k, v in fields.items() if k != b"data"}
        if b"data" not in fields:  # an entry some other program wrote: its fields are the data
            return {self.WHERE: self.stream, "data": headers, "headers": {}, "id": _text(ident)}
        return self.message(self.stream or "", fields[b"data"], headers, _text(ident))

    async def _one(self, ident: bytes, fields: dict[bytes, bytes], delivery: int) -> None:
        """Run one entry until it succeeds, is dead-lettered at ``max_deliveries``, or cannot be claimed back;
        then acknowledge it (or leave it pending)."""
        done = False
        try:
            while True:
                payload = self._payload(ident, fields)
                if delivery > self.max_deliveries:  # delivered that often before, to consumers that died with it
                    await self.dead_letter(payload, FlowError("its earlier consumers stopped while running it"),
                                           delivery - 1)
                    break
                error = await self.fire(payload, to_error=False)
                if error is None:
                    break
                if delivery >= self.max_deliveries:
                    await self.dead_letter(payload, error, delivery)
                    break
                claimed = await self.client.xclaim(self.stream, self.group, self.consumer, 0, [ident])
                if not claimed or claimed[0][1] is None:
                    log.warning("%s: entry %s is gone from %s; not retried", self.label, _text(ident), self.stream, extra=self.log_fields)
                    return
                fields, delivery = claimed[0][1], delivery + 1
            done = True
        except Exception as exc:  # noqa: BLE001 - not acknowledged: claimed again after claim_idle
            log.warning("%s: entry %s left pending (it will be claimed again): %s", self.label, _text(ident),
                        self.hidden(str(exc) or type(exc).__name__), extra=self.log_fields)
        finally:
            if done:
                self._ack(ident)
            else:
                self._release([ident])

    def _ack(self, ident: bytes) -> None:
        """Queue ``ident``'s XACK. The consume loop sends the queued ones in its next read's pipeline; those
        still queued ``ACK_DELAY`` later (the loop waits in a read: the stream is quiet) a task sends."""
        self._acks.append(ident)
        self._room.set()
        if self._acker is None or self._acker.done():
            self._acker = asyncio.get_running_loop().create_task(self._send_acks(ACK_DELAY))

    def _release(self, ids: list[bytes]) -> None:
        self._held.difference_update(ids)
        self._room.set()

    async def _send_acks(self, delay: float = 0.0) -> None:
        import redis.exceptions

        if delay:
            await asyncio.sleep(delay)
        pause = _Pause()
        while self._acks:
            ids, self._acks = self._acks, []
            try:
                await self.client.xack(self.stream, self.group, *ids)
            except asyncio.CancelledError:
                self._acks[:0] = ids  # unload sends them (XACK twice is harmless)
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._lost(exc, "acknowledge")
                self._acks[:0] = ids  # sent again once the server is back (the entries stay held till then)
                if self.client is None:
                    return
                await pause.wait()
                continue
            except Exception as exc:  # noqa: BLE001 - left pending: claimed again after claim_idle
                log.warning("%s: cannot acknowledge %d entries (they will be claimed again): %s", self.label,
                            len(ids), self.hidden(str(exc)), extra=self.log_fields)
            self._release(ids)

    # -- pub/sub ----------------------------------------------------------------------------------
    async def _consume_pubsub(self, status: TaskStatus[Any]) -> None:
        import redis.exceptions

        slots = asyncio.Semaphore(self.concurrency)
        pause = _Pause()
        started = False
        while not self._stopping:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                if self.pattern:
                    await pubsub.psubscribe(self.pattern)
                else:
                    await pubsub.subscribe(self.channel)
                self._found()
                pause.reset()
                if not started:
                    status.started()
                    started = True
                while not self._stopping:
                    await slots.acquire()  # no more reads while concurrency processes run
                    try:
                        msg = await pubsub.get_message(timeout=BLOCK_MS / 1000)
                    except BaseException:
                        slots.release()
                        raise
                    if msg is None or msg.get("type") not in ("message", "pmessage"):
                        slots.release()
                        continue
                    self.spawn(self._one_pubsub(msg, slots))
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
                self._lost(exc, "subscribe")
                if not started:
                    status.started()
                    started = True
                await pause.wait()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _one_pubsub(self, msg: dict[str, Any], slots: asyncio.Semaphore) -> None:
        try:
            await self.fire(self.message(_text(msg["channel"]), msg["data"], None, None))
        finally:
            slots.release()

    # -- publishing -------------------------------------------------------------------------------
    async def deliver(self, where: str, raw: bytes, headers: dict[str, str]) -> Any:
        if self.mode == "pubsub":
            return int(await self.client.publish(where, raw))
        fields: dict[str, Any] = {**headers, "data": raw}
        return _text(await self.client.xadd(where, fields, maxlen=self.maxlen, approximate=True))


def compile_redis(spec: RedisSpec, context: Context) -> RedisNode:
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise spec_error(spec, "", "the redis kind needs its client: pip install 'portflow[redis]'") from None
    if not spec.url.startswith(("redis://", "rediss://", "unix://")):
        raise spec_error(spec, "url", f"{mask_url(spec.url)!r} is not a redis://, rediss:// or unix:// URL")
    if spec.mode == "pubsub":
        if spec.stream:
            raise spec_error(spec, "stream", "a stream is consumed in mode stream; pubsub consumes channel or pattern")
        if spec.maxlen is not None:
            raise spec_error(spec, "maxlen", "pub/sub keeps no messages to trim (maxlen is for mode stream)")
        if spec.channel and spec.pattern:
            raise spec_error(spec, "pattern", "give channel or pattern, not both")
    elif spec.channel or spec.pattern:
        field = "channel" if spec.channel else "pattern"
        raise spec_error(spec, field, "channels are consumed in mode pubsub (set mode: pubsub)")
    return RedisNode(spec.url, mode=spec.mode, stream=spec.stream, group=spec.group, consumer=spec.consumer,
                     start=spec.start, channel=spec.channel, pattern=spec.pattern, publish=spec.publish,
                     concurrency=spec.concurrency, max_deliveries=spec.max_deliveries,
                     claim_idle=float(spec.claim_idle), maxlen=spec.maxlen, label=spec.subject, log_fields=spec_fields(spec),
                     lifetime=context.lifetime, grace=context.settings.grace)


EXAMPLE = """\
- kind: redis
  name: jobs
  url: redis://127.0.0.1:6379
  stream: jobs
  group: workers
  max_deliveries: 3
  ports:
    out:
      - name: show
        port: in
- kind: snippet
  name: show
  language: cel
  code: '["job %s: %v\\n", self.id, self.data]'
  ports:
    out:
      - name: log
        port: in
- kind: print
  name: log
"""


def register(scheme: Scheme) -> None:
    scheme.register("redis", RedisSpec, compile_redis, description=inspect.cleandoc(RedisSpec.__doc__ or ""),
                    ports={"in": "messages to publish, {stream|channel, data, headers} or data",
                           "out": "each entry or message as {stream|channel, data, headers, id}",
                           "error": "entries that failed max_deliveries times; publish failures"},
                    example=EXAMPLE, plugin="brokers")
