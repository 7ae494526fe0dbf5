"""Services: objects a plugin offers to the nodes of one runtime, looked up by their class.

``context.services.get(Listeners)`` returns the runtime's one ``Listeners``, created on first use by the
class's factory — ``Listeners.service(context)`` when the class defines that classmethod, else ``Listeners()``
— and closed with the runtime: when it has an ``aclose()`` that is registered on the runtime's exit stack.
The key is the class itself, so the value has its type and the core imports no plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .lifetime import Lifetime

__all__ = ["Services"]

T = TypeVar("T")


class Services:
    """One instance per service class, created lazily, cleaned up by ``lifetime``."""

    def __init__(self, context: Any, lifetime: Lifetime) -> None:
        self._context = context
        self._lifetime = lifetime
        self._by_class: dict[type, Any] = {}

    def get(self, cls: type[T]) -> T:
        """The runtime's ``cls`` service, created (and its ``aclose`` registered) on first use."""
        service = self._by_class.get(cls)
        if service is None:
            factory = getattr(cls, "service", None)
            service = factory(self._context) if factory is not None else cls()
            self._by_class[cls] = service
            aclose = getattr(service, "aclose", None)
            if aclose is not None:
                self._lifetime.callback(aclose)
        return service

    def find(self, cls: type[T]) -> T | None:
        """The ``cls`` service if something created it, else None (nothing is created)."""
        return self._by_class.get(cls)

    def __contains__(self, cls: type) -> bool:
        return cls in self._by_class
