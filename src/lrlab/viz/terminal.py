"""A compact text preview of schedule curves, for the terminal (no plotting library needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..schedules import Schedule

MARKERS = "*o+x#@%&"


def preview(
    schedules: Sequence[Schedule],
    steps: int,
    *,
    width: int = 72,
    height: int = 16,
    log: bool = False,
    labels: Sequence[str] | None = None,
) -> str:
    """The curves of `schedules` over steps 0..steps-1 as text: one marker per schedule, a legend."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    labels = list(labels) if labels is not None else [repr(s) for s in schedules]
    t = np.arange(steps)
    curves = [np.asarray(s(t), dtype=float) for s in schedules]
    values = np.concatenate(curves)
    if log:
        positive = values[values > 0]
        if positive.size == 0:
            raise ValueError("a log scale needs some rate > 0")
        low, high = math.log10(positive.min()), math.log10(positive.max())
    else:
        low, high = float(min(values.min(), 0.0)), float(values.max())
    if high <= low:
        high = low + 1.0
    cols = min(width, steps)
    grid = [[" "] * cols for _ in range(height)]
    for marker, curve in zip(MARKERS * 4, curves):
        for col in range(cols):
            lo_step = col * steps // cols
            hi_step = max((col + 1) * steps // cols, lo_step + 1)
            for value in (curve[lo_step:hi_step].min(), curve[lo_step:hi_step].max()):
                if log:
                    if value <= 0:
                        continue
                    value = math.log10(value)
                row = round((high - value) / (high - low) * (height - 1))
                grid[min(max(row, 0), height - 1)][col] = marker
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
        lines.append(f"  {marker} {label}   [start {curve[0]:.4g}, min {curve.min():.4g}, max {curve.max():.4g}]")
    return "\n".join(lines)
