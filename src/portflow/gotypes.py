"""uniflow's value model, where Go's shows through: truthiness, numbers as text, JSON numbers.

- ``truthy``: Go's zero values are false (``false``, ``0``, ``""``, null); anything else is true, an empty
  list or map included (uniflow tests ``!reflect.ValueOf(v).IsZero()``).
- ``go_float``: a float64 as Go's ``fmt.Sprint`` writes it (``2``, ``1.5``, ``1e+06``), which is how a
  number becomes a string field (``code: 42`` is ``"42"``).
- ``doubles``: a decoded JSON value with every number a float, as Go's ``encoding/json`` decodes into
  ``any``; ``integral``: floats with no fraction back as ints, as Go's encoder writes ``1.0`` as ``1``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = ["truthy", "go_float", "go_scalar_text", "doubles", "integral"]


def truthy(value: Any) -> bool:
    """Go's "not the zero value": false, 0, 0.0, "" and null are false; -0.0, NaN, empty lists, maps and
    bytes, errors and every other object are true."""
    if value is None or value is False:
        return False
    kind = type(value)
    if kind is str:
        return value != ""
    if kind is int or kind is bool:
        return value != 0
    if kind is float:
        return value != 0.0 or math.copysign(1.0, value) < 0  # IsZero compares the bits: -0.0 is not zero
    return True


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (``strconv``'s shortest ``'g'``): the shortest digits that read back, in
    exponent form when the decimal exponent is below -4 or 6 and above (``1e+06``, ``1.5e-05``), no
    ``.0`` on whole numbers (``2``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    number = Decimal(repr(abs(value))).normalize()  # repr is the shortest round-trip text, as Go's
    digits = "".join(map(str, number.as_tuple().digits))
    exp = len(digits) - 1 + int(number.as_tuple().exponent)
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + format(number, "f")


def go_scalar_text(value: Any) -> str | None:
    """A bool or number as uniflow's decoder writes it into a string field (``true``, ``42``, ``1.5``);
    None for anything else."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return go_float(value)
    return None


def doubles(value: Any) -> Any:
    """``value`` (just decoded from JSON, so nobody else holds it) with every int a float, in place."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            sub = type(item)
            if sub is int:
                value[key] = _double(item)
            elif sub is dict or sub is list:
                doubles(item)
    elif kind is list:
        for i, item in enumerate(value):
            sub = type(item)
            if sub is int:
                value[i] = _double(item)
            elif sub is dict or sub is list:
                doubles(item)
    elif kind is int:
        return _double(value)
    return value


def _double(number: int) -> float:
    try:
        return float(number)
    except OverflowError:  # Go: "cannot unmarshal number ... into float64"
        raise ValueError(f"number {str(number)[:40]}... is out of range for a float64") from None


def integral(value: Any) -> Any:
    """``value`` with whole floats as ints (``1.0`` -> ``1``) at any depth, for JSON text as Go writes it.
    Returns ``value`` itself when nothing changes (the common case costs one walk, no copy)."""
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() and -1e21 < value < 1e21 else value
    if kind is dict:
        out = None
        for key, item in value.items():
            sub = type(item)
            if sub is float:  # inline: most answers' floats sit in a map or a list
                if not (item.is_integer() and -1e21 < item < 1e21):
                    continue
                new = int(item)
            elif sub in _CONTAINERS:
                new = integral(item)
                if new is item:
                    continue
            else:
                continue
            if out is None:
                out = dict(value)
            out[key] = new
        return value if out is None else out
    if kind is list or kind is tuple:
        items = None
        for i, item in enumerate(value):
            sub = type(item)
            if sub is float:
                if not (item.is_integer() and -1e21 < item < 1e21):
                    continue
                new = int(item)
            elif sub in _CONTAINERS:
                new = integral(item)
                if new is item:
                    continue
            else:
                continue
            if items is None:
                items = list(value)
            items[i] = new
        return value if items is None else items
    return value


_CONTAINERS = frozenset({dict, list, tuple})
