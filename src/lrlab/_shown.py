"""How numbers are shown in tables (the terminal's and the report's): one precision per column, "mean ± std" with
the mean's decimals; the CSV files keep every digit."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def decimals(values: Iterable[Any], digits: int = 4, most: int = 6) -> int:
    """The decimals that show a column's numbers (its means; their stds take the same: one precision per column)
    with `digits` significant digits for its smallest non-zero magnitude, at most `most`.

    Examples:
        >>> from lrlab._shown import decimals
        >>> decimals([0.9744, 0.97]), decimals([117.2, 0.587]), decimals([17.0, 4.5], 2), decimals([float("nan")])
        (4, 4, 1, 0)
    """
    sizes = [abs(float(v)) for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v != 0]
    if not sizes:
        return 0
    return max(0, min(most, digits - 1 - math.floor(math.log10(min(sizes)))))


def number(value: Any, places: int) -> str:
    """`value` with `places` decimals; "-" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float)):
        return f"{value:.{places}f}"
    return str(value)


def pm(mean: Any, std: Any, places: int) -> str:
    """"mean ± std" with `places` decimals each (the std left out when NaN or None)."""
    text = number(mean, places)
    if text != "-" and isinstance(std, (int, float)) and math.isfinite(std):
        text += f" ± {std:.{places}f}"
    return text
