"""The range test's picture (`RangeTest.plot`, `FindResult.plot`): loss against rate, a marker per suggestion. Apart
from `lrlab.rangetest` (which re-exports it) to keep that module to the test; matplotlib is imported lazily.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .rangetest import FindResult

MARKERS = {"valley": "o", "steep": "v", "minimum": "s", "slide": "D", "gradient": "^"}
_COLORS = {"valley": "#d62728", "steep": "#2ca02c", "minimum": "#9467bd", "slide": "#ff7f0e", "gradient": "#8c564b"}


def loss_at(found: FindResult, lr: float) -> float:
    """The seeds' mean smoothed loss at rate `lr`, interpolated on log(rate) (where a marker sits).

    The plot places each suggestion's marker on the curve with it.

    Args:
        found: the range tests.
        lr: a rate (> 0); NaN, infinite or <= 0 gives NaN.

    Returns:
        The interpolated loss, NaN when there is no finite point or no valid rate.

    Examples:
        >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker, loss_at
        >>> tracker = Tracker(beta=0.0)                  # no smoothing: smoothed == losses
        >>> _ = [tracker.add(loss) for loss in (1.0, 0.5)]
        >>> found = FindResult([RangeTest.from_tracker([0.01, 1.0], tracker, Settings(steps=2))])
        >>> loss_at(found, 0.1)                          # half way on the log axis
        0.75
    """
    mean = np.nanmean(found.smoothed, axis=0) if len(found.runs) > 1 else found.smoothed[0]
    ok = np.isfinite(mean)
    if not ok.any() or not math.isfinite(lr) or lr <= 0:
        return math.nan
    return float(np.interp(np.log(lr), np.log(found.lrs[ok]), mean[ok]))


def y_limits(found: FindResult) -> tuple[float, float]:
    """A loss axis that shows the descent: from just under the lowest smoothed loss to a quarter of the descent
    above the highest loss of the first tenth (a diverging tail would otherwise flatten the picture).

    Args:
        found: the range tests.

    Returns:
        (low, high) for the loss axis; (0.0, 1.0) when no smoothed loss is finite.

    Examples:
        >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker, y_limits
        >>> tracker = Tracker(beta=0.0)
        >>> _ = [tracker.add(loss) for loss in (1.0, 0.5, 40.0)]
        >>> found = FindResult([RangeTest.from_tracker([0.01, 0.1, 1.0], tracker, Settings(steps=3))])
        >>> y_limits(found)                              # the tail at 40 is cut off
        (0.475, 1.125)
    """
    sm = found.smoothed
    finite = sm[np.isfinite(sm)]
    if not finite.size:
        return 0.0, 1.0
    low = float(finite.min())
    first = sm[:, : max(1, sm.shape[1] // 10)]
    start = float(np.nanmax(first)) if np.isfinite(first).any() else float(finite.max())
    span = max(start - low, 0.05 * abs(start), 1e-12)
    return low - 0.05 * span, start + 0.25 * span


def _draw(found: FindResult, ax: Any, title: str) -> Any:
    """Draw onto `ax` (a new Agg figure when None; no pyplot)."""
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 5), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    lrs, sm = found.lrs, found.smoothed
    if len(found.runs) == 1:
        ax.plot(found.runs[0].lrs, found.runs[0].losses, color="#1f77b4", alpha=0.25, lw=0.8, label="loss")
        ax.plot(lrs, sm[0], color="#1f77b4", lw=1.8, label="smoothed loss")
    else:
        with np.errstate(all="ignore"):
            low, high = np.nanmin(sm, axis=0), np.nanmax(sm, axis=0)
            mean = np.nanmean(sm, axis=0)
        ax.fill_between(lrs, low, high, color="#1f77b4", alpha=0.2, lw=0,
                        label=f"band over {len(found.runs)} seeds")
        for row in sm:
            ax.plot(lrs, row, color="#1f77b4", alpha=0.35, lw=0.7)
        ax.plot(lrs, mean, color="#1f77b4", lw=1.8, label="mean smoothed loss")
    spread = found.spread
    for rule, lr in found.suggestions.items():
        if not math.isfinite(lr):
            continue
        low, high = spread[rule]
        y = loss_at(found, lr)
        xerr = [[max(lr - low, 0.0)], [max(high - lr, 0.0)]]
        ax.errorbar([lr], [y], xerr=xerr, fmt=MARKERS[rule], color=_COLORS[rule], markersize=8, capsize=3,
                    zorder=5, label=f"{rule} {lr:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(*y_limits(found))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Write the figure by its suffix (png, svg, pdf), with no date or version in the file."""
    import matplotlib

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise ValueError(f"output {str(path)!r} must end in .png, .svg, .pdf (got suffix {path.suffix!r})")
    meta = {".svg": {"Date": None, "Creator": None},
            ".pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}}.get(
        suffix, {"Software": None})
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.hashsalt": "lrlab"}):
        fig.savefig(path, format=suffix[1:], metadata=meta)
    return path
