"""Tracing: OpenTelemetry spans for processes, hops and SQL statements, set up by the standard variables.

``from_environment()`` reads ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``null`` — spans made and
dropped, for benchmarks — or any name an installed package registers under the entry-point group
``opentelemetry_traces_exporter``; comma-separated for several). Unset or ``none`` (or
``OTEL_SDK_DISABLED=true``): tracing is off and nothing subscribes, so a hop costs what it always did. The
sampler is ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` (the SDK's names: ``parentbased_always_on``
by default, ``traceidratio``, ...). The SDK reads the rest: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the other
``OTEL_EXPORTER_OTLP_*``), ``OTEL_SERVICE_NAME`` (``portflow`` when unset), ``OTEL_RESOURCE_ATTRIBUTES`` and
``OTEL_BSP_*`` (spans are exported in batches by a background thread).

``Tracing`` is one ``observe.Subscriber``: a span per process (its parent is the process's parent, or the
W3C ``traceparent`` of the request that started it) and one per hop (a child of the hop it happened
inside), named after the target spec and port and carrying ``portflow.namespace``, ``portflow.spec``,
``portflow.kind`` and ``portflow.port``; an error answer sets the span's status and records an
``exception`` event (its message scrubbed of secrets). The sampler decides once per request, at its root
process: a request that continues no trace is decided by one random draw (the low half of the trace id it
would get, as ``traceidratio`` decides), so one sampled out makes no OpenTelemetry object, no span, no
context and no hop hook: the observer shows this subscriber nothing more of it.

Inside a hop, ``propagate(headers)`` adds the hop's ``traceparent`` to an outgoing request (the ``http``,
``proxy`` and ``websocket`` nodes), and ``statement(sql, system)`` wraps one SQL statement in a child span
holding the statement text (never its parameters). Both cost one context-variable read while tracing is
off.

The root process of a trigger continues an incoming trace when its first packet is a map whose ``header``
has ``Traceparent`` (the listener's request payload; a WebSocket request's too).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from random import getrandbits
from typing import TYPE_CHECKING, Any, cast

from .logs import scrub
from .observe import Hop, Subscriber

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

    from .packet import Packet
    from .process import Process

__all__ = ["Tracing", "from_environment", "propagate", "statement", "NullSpanExporter", "OTLP_EXTRA"]

log = logging.getLogger("portflow.tracing")

OTLP_EXTRA = "portflow[otlp]"
_SCOPE = "portflow"


@dataclass(slots=True)
class _Active:
    """What the current hop is: its process, its span and the context holding that span."""

    process: Process
    span: Span
    context: Context
    tracer: Tracer


_active: contextvars.ContextVar[_Active | None] = contextvars.ContextVar("portflow.tracing", default=None)


class _Dropped:
    """What opening a span gives when the sampler left it out (the process is then refused)."""


_DROPPED = _Dropped()


# -- configuration ------------------------------------------------------------------------------------

def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names; empty when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def _exporter(name: str) -> SpanExporter | None:
    """The exporter called ``name``; None (with one line saying why) when it cannot be had."""
    if name in ("otlp", "otlp_proto_http"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.error("OTEL_TRACES_EXPORTER=%s needs the OTLP exporter: pip install '%s'", name, OTLP_EXTRA)
            return None
        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "null":
        return cast("SpanExporter", NullSpanExporter())
    from importlib.metadata import entry_points

    for entry in entry_points(group="opentelemetry_traces_exporter", name=name):
        return entry.load()()
    log.error("OTEL_TRACES_EXPORTER: unknown exporter %r (known: otlp, console, null, none)", name)
    return None


def from_environment(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A tracer provider exporting to the exporters ``OTEL_TRACES_EXPORTER`` names, or None: tracing off."""
    environ = os.environ if environ is None else environ
    names = exporter_names(environ)
    if not names:
        return None
    exporters = [e for e in map(_exporter, names) if e is not None]
    if not exporters:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    attributes = {} if named else {SERVICE_NAME: "portflow"}
    sampler, root_bound = _sampler(environ)
    ids = _preset_ids()()
    ids.root_bound = root_bound
    provider = TracerProvider(sampler=sampler, resource=Resource.create(attributes), id_generator=ids)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


_SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
             "parentbased_traceidratio")


def _sampler(environ: Mapping[str, str]) -> tuple[Any, int | None]:
    """The sampler ``OTEL_TRACES_SAMPLER`` (and ``_ARG``) name, and how it decides for a trace that starts
    here: sampled when the low 64 bits of its id are below the bound (what ``TraceIdRatioBased`` checks; 0
    for never, 2**64 for always); None for a sampler of an installed package (it is asked with the span)."""
    from opentelemetry.sdk.trace import sampling

    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    if name not in _SAMPLERS:
        from importlib.metadata import entry_points

        for entry in entry_points(group="opentelemetry_traces_sampler", name=name):
            return entry.load()(environ.get("OTEL_TRACES_SAMPLER_ARG", "")), None
        log.error("OTEL_TRACES_SAMPLER: unknown sampler %r (known: %s); using parentbased_always_on",
                  name, ", ".join(_SAMPLERS))
        name = "parentbased_always_on"
    root: Any
    bound = _ALWAYS
    if name.endswith("traceidratio"):
        text = environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
        try:
            rate = float(text)
            if not 0.0 <= rate <= 1.0:
                raise ValueError
        except ValueError:
            log.error("OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got %r; using 1.0", text)
            rate = 1.0
        root = sampling.TraceIdRatioBased(rate)
        bound = root.bound  # compared with trace_id & TRACE_ID_LIMIT, the low 64 bits
    elif name.endswith("always_on"):
        root = sampling.ALWAYS_ON
    else:
        root, bound = sampling.ALWAYS_OFF, 0
    return (sampling.ParentBased(root) if name.startswith("parentbased_") else root), bound


_ALWAYS = 1 << 64  # above every 64-bit draw: a root bound that samples every trace

class NullSpanExporter:
    """Takes every span and keeps none (``OTEL_TRACES_EXPORTER=null``): the cost of tracing, not of sending."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_PRESET_IDS: list[type] = []


def _preset_ids() -> type:
    """The id generator ``from_environment`` gives its provider: random ids, except a trace id drawn (and
    sampled) before the span was started, which that span then gets."""
    if not _PRESET_IDS:
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        class PresetIds(RandomIdGenerator):
            preset: int | None = None
            #: How the provider's sampler decides for a trace that starts here: sampled when the low 64 bits
            #: of its id are below this (None: ask the sampler).
            root_bound: int | None = None

            def generate_trace_id(self) -> int:
                preset = self.preset
                return preset if preset is not None else super().generate_trace_id()

        _PRESET_IDS.append(PresetIds)
    return _PRESET_IDS[0]


# -- the subscriber ------------------------------------------------------------------------------------

def _traceparent(packet: Packet | None) -> bool:
    """Whether ``packet`` is a request whose headers carry a W3C ``Traceparent`` (it continues a trace)."""
    payload = packet.payload if packet is not None else None
    if type(payload) is not dict:
        return False
    header = payload.get("header")
    return type(header) is dict and "Traceparent" in header and "method" in payload


def _payload_error(hop: Hop) -> BaseException | None:
    answer = hop.answer
    if answer is not None and isinstance(answer.payload, BaseException):
        return answer.payload
    return None


class Tracing(Subscriber):
    """Spans for processes and hops; see the module docstring. ``symbol_of(node)`` names a hop's source.

    Given the ``provider`` that ``from_environment`` made, a root process is sampled before any span
    object exists (the sampler asked with a trace id drawn for it; the span, if any, gets that id)."""

    def __init__(self, tracer: Tracer, namespace: str = "", symbol_of: Callable[[Any], Any] | None = None,
                 provider: TracerProvider | None = None) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.tracer = tracer
        self.namespace = namespace
        self.symbol_of = symbol_of or (lambda node: None)
        self._procs: dict[Process, tuple[Span, Context]] = {}  # the processes being recorded
        self._hops: dict[Hop, tuple[Span, _Active | None]] = {}
        self._with_span = trace.set_span_in_context
        self._span_of = trace.get_current_span
        self._empty = Context
        self._internal, self._server = SpanKind.INTERNAL, SpanKind.SERVER
        self._propagator = TraceContextTextMapPropagator()
        ids = getattr(provider, "id_generator", None)
        self._presample: tuple[Any, Any] | None = (
            (provider.sampler, ids) if provider is not None and isinstance(ids, _preset_ids()) else None)
        #: A trace starting here is sampled when the low 64 bits of its id, drawn first, are below this
        #: (None: the sampler is asked with the span).
        self._root_bound: int | None = getattr(ids, "root_bound", None) if self._presample is not None else None

    # -- processes ------------------------------------------------------------------------------------
    def process_started(self, proc: Process, packet: Packet | None = None) -> bool:
        """Open the process's span; False (the observer then shows this nothing more of it, nor of its
        children) when it is sampled out. A root's ``packet`` (its first hop's) may continue a trace."""
        parent = proc.parent
        state = self._procs.get(parent) if parent is not None else None
        if state is None:  # a root, or a child of a process that never hopped: a trace may start here
            bound = self._root_bound
            if bound is not None and not _traceparent(packet):  # most are decided by one draw, nothing made
                low = getrandbits(64)  # the half of the trace id the ratio decides on
                if low >= bound:
                    return False
                # the id as the SDK's RandomIdGenerator draws it (128 random bits, never the invalid 0)
                return self._open_root(proc, packet, getrandbits(64) << 64 | low or 1) is not _DROPPED
            return self._open_root(proc, packet) is not _DROPPED
        current = _active.get()
        context = current.context if current is not None and current.process is parent else state[1]
        return self._open(proc, "process", context, {"portflow.namespace": self.namespace},
                          self._internal) is not _DROPPED

    def _open(self, proc: Process, name: str, context: Context, attributes: dict[str, Any], kind: Any,
              root: bool = False, remote_parent: bool = False, trace_id: int | None = None) -> Any:
        """The span of ``proc``. A root is sampled first (given the provider): ``trace_id`` is the id a root
        starting a trace here was drawn and sampled with; with a remote parent the sampler is asked now."""
        presample = self._presample if root else None
        if presample is None:
            span = self.tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        else:
            sampler, ids = presample
            remote = self._span_of(context).get_span_context() if remote_parent else None
            if remote is not None and remote.is_valid:
                trace_id = None
                if not sampler.should_sample(context, remote.trace_id, name, kind, attributes).decision.is_sampled():
                    return _DROPPED
            elif trace_id is None:
                trace_id = ids.generate_trace_id()
                if not sampler.should_sample(context, trace_id, name, kind, attributes).decision.is_sampled():
                    return _DROPPED
            ids.preset = trace_id
            try:
                span = self.tracer.start_span(name, context=context, kind=kind, attributes=attributes)
            finally:
                ids.preset = None
        if not span.is_recording():
            return _DROPPED
        span.set_attribute("portflow.process", proc.id)
        state = self._procs[proc] = (span, self._with_span(span))
        return state

    def _open_root(self, proc: Process, packet: Any, trace_id: int | None = None) -> Any:
        """The span of a root process: a server span continuing the request's ``traceparent``, if it has one.
        ``trace_id``: the id a trace starting here was drawn and sampled with (``process_started``)."""
        payload = packet.payload if packet is not None else None
        header = payload.get("header") if type(payload) is dict else None
        request = type(header) is dict and "method" in payload  # type: ignore[operator]
        remote = _traceparent(packet)
        if not request:
            return self._open(proc, "process", self._empty(), {"portflow.namespace": self.namespace},
                              self._internal, root=True, trace_id=trace_id)
        context = self._empty()
        if remote:
            carrier = {k.lower(): v[0] if isinstance(v, list) and v else v
                       for k, v in header.items()  # type: ignore[union-attr]
                       if k in ("Traceparent", "Tracestate")}
            context = self._propagator.extract(carrier, context=context)
        method = str(payload["method"])  # type: ignore[index]
        attributes = {"portflow.namespace": self.namespace, "http.request.method": method,
                      "url.path": scrub(str(payload.get("path", "")))}  # type: ignore[union-attr]
        return self._open(proc, method, context, attributes, self._server, root=True, remote_parent=remote,
                          trace_id=trace_id)

    def process_exited(self, proc: Process) -> None:
        state = self._procs.pop(proc, None)
        if state is None:
            return
        span = state[0]
        if proc.error is not None:
            _record(span, proc.error)
        span.end()

    # -- hops -----------------------------------------------------------------------------------------
    def hop_started(self, hop: Hop) -> None:
        proc = hop.process
        state = self._procs.get(proc)
        if state is None:
            return None  # not seen (subscribed while it ran): no span
        current = _active.get()
        context = current.context if current is not None and current.process is proc else state[1]
        sb = hop.symbol
        port = hop.target.name
        attributes = {"portflow.namespace": self.namespace, "portflow.port": port}
        if sb is not None:
            attributes["portflow.spec"] = sb.label
            attributes["portflow.kind"] = sb.kind
            name = f"{sb.label} {port}"
        else:
            name = f"{type(hop.target.node).__name__} {port}"
        source = self.symbol_of(hop.source.node)
        if source is not None:
            attributes["portflow.source.spec"] = source.label
            attributes["portflow.source.port"] = hop.source.name
        span = self.tracer.start_span(name, context=context, attributes=attributes)
        self._hops[hop] = (span, current)
        _active.set(_Active(proc, span, self._with_span(span), self.tracer))
        return None

    def hop_ended(self, hop: Hop) -> None:
        entry = self._hops.pop(hop, None)
        if entry is None:
            return
        span, previous = entry
        _active.set(previous)
        error = _payload_error(hop)
        if error is not None:
            _record(span, error)
        span.end()


def _record(span: Span, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    message = scrub(str(error) or type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, message))
    span.add_event("exception", {"exception.type": type(error).__name__, "exception.message": message})


# -- inside a hop -----------------------------------------------------------------------------------------

def propagate(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with the current hop's ``traceparent`` (and ``tracestate``) in place of any given."""
    current = _active.get()
    if current is None:
        return headers
    carrier: dict[str, str] = {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(carrier, context=current.context)
    kept = [(k, v) for k, v in headers if k.lower() not in ("traceparent", "tracestate")]
    return kept + list(carrier.items())


@contextlib.contextmanager
def _statement_span(current: _Active, sql: str, system: str) -> Iterator[None]:
    name = sql.split(None, 1)[0].upper() if sql.strip() else "sql"
    span = current.tracer.start_span(name, context=current.context,
                                     attributes={"db.system.name": system, "db.query.text": scrub(sql)})
    try:
        yield
    except Exception as exc:
        _record(span, exc)
        raise
    finally:
        span.end()


_NOTHING = contextlib.nullcontext()


def statement(sql: str, system: str) -> contextlib.AbstractContextManager[None]:
    """A child span of the current hop for one SQL statement (its text only), or nothing while not traced."""
    current = _active.get()
    if current is None:
        return _NOTHING
    return _statement_span(current, sql, system)


def tracer_of(provider: TracerProvider) -> Tracer:
    """portflow's tracer from ``provider``."""
    return provider.get_tracer(_SCOPE)


def install(observer: Any, namespace: str, environ: Mapping[str, str] | None = None) -> Callable[[], None] | None:
    """Subscribe ``Tracing`` to ``observer`` when the environment asks for tracing; returns the function that
    unsubscribes and flushes the spans still queued (at shutdown), or None when tracing is off."""
    provider = from_environment(environ)
    if provider is None:
        return None
    unsubscribe = observer.subscribe(Tracing(tracer_of(provider), namespace, observer.symbol_of, provider))

    def close() -> None:
        unsubscribe()
        provider.shutdown()

    return close
