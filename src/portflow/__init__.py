"""portflow: a flow-based workflow engine.

Node specs (YAML/JSON documents) live in a store; a ``Runtime`` loads a namespace's specs, compiles
each through its kind's codec into a live node, links the nodes' ports in a ``SymbolTable`` and
activates them in dependency order. Packets then flow from port to port inside processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names and the module each lives in; imported on first use so `import portflow` stays cheap.
_EXPORTS = {
    "PortflowError": "errors", "UserError": "errors", "DocumentError": "errors", "SpecError": "errors",
    "BindError": "errors", "TemplateError": "errors", "CompileError": "errors", "ConfigError": "errors",
    "StoreError": "errors", "ConflictError": "errors", "NotFoundError": "errors", "FlowError": "errors",
    "FlowTimeout": "errors", "DroppedPacket": "errors",
    "Packet": "packet", "NONE": "packet", "join": "packet",
    "InPort": "port", "OutPort": "port", "Frame": "port",
    "Process": "process",
    "Node": "node", "OneToOne": "node", "OneToMany": "node", "ManyToOne": "node",
    "Spec": "spec", "Value": "spec", "PortRef": "spec", "EnvEntry": "spec", "Duration": "spec",
    "read_documents": "spec", "read_file": "spec",
    "Scheme": "scheme", "Context": "scheme", "Kind": "scheme",
    "Symbol": "symbol", "SymbolTable": "symbol", "Hooks": "symbol",
    "Runtime": "runtime",
    "Settings": "config", "load_settings": "config",
    "open_store": "store",
    "Languages": "lang", "builtin_languages": "lang",
    "load_plugins": "plugin", "default_registries": "plugin",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'portflow' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings, load_settings
    from .errors import (
        BindError,
        CompileError,
        ConfigError,
        ConflictError,
        DocumentError,
        DroppedPacket,
        FlowError,
        FlowTimeout,
        NotFoundError,
        PortflowError,
        SpecError,
        StoreError,
        TemplateError,
        UserError,
    )
    from .lang import Languages, builtin_languages
    from .node import ManyToOne, Node, OneToMany, OneToOne
    from .packet import NONE, Packet, join
    from .plugin import default_registries, load_plugins
    from .port import Frame, InPort, OutPort
    from .process import Process
    from .runtime import Runtime
    from .scheme import Context, Kind, Scheme
    from .spec import Duration, EnvEntry, PortRef, Spec, Value, read_documents, read_file
    from .store import open_store
    from .symbol import Hooks, Symbol, SymbolTable
