"""The language registry: names (and aliases) to languages, languages to compiled Programs.

A :class:`Languages` object is built by whoever owns it (the runtime, a test) — it is never a module-level
global filled at import time. :func:`builtin_languages` returns a fresh one with every built-in language
registered through a lazy factory, so ``quickjs``, ``cel_expr_python`` and ``RestrictedPython`` are only
imported the first time a snippet of that language is compiled.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from ..errors import CompileError


@runtime_checkable
class Program(Protocol):
    """A compiled snippet. Called once per packet with the payload; returns the output payload.

    Raises :class:`~portflow.errors.FlowError` when the snippet fails and
    :class:`~portflow.errors.FlowTimeout` when it runs past its timeout.
    """

    async def __call__(self, payload: Any) -> Any: ...

    # Optional fast path, which built-in programs have: ``call(payload)`` returns the result itself when
    # it could run at once, or an awaitable of it. Callers check for it with ``getattr``.


@runtime_checkable
class Language(Protocol):
    """Compiles code once into a :class:`Program`; a syntax error raises CompileError (one line)."""

    def compile(self, code: str, *, timeout: float | None = None) -> Program: ...


LanguageFactory = Callable[[], Language]


class _Entry:
    __slots__ = ("name", "factory", "language", "lock")

    def __init__(self, name: str, language: Language | LanguageFactory) -> None:
        self.name = name
        self.lock = threading.Lock()
        if not isinstance(language, type) and callable(getattr(language, "compile", None)):  # an instance
            self.language: Language | None = cast(Language, language)
            self.factory: LanguageFactory | None = None
        elif callable(language):
            self.language = None
            self.factory = language
        else:
            raise TypeError(f"language {name!r}: expected a Language or a factory, got {type(language).__name__}")

    def get(self) -> Language:
        language = self.language
        if language is None:
            with self.lock:
                if self.language is None:
                    assert self.factory is not None
                    self.language = self.factory()
                language = self.language
        return language


class Languages:
    """A registry of languages by name. Registering a name again replaces it."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._names: dict[str, str] = {}  # name or alias -> name

    def register(
        self, name: str, language: Language | LanguageFactory, *, aliases: Sequence[str] = ()
    ) -> None:
        """Register ``language`` (an instance, or a zero-argument factory called on first use)."""
        self._entries[name] = _Entry(name, language)
        self._names[name] = name
        for alias in aliases:
            self._names[alias] = name

    def get(self, name: str) -> Language:
        """The language called ``name`` (or an alias of it), loading it if needed."""
        key = self._names.get(name)
        if key is None:
            raise CompileError(f"unknown language {name!r}; known languages: {', '.join(self.names())}")
        return self._entries[key].get()

    def compile(self, name: str, code: str, *, timeout: float | None = None) -> Program:
        """Compile ``code`` in the language ``name``: unknown names raise CompileError listing the known ones."""
        return self.get(name).compile(code, timeout=timeout)

    def names(self) -> list[str]:
        """The registered names (not aliases), sorted."""
        return sorted(self._entries)

    def loaded(self, name: str) -> bool:
        """Whether the language's factory has run (for tests and diagnostics)."""
        key = self._names.get(name)
        return key is not None and self._entries[key].language is not None

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def copy(self) -> Languages:
        """An independent registry with the same entries; loaded languages are shared, not reloaded."""
        other = Languages()
        other._entries = dict(self._entries)
        other._names = dict(self._names)
        return other


def _lazy(module: str, attr: str, *args: Any) -> LanguageFactory:
    def factory() -> Language:
        cls = getattr(importlib.import_module(f"portflow.lang.{module}"), attr)
        return cls(*args)

    factory.__qualname__ = f"lazy[{module}.{attr}]"
    return factory


def builtin_languages() -> Languages:
    """A fresh registry with every built-in language registered (each imported on first use)."""
    languages = Languages()
    languages.register("text", _lazy("text", "Text"))
    languages.register("json", _lazy("json", "Json"))
    languages.register("yaml", _lazy("yaml", "Yaml"), aliases=("yml",))
    languages.register("cel", _lazy("cel", "Cel"))
    languages.register("javascript", _lazy("javascript", "JavaScript"), aliases=("js",))
    languages.register("typescript", _lazy("typescript", "TypeScript"), aliases=("ts",))
    languages.register("python", _lazy("python", "Python"), aliases=("py",))
    languages.register("python-isolated", _lazy("python", "IsolatedPython"))
    return languages
