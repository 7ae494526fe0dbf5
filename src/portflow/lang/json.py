"""``json``: the code is a JSON document, parsed once at compile; every call answers that constant.

The constant is shared between calls, not copied (payloads are immutable in the engine).
"""

from __future__ import annotations

import json

from ..errors import CompileError
from .text import Constant


class Json:
    name = "json"

    def compile(self, code: str, *, timeout: float | None = None) -> Constant:
        try:
            value = json.loads(code)
        except json.JSONDecodeError as e:
            raise CompileError(f"json: {e.msg} at {e.lineno}:{e.colno}") from None
        return Constant(value)
