"""``yaml``: the code is a YAML document, parsed once at compile (CSafeLoader); every call answers it.

The constant is shared between calls, not copied (payloads are immutable in the engine).
"""

from __future__ import annotations

import yaml

from ..errors import CompileError
from .text import Constant

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


class Yaml:
    name = "yaml"

    def compile(self, code: str, *, timeout: float | None = None) -> Constant:
        from ..errors import DocumentError
        from ..spec import load_yaml

        try:
            docs = load_yaml(code)  # a safe loader, aliases bounded
            value = docs[0] if docs else None
        except (DocumentError, RecursionError) as e:
            raise CompileError(f"yaml: {e if isinstance(e, DocumentError) else 'nested too deeply'}") from None
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f" at {mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = e.problem or e.context or "invalid YAML"
            raise CompileError(f"yaml: {problem}{where}") from None
        except yaml.YAMLError as e:
            raise CompileError(f"yaml: {' '.join(str(e).split())}") from None
        return Constant(value)
