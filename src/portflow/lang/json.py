"""``json``: the code is a JSON document, parsed once at compile; every call answers that constant.

The constant is shared between calls, not copied (payloads are immutable in the engine). Numbers are
floats, as Go's ``encoding/json`` decodes them into ``any`` (``42`` is ``42.0``), so CEL written for uniflow
(``self == 42``, ``self.n * 2.0``) runs unchanged.
"""

from __future__ import annotations

import json

from ..errors import CompileError
from ..gotypes import doubles
from .text import Constant


class Json:
    name = "json"

    def compile(self, code: str, *, timeout: float | None = None) -> Constant:
        try:
            value = doubles(json.loads(code))
        except json.JSONDecodeError as e:
            raise CompileError(f"json: {e.msg} at {e.lineno}:{e.colno}") from None
        except ValueError as e:  # a number past float64's range
            raise CompileError(f"json: {e}") from None
        return Constant(value)
