"""Runtime: load, watch and reconcile one namespace.

``start()`` opens change streams on the store's specs, values and charts (so nothing written from now on
is missed), loads every spec of the namespace, then reconciles each change into the symbol table in the
background: a spec event rebuilds that spec (and, through the table, relinks and reloads its
dependents); a value event rebuilds the specs bound to that value; a chart event rebuilds the namespace
(only the specs whose built document changed are replaced). A spec whose kind is a chart's name (and no
real kind) is built as the chart's block (``chart.py``). A spec whose stored document did not
change is not rebuilt. Traffic keeps flowing through the symbols that a change does not touch.

The runtime is the composition root: it builds the one ``Context`` every codec gets (typed settings,
the store, the symbol table and its hop observer, the plugins' services) and owns the one ``Lifetime``
(task group and exit stack) in which every background task runs and every resource is cleaned up.

Building one spec: check its meta fields, bind its ``env`` to values (or the ``-e`` environment),
render ``{{ }}`` templates in its own fields, decode it through its kind's spec class, compile it with
the kind's codec. A failure at any step is logged with the spec's name and field, and the spec stays in
the table without a node, inactive, until a change fixes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .chart import expand
from .config import RuntimeSettings
from .errors import BindError, PortflowError, UserError
from .lifetime import Job, Lifetime, TaskStatus
from .logs import hide
from .plugin import default_registries
from .redact import redact, secret_texts
from .scheme import Context, Scheme
from .spec import DEFAULT_NAMESPACE, META_KEYS, EnvEntry, Spec, check_meta, describe
from .symbol import Hooks, Symbol, SymbolTable
from .template import render_fields

__all__ = ["Runtime", "bind"]

log = logging.getLogger("portflow.runtime")


def _stub_spec(doc: dict[str, Any], namespace: str) -> Spec:
    """A meta-only spec for a document that does not decode, so the table can still show it."""
    def text(key: str, default: str = "") -> str:
        value = doc.get(key)
        return value if isinstance(value, str) else default

    return Spec(kind=text("kind", "?") or "?", id=text("id"), namespace=text("namespace", namespace) or namespace,
                name=text("name"))


STALE = "stale: "
"""How ``Symbol.error`` starts when the stored spec does not compile and its last good version serves."""


def missing_targets(table: SymbolTable, sb: Symbol) -> str | None:
    """``inactive: missing target out -> name`` when ``sb`` links to names that do not exist, else None."""
    missing = [f"{out} -> {ref.name or ref.id}" for out, ref, t in table.targets(sb) if t is None]
    return f"inactive: missing target {', '.join(missing)}" if missing else None


def keep_last_good(current: Symbol | None, built: Symbol) -> bool:
    """Whether to keep ``current`` (a live node) instead of ``built``, recording why on ``current.error``.

    A spec whose update does not compile keeps its last good node until a version that compiles replaces it.
    """
    if current is None or current.node is None or (current.error and not current.error.startswith(STALE)):
        return False
    if built.node is None and built.error:
        if current.error != STALE + built.error:
            log.warning("%s: the stored version does not compile; the last good version keeps serving",
                        current.describe(), extra=current.fields)
        current.error = STALE + built.error
        return True
    return False


def bind(doc: dict[str, Any], values: list[dict[str, Any]], environment: Mapping[str, str], namespace: str,
         secrets: list[str]) -> dict[str, Any]:
    """Resolve ``doc``'s ``env`` against ``values`` and ``environment`` (for entries naming no value), then
    render its own fields. The text of every bound value is added to ``secrets``, so that messages can hide
    it. A missing value raises ``BindError``. The runtime binds every spec so; ``lint`` too."""
    env = doc.get("env")
    if not env:
        return doc
    data: dict[str, Any] = {}
    bound_env: dict[str, Any] = {}
    for key, raw in env.items():
        entry = EnvEntry(**{k: v for k, v in (raw[0] if isinstance(raw, list) and raw else raw).items()
                            if k in ("id", "name", "data")})
        if entry.id or entry.name:
            value = next((v for v in values
                          if (entry.id and v.get("id") == entry.id)
                          or (not entry.id and entry.name and v.get("name") == entry.name)), None)
            if value is None:
                target = f"id {entry.id!r}" if entry.id else f"name {entry.name!r}"
                raise BindError(f"{describe(doc)}: env.{key}: no value with {target} in namespace "
                                f"{namespace!r}")
            texts = secret_texts(value.get("data"))
            secrets.extend(texts)
            hide(texts)  # and from every log line, whoever writes it
            rendered = render_fields(entry.data, value.get("data"), keep_type=True)
            bound_env[key] = {"id": value.get("id"), "name": value.get("name"), "data": rendered}
        elif environment:
            rendered = render_fields(entry.data, environment, keep_type=True)
            bound_env[key] = {"data": rendered}
        else:
            rendered = entry.data
            bound_env[key] = {"data": rendered}
        data[key] = rendered
    built = {k: (v if k in META_KEYS else render_fields(v, data)) for k, v in doc.items()}
    built["env"] = bound_env
    return built


class Runtime:
    """Runs one namespace from a store. Use ``async with Runtime(store) as rt:`` or ``start``/``close``."""

    def __init__(
        self,
        store: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        scheme: Scheme | None = None,
        languages: Any = None,
        hooks: Hooks | None = None,
        environment: dict[str, str] | None = None,
        settings: RuntimeSettings | Mapping[str, Any] | None = None,
        watch: bool = True,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.settings = RuntimeSettings.of(settings)
        if scheme is None:
            registries = default_registries(self.settings)
            scheme = registries.scheme
            languages = languages if languages is not None else registries.languages
            hooks = hooks if hooks is not None else registries.hooks
        if languages is None:
            from .lang import builtin_languages

            languages = builtin_languages()
        self.scheme = scheme
        self.languages = languages
        self.hooks = hooks or Hooks()
        self.environment = dict(environment or {})
        self.table = SymbolTable(self.hooks)
        self.lifetime = Lifetime(on_failure=self.table.fail)
        self.context = Context(scheme=scheme, languages=languages, hooks=self.hooks, settings=self.settings,
                               store=store, table=self.table, observer=self.table.observer,
                               lifetime=self.lifetime)
        self._watch = watch
        self._reconciler: Job[None] | None = None
        self._streams: list[Any] = []
        self._charts: dict[str, dict[str, Any]] = {}  # the namespace's charts by name (the kinds they make)
        self._lock = asyncio.Lock()
        #: Problems of the last load, one line each (also logged).
        self.problems: list[str] = []
        #: Called with the change events of each batch after it was applied (metrics count reloads here).
        self.on_applied: list[Callable[[list[Any]], None]] = []
        #: True once ``start`` has loaded the namespace.
        self.loaded = False
        #: What the last load did: ``(added|replaced|removed, symbol)`` per spec it changed.
        self.changes: list[tuple[str, Symbol]] = []

    # -- lifecycle --------------------------------------------------------------------------------
    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> list[str]:
        """Watch, load everything, then reconcile changes in the background. Returns the load problems."""
        self.lifetime.open()
        if self._watch:
            self._streams = [
                self.store.specs.watch({"namespace": self.namespace}),
                self.store.values.watch({"namespace": self.namespace}),
                self.store.charts.watch({"namespace": self.namespace}),
            ]
        problems = await self.load()
        self.loaded = True
        if self._watch:
            self._reconciler = await self.lifetime.spawn(self._reconcile, name="portflow-reconcile")
        return problems

    async def close(self) -> None:
        """Stop reconciling, unload and close every symbol (sources first), then close the lifetime: its
        tasks are cancelled and the services' cleanups run (servers kept for hand-over, pools)."""
        if self._reconciler is not None:
            await self._reconciler.stop()
            self._reconciler = None
        for stream in self._streams:
            with contextlib.suppress(Exception):
                await stream.aclose()
        self._streams = []
        async with self._lock:
            await self.table.close()
        await self.lifetime.aclose()

    # -- loading ----------------------------------------------------------------------------------
    async def load(self, ids: Iterable[str] | None = None) -> list[str]:
        """(Re)build the namespace's specs, or only those with ``ids``; free symbols whose spec is gone."""
        async with self._lock:
            return await self._load(None if ids is None else list(ids))

    async def _load(self, ids: list[str] | None) -> list[str]:
        flt: dict[str, Any] = {"namespace": self.namespace}
        if ids is not None:
            if not ids:
                return []
            flt["id"] = ids
        docs = await self.store.specs.find(flt)
        self._charts = {c["name"]: c for c in await self.store.charts.find({"namespace": self.namespace})
                        if isinstance(c.get("name"), str)}
        values = await self._values_for(docs)
        problems: list[str] = []
        changed: list[Symbol] = []
        for doc in docs:
            sb = self._build(doc, values, problems)
            current = self.table.get(sb.id)
            if current is not None and current.doc == sb.doc and current.error == sb.error and sb.doc:
                continue  # unchanged: keep the live node
            if keep_last_good(current, sb):
                continue  # a broken update: the running version keeps serving
            changed.append(sb)
        found = {doc.get("id") for doc in docs}
        stale = [sb for sb in self.table
                 if sb.namespace == self.namespace and sb.id not in found and (ids is None or sb.id in ids)]
        self.changes = [("replaced" if self.table.get(sb.id) is not None else "added", sb) for sb in changed]
        self.changes += [("removed", sb) for sb in stale]
        if stale:
            await self.table.free(*(sb.id for sb in stale))
        if changed:
            await self.table.insert_many(changed)
        for sb in changed:
            if sb.error and sb.error.startswith("load failed"):
                problems.append(f"{sb.describe()}: {sb.error}")
        self.problems = problems  # wiring mistakes (a missing target, a wrong port) the table logs once
        return problems

    async def _values_for(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids, names = set(), set()
        envs = [doc.get("env") for doc in docs]
        envs += [chart.get("env") for chart in self._charts.values()]
        for env in envs:
            if not isinstance(env, dict):
                continue
            for entry in env.values():
                for e in entry if isinstance(entry, list) else [entry]:
                    if isinstance(e, dict):
                        if e.get("id"):
                            ids.add(e["id"])
                        elif e.get("name"):
                            names.add(e["name"])
        if not ids and not names:
            return []
        ors = []
        if ids:
            ors.append({"id": sorted(ids)})
        if names:
            ors.append({"name": sorted(names)})
        found: list[dict[str, Any]] = await self.store.values.find({"namespace": self.namespace, "$or": ors})
        return found

    def _build(self, doc: dict[str, Any], values: list[dict[str, Any]], problems: list[str]) -> Symbol:
        """Bind, render, decode and compile one document into a symbol (node None on failure)."""
        meta = check_meta(doc)
        if meta:
            stub = _stub_spec(doc, self.namespace)
            return self._failed(stub, doc, f"{describe(doc)}: " + "; ".join(meta), problems)
        secrets: list[str] = []
        try:
            chart = self._charts.get(doc["kind"]) if self.scheme.kind(doc["kind"]) is None else None
            if chart is not None:  # the chart's block, its children bound to the chart's env
                doc = expand(chart, doc)
                doc["specs"] = [self._bind(child, values, secrets) for child in doc["specs"]]
            built = self._bind(doc, values, secrets)
        except PortflowError as exc:
            return self._failed(_stub_spec(doc, self.namespace), doc, str(exc), problems)
        try:
            spec = self.scheme.decode(built)
        except UserError as exc:
            return self._failed(_stub_spec(doc, self.namespace), built, str(exc), problems, secrets)
        if self.scheme.kind(spec.kind) is None:
            reason = f"{describe(doc)}: unknown kind {spec.kind!r}; stored, not compiled"
            unknown = Symbol(spec=spec, node=None, doc=built, error=reason)
            log.warning("%s", reason, extra=unknown.fields)
            return unknown
        try:
            node = self.scheme.compile(spec, self.context)
        except UserError as exc:  # Scheme.compile names the spec (exc.subject)
            return self._failed(spec, built, str(exc), problems, secrets)
        except PortflowError as exc:
            return self._failed(spec, built, f"{describe(doc)}: {exc}", problems, secrets)
        except Exception as exc:
            log.debug("%s: codec failed", describe(doc), exc_info=True)
            return self._failed(spec, built, f"{describe(doc)}: compile failed: {exc}", problems, secrets)
        return Symbol(spec=spec, node=node, doc=built)

    def _failed(self, spec: Spec, doc: dict[str, Any], message: str, problems: list[str],
                secrets: list[str] = ()) -> Symbol:  # type: ignore[assignment]
        message = redact(message, secrets)
        failed = Symbol(spec=spec, node=None, doc=doc, error=message)
        log.error("%s", message, extra=failed.fields)
        problems.append(message)
        return failed

    def _bind(self, doc: dict[str, Any], values: list[dict[str, Any]], secrets: list[str]) -> dict[str, Any]:
        return bind(doc, values, self.environment, self.namespace, secrets)

    # -- reconciling ------------------------------------------------------------------------------
    async def _reconcile(self, status: TaskStatus[None]) -> None:
        specs, values, charts = self._streams
        status.started()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def pump(topic: str, stream: Any) -> None:
            async for event in stream:
                queue.put_nowait((topic, event))

        async with asyncio.TaskGroup() as group:
            group.create_task(pump("specs", specs))
            group.create_task(pump("values", values))
            group.create_task(pump("charts", charts))
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                try:
                    await self._apply(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconcile failed; will retry on the next change")

    async def _apply(self, batch: list[tuple[str, Any]]) -> None:
        if any(topic == "charts" for topic, _ in batch):  # a kind changed: rebuild; unchanged specs stay
            problems = await self.load()
            log.info("reconciled the namespace after a chart change%s",
                     f", {len(problems)} problem(s)" if problems else "")
            return
        ids: set[str] = set()
        for topic, event in batch:
            if topic == "specs":
                ids.add(event.id)
            else:
                ids |= self._bound_to(event.id, event.name)
        if ids:
            problems = await self.load(sorted(ids))
            for op, sb in self.changes:
                log.info("reload: %s %s", op, sb.describe(), extra={**sb.fields, "op": op})
            log.info("reconciled %d spec(s)%s", len(ids), f", {len(problems)} problem(s)" if problems else "",
                     extra={"namespace": self.namespace})
        for hook in self.on_applied:
            hook([event for _, event in batch])

    def _bound_to(self, value_id: str, value_name: str | None) -> set[str]:
        """Ids of the symbols whose env names this value (by id or by name)."""
        out = set()
        for sb in self.table:
            env = (sb.doc or {}).get("env") or {}
            for entry in env.values():
                entries = entry if isinstance(entry, list) else [entry]
                for e in entries:
                    if isinstance(e, dict) and (e.get("id") == value_id or (value_name and e.get("name") == value_name)):
                        out.add(sb.id)
        return out
