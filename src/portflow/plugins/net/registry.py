"""The listener registry: the servers of one runtime by address, and the ASGI app each server holds.

A server outlives the listener node that opened it: when a listener unloads, its server stays open for
``HANDOVER`` seconds, and a listener that loads on the same host, port and protocol within it takes the
socket over (the live reload path: no refused connection; requests that arrive in between wait for the
new owner). The registry also refuses a second listener on a port another listener holds.
``listeners(context)`` is the one place the registry is looked up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ...errors import UserError
from ...lifetime import Job, Lifetime, TaskStatus
from ...scheme import Context
from .asgi_bridge import asgi_over_rsgi
from .payload import error_response
from .server import serve
from .writer import respond as _respond

if TYPE_CHECKING:
    from .listener import Listener

__all__ = ["Dispatch", "Listeners", "listeners", "HANDOVER"]

log = logging.getLogger("portflow.net.listener")

#: How long a released server waits for a listener to take it over before it closes.
HANDOVER = 2.0


class Dispatch:
    """The ASGI application a server holds: it hands each connection to the listener that owns the server
    now, so a reloaded listener takes over without the socket closing."""

    __slots__ = ("node", "_owner")

    def __init__(self) -> None:
        self.node: Listener | None = None
        self._owner: asyncio.Event | None = None

    def set(self, node: Listener | None) -> None:
        self.node = node
        if node is not None and self._owner is not None:
            self._owner.set()
            self._owner = None

    async def _wait_for_owner(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        node = self.node
        if node is None:
            if scope["type"] == "lifespan":
                return
            if self._owner is None:
                self._owner = asyncio.Event()
            event = self._owner
            try:
                await asyncio.wait_for(event.wait(), HANDOVER)
            except TimeoutError:
                if scope["type"] == "http":
                    await _respond(send, *error_response(503))
                return
            node = self.node
            if node is None:
                if scope["type"] == "http":
                    await _respond(send, *error_response(503))
                return
        await node.handle(scope, receive, send)  # the ASGI form: a request that waited is not a hot one

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        node = self.node
        if node is None:
            return self._wait_for_owner(scope, receive, send)
        return node.handle(scope, receive, send)

    def __rsgi__(self, scope: Any, proto: Any) -> Any:
        """The same over RSGI (granian): the owner's ``handle_rsgi``; while there is none, the wait above."""
        node = self.node
        if node is None:
            return asgi_over_rsgi(self._wait_for_owner, scope, proto)
        return node.handle_rsgi(scope, proto)


class _Binding:
    __slots__ = ("key", "server", "app", "owner", "label", "closer", "signature")

    def __init__(self, key: tuple[str, int], server: Any, app: Dispatch, signature: tuple) -> None:
        self.key = key
        self.server = server
        self.app = app
        self.owner: Listener | None = None
        self.label = ""
        self.closer: Job[None] | None = None  # the hand-over wait, while released
        self.signature = signature


_WILDCARD = ("", "*", "0.0.0.0", "::")  # noqa: S104 - names of "every interface", compared


class Listeners:
    """The servers of one runtime, by (host, port): shared so that a reloaded listener keeps its socket.

    ``aclose()`` closes every server at once (the runtime calls it when it closes: a service).
    """

    def __init__(self, lifetime: Lifetime | None = None) -> None:
        self.bindings: dict[tuple[str, int], _Binding] = {}
        #: Where a released server waits for its successor: the runtime's task group.
        self.lifetime = lifetime if lifetime is not None else Lifetime()

    @classmethod
    def service(cls, context: Context) -> Listeners:
        return cls(context.lifetime)

    def _signature(self, node: Listener) -> tuple:
        return (node.protocol, node.tls, node.server_name, node.limits)

    async def acquire(self, node: Listener) -> None:
        if node.binding is not None and node.binding.owner is node:
            return
        sig = self._signature(node)
        binding = None
        if node.configured_port == 0:
            previous = node.binding
            if previous is not None and previous.owner is None and previous.key in self.bindings \
                    and previous.signature == sig:
                binding = previous
        else:
            for other in list(self.bindings.values()):
                if other.key[1] != node.configured_port:
                    continue
                same_host = other.key[0] == node.host
                if not (same_host or other.key[0] in _WILDCARD or node.host in _WILDCARD):
                    continue
                if other.owner is not None and other.owner is not node:
                    raise UserError(
                        f"{node.label}: cannot listen on port {node.configured_port}: "
                        f"{other.label} already listens on {other.key[0] or '*'}:{other.key[1]}")
                if same_host and other.signature == sig:
                    binding = other
                else:  # released but different: close it now so that we can bind
                    await self._close(other)
        if binding is None:
            app = Dispatch()
            server = serve(app, node.host, node.configured_port, node.tls, node.reuse_port,
                           server=node.server_name, limits=node.limits)
            await server.start()
            binding = _Binding((node.host, server.port), server, app, sig)
            self.bindings[binding.key] = binding
            log.info("%s: listening on %s", node.label, f"{server.scheme}://{node.host or '*'}:{server.port}",
                     extra=node.log_fields)
        if binding.closer is not None:
            closer, binding.closer = binding.closer, None
            await closer.stop()
        binding.owner = node
        binding.label = node.label
        node.binding = binding
        binding.app.set(node)

    async def release(self, node: Listener) -> None:
        """Stop routing to ``node``; its server closes after ``HANDOVER`` seconds unless a successor takes it."""
        binding = node.binding
        if binding is None or binding.owner is not node:
            return
        binding.owner = None
        binding.app.set(None)

        async def hand_over(status: TaskStatus[None]) -> None:
            status.started()
            await asyncio.sleep(HANDOVER)
            binding.closer = None
            if binding.owner is None:
                await self._close(binding)

        binding.closer = await self.lifetime.spawn(hand_over, name=f"portflow-handover {binding.label}")

    async def _close(self, binding: _Binding) -> None:
        if self.bindings.get(binding.key) is binding:
            del self.bindings[binding.key]
        if binding.closer is not None:
            closer, binding.closer = binding.closer, None
            await closer.stop()
        try:
            await binding.server.stop(grace=5.0)
        except Exception:
            log.exception("closing %r failed", binding.server)

    async def aclose(self) -> None:
        """Close every server now (owned or waiting for a successor)."""
        for binding in list(self.bindings.values()):
            if binding.owner is not None:
                binding.owner.binding = None
                binding.owner = None
            await self._close(binding)


def listeners(context: Context) -> Listeners:
    """The runtime's registry of listening servers (a service, closed with the runtime)."""
    return context.services.get(Listeners)
