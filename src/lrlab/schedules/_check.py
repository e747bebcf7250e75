"""Parameter validation: each check returns the normalised value or raises a ValueError naming the
parameter and the value it was given."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any


def _fail(kind: str, name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"{kind}: {name} must be {what}, got {value!r}")


def _real(kind: str, name: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(kind, name, what, value)
    out = float(value)
    if not math.isfinite(out):
        raise _fail(kind, name, what, value)
    return out


def rate(kind: str, name: str, value: Any) -> float:
    """A learning rate: a finite number >= 0."""
    out = _real(kind, name, value, "a finite number >= 0")
    if out < 0:
        raise _fail(kind, name, "a finite number >= 0", value)
    return out


def positive(kind: str, name: str, value: Any) -> float:
    """A finite number > 0 (a factor, a rate of decay, a time scale)."""
    out = _real(kind, name, value, "a finite number > 0")
    if out <= 0:
        raise _fail(kind, name, "a finite number > 0", value)
    return out


def in_range(
    kind: str, name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A finite number in an interval; the message shows the interval in the usual bracket notation."""
    what = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    out = _real(kind, name, value, what)
    if out < low or out > high or (low_open and out == low) or (high_open and out == high):
        raise _fail(kind, name, what, value)
    return out


def steps(kind: str, name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    """A whole number of steps >= minimum (None allowed when optional: the length is bound later)."""
    if value is None and optional:
        return None
    what = f"a whole number >= {minimum}" + (" (or None)" if optional else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(kind, name, what, value)
    as_float = float(value)
    if not math.isfinite(as_float) or as_float != math.floor(as_float) or as_float < minimum:
        raise _fail(kind, name, what, value)
    return int(as_float)


def boolean(kind: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(kind, name, "True or False", value)
    return value


def choice(kind: str, name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise _fail(kind, name, "one of " + ", ".join(repr(o) for o in options), value)
    return value


def number_list(kind: str, name: str, value: Any) -> list[Any]:
    """A list (or tuple) of real numbers; the caller checks their range and order."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _fail(kind, name, "a list of numbers", value)
    items = list(value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise _fail(kind, name, "a list of numbers", value)
    return items


def increasing_steps(kind: str, name: str, value: Any, *, strict: bool = True, minimum: int = 0) -> list[int]:
    """A list of whole step numbers >= minimum in increasing order (non-decreasing when not strict)."""
    items = number_list(kind, name, value)
    order = "increasing" if strict else "non-decreasing"
    what = f"a list of whole numbers >= {minimum} in {order} order"
    out = []
    for item in items:
        as_float = float(item)
        if not math.isfinite(as_float) or as_float != math.floor(as_float) or as_float < minimum:
            raise _fail(kind, name, what, value)
        out.append(int(as_float))
    for a, b in itertools.pairwise(out):
        if b < a or (strict and b == a):
            raise _fail(kind, name, what, value)
    return out


def rates(kind: str, name: str, value: Any) -> list[float]:
    items = number_list(kind, name, value)
    out = []
    for item in items:
        as_float = float(item)
        if not math.isfinite(as_float) or as_float < 0:
            raise _fail(kind, name, "a list of finite numbers >= 0", value)
        out.append(as_float)
    return out
