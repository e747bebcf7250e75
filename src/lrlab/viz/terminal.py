"""A compact text preview of schedule curves, for the terminal (no plotting library needed)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence

import numpy as np

from ..schedules import Schedule

MARKERS = "*o+x#@%&"


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
    (`lrlab.viz.plots.curve_points`), so a preview of 10**8 steps costs what one of 10**4 does."""
    from .plots import curve_points

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if width is None:
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 14)
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
    pad = max(len(top), len(bottom))
    lines = []
    for i, row in enumerate(grid):
        label = top if i == 0 else bottom if i == height - 1 else ""
        lines.append(f"{label:>{pad}} |" + "".join(row))
    lines.append(" " * pad + " +" + "-" * cols)
    lines.append(" " * pad + f"  0{'step':^{max(cols - 2 - len(str(steps - 1)), 4)}}{steps - 1}")
    for marker, label, curve in zip(MARKERS * 4, labels, curves):
        lines.append(f"  {marker} {label}   [start {curve[0]:.4g}, min {np.nanmin(curve):.4g}, "
                     f"max {np.nanmax(curve):.4g}]")
    if note:
        lines.append(note)
    return "\n".join(lines)
