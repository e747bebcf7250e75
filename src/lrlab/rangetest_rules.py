"""The range test's suggestion rules: each reads a recorded (rate, smoothed loss) curve and gives one rate. Apart
from `lrlab.rangetest` (which re-exports them) so the rules, restated from their references, are read on their own.

Each rule equals its reference's rule on the same curve (the references' sources are cited in each rule; they are
restated here, not imported):

| rule | reference | the rate it gives |
|---|---|---|
| `valley` | fastai (its default) | in the longest decreasing stretch of losses, about half way along |
| `steep` | fastai | left end of the steepest segment of loss against log(rate) |
| `minimum` | fastai | the rate at the lowest loss, / 10 |
| `slide` | fastai | the interval slide rule on the loss gradient |
| `gradient` | torch-lr-finder (`plot(suggest_lr=True)`) | argmin of `np.gradient(loss)`, skipping 10 first, 5 last |

`gradient(..., spacing="lr", skip_end=1)` is Lightning's `suggestion()` (the gradient against the rate itself,
which on an exponential sweep favours the last points: the log spacing ignored).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _check

FASTAI_SKIP_END = 5
"""fastai's `lr_find` drops the first `num_it // 10` and the last 5 points before its rules."""


def _arrays(lrs: Any, losses: Any) -> tuple[np.ndarray, np.ndarray]:
    lrs, losses = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    if lrs.shape != losses.shape or lrs.ndim != 1:
        raise ValueError(f"lrs and losses must be 1-D and of one length, got shapes {lrs.shape} and {losses.shape}")
    return lrs, losses


def valley(lrs: Any, losses: Any) -> float:
    """fastai's `valley` (fastai/callback/schedule.py): the longest strictly decreasing subsequence of the losses,
    of length L, ending at the first index `end` that reaches L; the valley is `end - L .. end` (fastai's start is
    one before the subsequence's first point) and the rate is `int(L / 3) + int(L / 6)` points into it. NaN for no
    points.

    fastai's default rule: a rate well inside the descent, away from both the flat start and the blow-up.
    Equals a restatement of fastai's double loop on 60 random curves (tests/test_rangetest.py,
    test_valley_and_slide_equal_fastais_loops).

    Args:
        lrs: the rate of each point (1-D).
        losses: the (smoothed) loss of each point, as long as `lrs`.

    Returns:
        The suggested rate (a float), NaN for an empty curve.

    Raises:
        ValueError: lrs and losses are not 1-D arrays of one length.

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import valley
        >>> round(valley(lrs, losses), 6)
        0.000681
    """
    lrs, losses = _arrays(lrs, losses)
    n = len(losses)
    if n == 0:
        return math.nan
    lds = np.ones(n, dtype=np.int64)  # longest decreasing subsequence ending at each index
    end = 0
    for i in range(1, n):
        lds[i] = max(1, int((lds[:i][losses[:i] > losses[i]] + 1).max(initial=1)))
        if lds[i] > lds[end]:
            end = i
    length = int(lds[end])
    sections = length / 3
    return float(lrs[end - length + int(sections) + int(sections / 2)])


def steep(lrs: Any, losses: Any) -> float:
    """fastai's `steep`: the rate at the left end of the segment where the loss falls fastest against log(rate),
    `argmin(diff(loss) / diff(log(lr)))`. NaN for fewer than 2 points.

    Checked on hand-computed curves (tests/test_rangetest.py, test_steep_minimum_by_hand).

    Args:
        lrs: the rate of each point (1-D, > 0).
        losses: the (smoothed) loss of each point, as long as `lrs`.

    Returns:
        The suggested rate, NaN for fewer than 2 points.

    Raises:
        ValueError: lrs and losses are not 1-D arrays of one length.

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import steep
        >>> steep(lrs, losses)    # the parabola falls fastest at its left end
        0.0001
    """
    lrs, losses = _arrays(lrs, losses)
    if len(losses) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        grads = np.diff(losses) / np.diff(np.log(lrs))
    if np.isnan(grads).all():
        return math.nan
    return float(lrs[int(np.nanargmin(grads)) if np.isnan(grads).any() else int(np.argmin(grads))])


def minimum(lrs: Any, losses: Any) -> float:
    """fastai's `minimum`: the rate at the lowest loss (the first, on ties), divided by 10. NaN for no points.

    A tenth of the rate at the bottom: the bottom itself is already too high to train at. Checked on
    hand-computed curves (tests/test_rangetest.py, test_steep_minimum_by_hand).

    Args:
        lrs: the rate of each point (1-D).
        losses: the (smoothed) loss of each point, as long as `lrs`; NaN points are ignored.

    Returns:
        The suggested rate, NaN for no (non-NaN) points.

    Raises:
        ValueError: lrs and losses are not 1-D arrays of one length.

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import minimum
        >>> round(minimum(lrs, losses), 6)       # the bottom is at 1e-2
        0.001
    """
    lrs, losses = _arrays(lrs, losses)
    if len(losses) == 0 or np.isnan(losses).all():
        return math.nan
    return float(lrs[int(np.nanargmin(losses))]) / 10


def slide(lrs: Any, losses: Any, lr_diff: int = 15, thresh: float = 0.005, adjust_value: float = 1.0) -> float:
    """fastai's `slide` (the interval slide rule): with g = np.gradient(loss), walk a pair of points `lr_diff` apart
    from the right end leftwards while |g[right] - g[left]| > thresh; the rate is the last left point passed (the
    first one when the first pair already agrees), times `adjust_value`. `thresh` is in loss units per point, as in
    fastai. NaN for fewer than `lr_diff + 1` points (fastai raises an IndexError there).

    Equals a restatement of fastai's loop on 60 random curves with several settings (tests/test_rangetest.py,
    test_valley_and_slide_equal_fastais_loops).

    Args:
        lrs: the rate of each point (1-D).
        losses: the (smoothed) loss of each point, as long as `lrs`.
        lr_diff: the distance between the two points compared, in points (fastai's 15).
        thresh: the largest gradient difference at which the two points agree, in loss units per point
            (fastai's 0.005).
        adjust_value: a factor applied to the rate found (fastai's 1.0).

    Returns:
        The suggested rate, NaN for fewer than `lr_diff + 1` points.

    Raises:
        ValueError: lrs and losses are not 1-D arrays of one length.

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import slide
        >>> slide(lrs, losses)
        0.0001
        >>> slide(lrs[:10], losses[:10])     # fewer than lr_diff + 1 points
        nan
    """
    lrs, losses = _arrays(lrs, losses)
    n = len(losses)
    if n < max(lr_diff + 1, 2):
        return math.nan
    g = np.gradient(losses)
    right = g[n - 1 :: -1][: n - lr_diff]  # g[-1], g[-2], ... ; pairs while the left index stays >= -n
    left = g[n - 1 - lr_diff :: -1]
    apart = ~(np.abs(right - left) <= thresh)  # NaN counts as agreeing: fastai's `>` is False there
    moves = int(np.argmin(apart)) if not apart.all() else len(apart)  # passes of fastai's while loop
    return float(lrs[n - 1 - lr_diff - max(moves - 1, 0)]) * adjust_value


def gradient(lrs: Any, losses: Any, skip_start: int = 10, skip_end: int = 5, spacing: str = "index") -> float:
    """The argmin of the loss gradient, after dropping `skip_start` first and `skip_end` last points.

    spacing="index" with the defaults is torch-lr-finder's `plot(suggest_lr=True)` (torch_lr_finder/lr_finder.py:
    `np.gradient(losses).argmin()` on `losses[skip_start:-skip_end]`, skip_start=10, skip_end=5); on an
    exponential sweep that is the gradient against log(rate). spacing="lr" with skip_end=1 is Lightning's
    `_LRFinder.suggestion()` (lightning/pytorch/tuner/lr_finder.py: non-finite losses dropped, then
    `torch.gradient(losses, spacing=[lrs])`). skip_end=0 keeps the end (torch-lr-finder's reading). NaN for fewer
    than 2 points left.

    The spacing="lr" reading equals a restatement of Lightning's `suggestion()` on 40 random curves
    (tests/test_rangetest.py, test_gradient_with_lr_spacing_equals_lightnings_suggestion); torch-lr-finder's is
    checked by hand (test_gradient_by_hand).

    Args:
        lrs: the rate of each point (1-D).
        losses: the (smoothed) loss of each point, as long as `lrs`.
        skip_start: points dropped at the start (an integer >= 0; torch-lr-finder's 10, Lightning's skip_begin).
        skip_end: points dropped at the end (an integer >= 0; torch-lr-finder's 5, Lightning's 1).
        spacing: "index" (the gradient per point) or "lr" (against the rate itself; non-finite losses dropped).

    Returns:
        The suggested rate, NaN for fewer than 2 points left.

    Raises:
        ValueError: a bad skip or spacing, or lrs and losses of different shapes.

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import gradient
        >>> round(gradient(lrs, losses), 6)
        0.004642
        >>> gradient(lrs, losses, skip_start=0, skip_end=0)
        0.0001
    """
    lrs, losses = _arrays(lrs, losses)
    skip_start = _check.whole("gradient", "skip_start", skip_start, 0)
    skip_end = _check.whole("gradient", "skip_end", skip_end, 0)
    spacing = _check.choice("gradient", "spacing", spacing, ("index", "lr"))
    end = len(losses) - skip_end
    lrs, losses = lrs[skip_start:end], losses[skip_start:end]
    if spacing == "lr":
        finite = np.isfinite(losses)
        lrs, losses = lrs[finite], losses[finite]
    if len(losses) < 2:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.gradient(losses) if spacing == "index" else np.gradient(losses, lrs)
    if np.isnan(g).all():
        return math.nan
    return float(lrs[int(np.nanargmin(g))])


def suggest(lrs: Any, smoothed: Any, steps: int | None = None) -> dict[str, float]:
    """Every rule's rate on a recorded curve, each on its reference's window: fastai's rules on
    `[steps // 10 : -5]` cut at the first non-finite loss (fastai's `lr_find`; steps: the test's planned length,
    default the curve's), `gradient` on torch-lr-finder's (10 first, 5 last dropped). NaN where too few points.

    The windows are checked against fastai's `lr_find` and torch-lr-finder (tests/test_rangetest.py,
    test_suggest_uses_each_references_window).

    Args:
        lrs: the rate of each recorded update (1-D).
        smoothed: the smoothed loss of each update, as long as `lrs`.
        steps: the test's planned number of updates (its `Settings.steps`; fastai drops the first `steps // 10`
            points), or None for `len(lrs)`.

    Returns:
        A dict from rule name (RULES: valley, steep, minimum, slide, gradient) to rate (NaN: too few points).

    Examples:
        >>> import numpy as np
        >>> lrs = np.geomspace(1e-4, 1.0, 25)          # an exponential sweep, 25 updates
        >>> losses = (np.log10(lrs) + 2) ** 2           # a valley with its bottom at 1e-2
        >>> from lrlab.rangetest import suggest
        >>> {rule: round(lr, 6) for rule, lr in suggest(lrs, losses).items()}
        {'valley': 0.000681, 'steep': 0.000215, 'minimum': 0.001, 'slide': 0.000215, 'gradient': 0.004642}
    """
    lrs, smoothed = _arrays(lrs, smoothed)
    steps = len(lrs) if steps is None else steps
    window = slice(steps // 10, max(len(lrs) - FASTAI_SKIP_END, 0))
    wl, ws = lrs[window], smoothed[window]
    bad = np.flatnonzero(~np.isfinite(ws))
    if bad.size:
        wl, ws = wl[: bad[0]], ws[: bad[0]]
    return {
        "valley": valley(wl, ws),
        "steep": steep(wl, ws),
        "minimum": minimum(wl, ws),
        "slide": slide(wl, ws),
        "gradient": gradient(lrs, smoothed),
    }
