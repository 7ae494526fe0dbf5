"""Languages for snippets and expressions: a registry and the built-in languages.

``builtin_languages()`` gives a fresh :class:`Languages` with ``text``, ``json``, ``yaml``, ``cel``,
``javascript`` (``js``), ``typescript`` (``ts``), ``python`` (``py``) and ``python-isolated``, each imported
on first use. ``languages.compile(name, code, timeout=...)`` returns a :class:`Program`; ``await
program(payload)`` runs it. How calls are kept from stalling the event loop: :mod:`portflow.lang._runtime`.
"""

from ._runtime import DEFAULT_TIMEOUT, INLINE_SLICE
from .registry import Language, Languages, Program, builtin_languages

__all__ = ["DEFAULT_TIMEOUT", "INLINE_SLICE", "Language", "Languages", "Program", "builtin_languages"]
