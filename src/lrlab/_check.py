"""Validation of values a user gives, for every layer (schedules, plateau, adapters, lab, cli).

Each check returns the normalised value or raises a ValueError that names who asked, the parameter and the value
(shortened when long). Standard library only, so the lowest layer can use it; this is the one place where "a
whole number", "a finite number" and their friends are defined.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

MAX_STEPS = 2**53
"""The largest length in steps: every whole number up to it is exact in float64, where formulas compute."""

_SHOWN = 80  # characters of a value's repr an error message shows


def short(text: str) -> str:
    """`text` for an error message: its start and end around "..." past 80 characters (a space, a file name)."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 20] + "..." + text[-17:]


def shown(value: Any) -> str:
    """repr(value) for an error message: shortened past 80 characters; never fails (huge ints, odd objects)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    except Exception:
        return f"<{type(value).__name__} object>"
    return short(text)


def fail(who: str, name: str, what: str, value: Any) -> ValueError:
    """The one error message: "who: name must be what, got value" (no prefix when who is empty)."""
    prefix = f"{who}: " if who else ""
    return ValueError(f"{prefix}{name} must be {what}, got {shown(value)}")


def _int_text(n: int) -> str:
    return "2**53" if n == MAX_STEPS else str(n)


def is_real(value: Any) -> bool:
    """A real number that is not a bool (ints, floats, numpy scalars; not strings)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def as_float(value: Any) -> float:
    """float(value), or NaN for what has no finite float (a huge int, a failing __float__): never raises."""
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return math.nan


def number(
    who: str,
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    what: str | None = None,
) -> float:
    """A finite real number in [low, high] (ends open where asked), as a float."""
    if what is None:
        if (low, high) == (-math.inf, math.inf):
            what = "a finite number"
        elif high == math.inf:
            what = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            what = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    out = as_float(value) if is_real(value) else math.nan
    if (
        not math.isfinite(out)
        or out < low
        or out > high
        or (low_open and out == low)
        or (high_open and out == high)
    ):
        raise fail(who, name, what, value)
    return out


def rate(who: str, name: str, value: Any) -> float:
    """A learning rate (or any amount that cannot be negative): a finite number >= 0."""
    return number(who, name, value, 0.0)


def positive(who: str, name: str, value: Any) -> float:
    """A finite number > 0 (a factor, a rate of decay, a time scale)."""
    return number(who, name, value, 0.0, low_open=True)


def in_range(
    who: str, name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """A finite number in an interval; the message shows the interval in the usual bracket notation."""
    return number(who, name, value, low, high, low_open=low_open, high_open=high_open)


def whole(
    who: str,
    name: str,
    value: Any,
    minimum: int = 0,
    maximum: int | None = None,
    *,
    optional: bool = False,
    what: str | None = None,
) -> int | None:
    """A whole number >= minimum (and <= maximum), not a bool: 3, 3.0 and numpy integers; None when optional."""
    if value is None and optional:
        return None
    if what is None:
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {_int_text(maximum)}]"
        what = f"a whole number {bounds}"
        what += " (or None)" if optional else ""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        out = int(value)
    elif is_real(value):
        real = as_float(value)
        if not math.isfinite(real) or real != math.floor(real):
            raise fail(who, name, what, value)
        out = int(real)
    else:
        raise fail(who, name, what, value)
    if out < minimum or (maximum is not None and out > maximum):
        raise fail(who, name, what, value)
    return out


def steps(who: str, name: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    """A length or a point in optimizer steps: a whole number in [minimum, 2**53] (None allowed when optional:
    the length is bound later)."""
    return whole(who, name, value, minimum, MAX_STEPS, optional=optional)


def boolean(who: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(who, name, "True or False", value)
    return value


def choice(who: str, name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise fail(who, name, "one of " + ", ".join(repr(o) for o in options), value)
    return value


def number_list(who: str, name: str, value: Any) -> list[Any]:
    """A list (or tuple) of real numbers; the caller checks their range and order."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise fail(who, name, "a list of numbers", value)
    items = list(value)
    if not all(is_real(item) for item in items):
        raise fail(who, name, "a list of numbers", value)
    return items


def increasing_steps(who: str, name: str, value: Any, *, strict: bool = True, minimum: int = 0) -> list[int]:
    """A list of whole step numbers >= minimum in increasing order (non-decreasing when not strict)."""
    order = "increasing" if strict else "non-decreasing"
    what = f"a list of whole numbers >= {minimum} in {order} order"
    try:
        out = [whole(who, name, item, minimum, MAX_STEPS) for item in number_list(who, name, value)]
    except ValueError:
        raise fail(who, name, what, value) from None
    if any(b < a or (strict and b == a) for a, b in itertools.pairwise(out)):
        raise fail(who, name, what, value)
    return out


def rates(who: str, name: str, value: Any) -> list[float]:
    """A list of finite numbers >= 0."""
    out = [as_float(item) for item in number_list(who, name, value)]
    if not all(math.isfinite(x) and x >= 0 for x in out):
        raise fail(who, name, "a list of finite numbers >= 0", value)
    return out
