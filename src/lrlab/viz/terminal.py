"""Compact text previews for the terminal (no plotting library needed): schedule curves (`preview`) and range
tests (`preview_find`)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence

import numpy as np

from ..rangetest import FindResult
from ..schedules import Schedule

MARKERS = "*o+x#@%&"


def _width(width: int | None) -> int:
    """The plot's columns: as given, or the terminal's width less the axis labels."""
    return width if width is not None else max(20, shutil.get_terminal_size((80, 24)).columns - 14)


def _framed(grid: list[list[str]], top: str, bottom: str, x_axis: str) -> list[str]:
    """The grid's rows with the y axis labelled `top` and `bottom`, then the x axis and its labels (`x_axis`)."""
    pad = max(len(top), len(bottom))
    lines = []
    for i, row in enumerate(grid):
        label = top if i == 0 else bottom if i == len(grid) - 1 else ""
        lines.append(f"{label:>{pad}} |" + "".join(row))
    lines.append(" " * pad + " +" + "-" * len(grid[0]))
    lines.append(" " * pad + "  " + x_axis)
    return lines


def preview(
    schedules: Sequence[Schedule],
    steps: int,
    *,
    width: int | None = None,
    height: int = 16,
    log: bool = False,
    labels: Sequence[str] | None = None,
) -> str:
    """The curves of `schedules` over steps 0..steps-1 as text: one marker per schedule, a legend.

    width: columns of the plot (default: the terminal's width less the axis labels). Long runs are sampled
    (`lrlab.viz.schedule_plots.curve_points`), so a preview of 10**8 steps costs what one of 10**4 does."""
    from .schedule_plots import curve_points

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    width = _width(width)
    labels = list(labels) if labels is not None else [repr(s) for s in schedules]
    sampled = [curve_points(s, steps) for s in schedules]
    curves = [lr for _, lr in sampled]
    values = np.concatenate(curves)
    values = values[np.isfinite(values)]
    note = ""
    if log and not (values > 0).any():
        log, note = False, "(no rate is > 0: a log axis cannot show these; the axis is linear)"
    if log:
        positive = values[values > 0]
        low, high = math.log10(positive.min()), math.log10(positive.max())
    elif values.size:
        low, high = float(min(values.min(), 0.0)), float(values.max())
    else:
        low, high = 0.0, 1.0
    if high <= low:
        high = low + 1.0
    cols = min(width, steps)
    grid = [[" "] * cols for _ in range(height)]
    for marker, (t, curve) in zip(MARKERS * 4, sampled):
        column = t * cols // steps
        for value, col in zip(curve, column):
            if not math.isfinite(value) or (log and value <= 0):
                continue
            if log:
                value = math.log10(value)
            row = round((high - value) / (high - low) * (height - 1))
            grid[min(max(row, 0), height - 1)][int(col)] = marker
    top = f"{10**high:.3g}" if log else f"{high:.3g}"
    bottom = f"{10**low:.3g}" if log else f"{low:.3g}"
    lines = _framed(grid, top, bottom, f"0{'step':^{max(cols - 2 - len(str(steps - 1)), 4)}}{steps - 1}")
    for marker, label, curve in zip(MARKERS * 4, labels, curves):
        lines.append(f"  {marker} {label}   [start {curve[0]:.4g}, min {np.nanmin(curve):.4g}, "
                     f"max {np.nanmax(curve):.4g}]")
    if note:
        lines.append(note)
    return "\n".join(lines)


FIND_LETTERS = {"valley": "V", "steep": "S", "minimum": "M", "slide": "L", "gradient": "G"}


def preview_find(found: FindResult, *, width: int | None = None, height: int = 16) -> str:
    """A range test as text: loss against log(rate), each seed's smoothed curve ('.'), their mean ('*'), a letter
    per suggestion on the mean (V valley, S steep, M minimum, L slide, G gradient); the loss axis is cut as in the
    picture (`lrlab.rangetest.y_limits`) so a diverging tail does not flatten the descent."""
    from ..rangetest import loss_at, y_limits

    width = _width(width)
    lrs, sm = found.lrs, found.smoothed
    with np.errstate(all="ignore"):
        mean = np.nanmean(sm, axis=0) if len(sm) > 1 else sm[0]
    lo_x, hi_x = math.log10(lrs[0]), math.log10(lrs[-1]) if lrs[-1] > lrs[0] else math.log10(lrs[0]) + 1
    low, high = y_limits(found)
    cols = min(width, max(len(lrs), 2))
    grid = [[" "] * cols for _ in range(height)]

    def cell(lr: float, loss: float) -> tuple[int, int] | None:
        if not (math.isfinite(loss) and lr > 0) or loss > high:
            return None
        col = round((math.log10(lr) - lo_x) / (hi_x - lo_x) * (cols - 1))
        row = round((high - loss) / (high - low) * (height - 1))
        return min(max(row, 0), height - 1), min(max(col, 0), cols - 1)

    for curve, marker in [*[(row, ".") for row in sm if len(sm) > 1], (mean, "*")]:
        for lr, loss in zip(lrs, curve):
            where = cell(lr, loss)
            if where:
                grid[where[0]][where[1]] = marker
    lines_extra = []
    spread = found.spread
    for rule, lr in found.suggestions.items():
        letter = FIND_LETTERS[rule]
        if math.isfinite(lr):
            where = cell(lr, min(loss_at(found, lr), high))
            if where:
                grid[where[0]][where[1]] = letter
            a, b = spread[rule]
            band = f"  (seeds {a:.3g} .. {b:.3g}, x{b / a:.2g})" if len(found.runs) > 1 and a > 0 else ""
            lines_extra.append(f"  {letter} {rule:<9}{lr:.3g}{band}")
        else:
            lines_extra.append(f"  {letter} {rule:<9}-  (too few points)")
    left, right = f"{lrs[0]:.3g}", f"{lrs[-1]:.3g}"
    x_axis = f"{left}{'learning rate (log)':^{max(cols - len(left) - len(right), 4)}}{right}"
    key = ("  key: . each seed's smoothed loss, * their mean, letters the suggestions" if len(sm) > 1 else
           "  key: * the smoothed loss, letters the suggestions")
    return "\n".join([*_framed(grid, f"{high:.3g}", f"{low:.3g}", x_axis), key, *lines_extra])
