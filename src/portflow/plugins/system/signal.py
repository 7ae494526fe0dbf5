"""signal: the store's change events as packets (reference §12).

A source node. When it loads it starts watching one collection (``topic``: ``specs`` or ``values``) of
the runtime's store, and for every change sends ``{op, id, namespace, name}`` (``op`` is ``insert``,
``update`` or ``delete``; ``name`` is left out when the document has none) on ``out``, each in a fresh
process, one at a time and in the store's order: the next event waits until the flow has answered the
previous one. An error the flow answers is offered to ``error``, and logged when nothing handles it.
Unloading stops the watch; events that happen while the node is not loaded are not replayed.

``filter`` narrows the events to documents whose ``id``, ``namespace`` or ``name`` equal the given
value (a list means any of them), e.g. ``filter: {namespace: default}``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from msgspec import Meta

from ...errors import FlowError
from ...lifetime import Job, Lifetime, TaskStatus
from ...node import Node
from ...packet import Packet
from ...port import ERROR, OUT, OutPort
from ...process import Process
from ...scheme import Context, Scheme
from ...spec import Spec
from ...store import check_filter
from .syscall import deprecated_secrets, store_of

__all__ = ["SignalSpec", "Signal", "compile_signal", "register", "event_payload"]

log = logging.getLogger("portflow.system.signal")


class SignalSpec(Spec, kw_only=True):
    """Watches the store's ``specs`` or ``values`` from the moment it loads and sends each change,
    ``{op, id, namespace, name}``, on ``out`` in a fresh process, in order. ``filter`` narrows the
    events by ``id``, ``namespace`` or ``name``."""

    topic: Annotated[Literal["specs", "values", "secrets"],
                     Meta(description="the store collection to watch (secrets: uniflow v0.12's name of values)")]
    filter: Annotated[dict[str, Any], Meta(description="only documents whose id, namespace or name equal these "
                                                       "(a list: any of them)")] = {}


def event_payload(event: Any) -> dict[str, Any]:
    """A store ``Event`` as the map a signal sends: ``{op, id, namespace, name}`` (no name when absent)."""
    payload = {"op": event.op, "id": event.id, "namespace": event.namespace}
    if event.name is not None:
        payload["name"] = event.name
    return payload


class Signal(Node):
    """The live signal: built from a store collection (``store.specs`` or ``store.values``) and a filter."""

    OUTPORTS = {OUT: "out_port", ERROR: "error_port"}

    def __init__(self, collection: Any, filter: dict[str, Any] | None = None, *, label: str = "signal",
                 lifetime: Lifetime | None = None) -> None:
        self.collection = collection
        self.filter = dict(filter or {})
        self.label = label
        #: Where the watching task runs: the runtime's (its failure marks this node's symbol failed).
        self.lifetime = lifetime if lifetime is not None else Lifetime()
        self.out_port = OutPort(OUT, self)
        self.error_port = OutPort(ERROR, self)
        self._job: Job[None] | None = None

    async def load(self) -> None:
        if self._job is not None and not self._job.done:
            return
        self._job = await self.lifetime.spawn(self._run, name=f"portflow-signal {self.label}", owner=self)

    async def unload(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            await job.stop()

    async def close(self) -> None:
        await self.unload()

    async def _run(self, status: TaskStatus[None]) -> None:
        # Watching starts before load() returns: every change committed after that is delivered.
        watch = self.collection.watch(self.filter)
        status.started()
        async with watch:
            async for event in watch:
                await self.emit(event_payload(event))

    async def emit(self, payload: dict[str, Any]) -> Packet:
        """Send one event in a fresh process and wait until the flow has answered and the process ended."""
        proc = Process()
        error: BaseException | None = None
        answer = Packet(None)
        try:
            answer = await self.out_port.send(proc, Packet(payload))
            if answer.is_error:
                answer = await self.error_port.send(proc, answer, answer)
            if answer.is_error:
                error = answer.payload
                log.warning("%s: %s %s: unhandled error: %s", self.label, payload["op"], payload["id"], error,
                            exc_info=error if not isinstance(error, FlowError) else None)
            await proc.join()
        finally:
            await proc.exit(error)
        return answer


def compile_signal(spec: SignalSpec, context: Context) -> Signal:
    flt = check_filter(spec.filter, watch=True)  # a UserError names the bad key; compile() adds the spec
    store = store_of(context, spec)
    collection = store.specs if deprecated_secrets(spec.topic, spec) == "specs" else store.values
    return Signal(collection, flt, label=spec.subject, lifetime=context.lifetime)


EXAMPLE = """\
- kind: signal
  name: spec-changes
  topic: specs
  filter:
    namespace: default
  ports:
    out:
      - name: log-change
        port: in
"""


def register(scheme: Scheme) -> None:
    scheme.register(
        "signal", SignalSpec, compile_signal,
        description="Emit the store's change events (specs or values), in order, from the moment it loads.",
        ports={"out": "each change as {op, id, namespace, name}, in a fresh process",
               "error": "errors the flow answered for an event"},
        example=EXAMPLE, plugin="system",
    )
