"""The schedule a population-based training run learned, as specs to paste: the winner's lineage as a piecewise
constant spec that gives its rates step for step, and the closest smooth spec of the standard families.

A PBT member trains one rate per interval; its lineage (the member it descended from at each interval) gives the
rate of every step it trained with. `lineage_spec` writes those rates as one `piecewise` (a `constant` when they
never changed), so `spec(t)` IS the winner's rate at step t. `fit_smooth` fits constant, exponential, cosine,
step_decay and wsd schedules to those step rates in log space (scipy.optimize.least_squares where a family has a
continuous shape parameter, a grid over its step-valued ones) and reports each one's error: the root mean square of
ln(fit(t)) - ln(rate(t)) over the steps (0.1 is about 10% off at a typical step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ... import _check
from ...schedules import Schedule, constant, cosine, exponential, piecewise, step_decay, wsd

FAMILIES = ("constant", "exponential", "cosine", "step_decay", "wsd")
"""The smooth families `fit_smooth` tries, in the order it reports them."""

SIGNIFICANT = 4
"""Fitted numbers are rounded to this many significant digits (a spec to paste), and the error is the rounded
spec's."""


def lineage_spec(values: Sequence[float], interval_steps: int) -> Schedule:
    """The piecewise constant schedule of one rate per interval: `values[i]` for steps i * interval_steps ..
    (i + 1) * interval_steps - 1 (the last value holds on past the end).

    Neighbouring intervals of equal rate merge into one piece; one rate in all gives `constant(rate)`. The rates
    are kept exactly (a spec's repr writes floats in full), so the spec read back gives the same floats.

    Args:
        values: the rate of each interval, in order (each >= 0).
        interval_steps: optimizer steps per interval (>= 1).

    Raises:
        ValueError: no values, a negative or non-finite rate, or interval_steps < 1.

    Examples:
        >>> from lrlab.lab.studies.pbt_export import lineage_spec
        >>> lineage_spec([0.1, 0.1, 0.05], 10)
        piecewise([19], values=[0.1, 0.05])
        >>> lineage_spec([0.02, 0.02], 10)
        constant(0.02)
    """
    steps = _check.whole("lineage_spec", "interval_steps", interval_steps, 1)
    rates = [_check.rate("lineage_spec", "values", v) for v in values]
    if not rates:
        raise _check.fail("lineage_spec", "values", "a non-empty list of rates", values)
    bounds, kept = [], [rates[0]]
    for i, rate in enumerate(rates[1:], start=1):
        if rate != kept[-1]:
            bounds.append(i * steps - 1)  # right-inclusive: the piece before ends at the interval's last step
            kept.append(rate)
    return constant(kept[0]) if not bounds else piecewise(bounds, kept)


@dataclass(frozen=True)
class Fit:
    """One smooth family fitted to step rates: the family, the fitted spec, and its error in log space.

    Args:
        family: constant, exponential, cosine, step_decay or wsd.
        schedule: the fitted schedule (numbers rounded to SIGNIFICANT digits).
        error: the root mean square of ln(schedule(t)) - ln(rate(t)) over the steps.

    Examples:
        >>> from lrlab.lab.studies.pbt_export import fit_smooth
        >>> best = fit_smooth([0.1] * 5 + [0.01] * 5, interval_steps=5)[0]
        >>> best.family, best.schedule, round(best.error, 6)
        ('step_decay', step_decay(0.1, drop=0.1, step_size=5), 0.0)
    """

    family: str
    schedule: Schedule
    error: float


def _round(x: float) -> float:
    return float(f"{x:.{SIGNIFICANT}g}")


def _error(s: Schedule, log_rates: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        got = np.log(np.asarray(s(np.arange(len(log_rates))), dtype=np.float64))
    diff = got - log_rates
    return float(np.sqrt(np.mean(diff**2))) if np.all(np.isfinite(diff)) else math.inf


def _linear(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of y on x (slope 0 when x is constant)."""
    if np.ptp(x) == 0:
        return float(np.mean(y)), 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _candidates(total: int, interval_steps: int) -> list[int]:
    """The step-valued parameters tried: every multiple of the interval below the total (the rates change only
    there), at least one."""
    return list(range(interval_steps, total, interval_steps)) or [max(1, total // 2)]


def fit_smooth(rates: Sequence[float] | np.ndarray, interval_steps: int = 1) -> list[Fit]:
    """The standard families fitted to per-step rates in log space, best (smallest error) first.

    constant and exponential are closed-form least squares in ln(rate); step_decay is one per candidate step size
    (the multiples of `interval_steps`); cosine (its initial rate and alpha) and wsd (its peak and end rate, per
    candidate decay length and each decay shape) go through scipy.optimize.least_squares. Every family's length is
    the number of rates. A family that cannot fit (its numbers out of its range) is left out.

    Args:
        rates: the rate of every step (each > 0).
        interval_steps: the steps between possible rate changes (the PBT interval), which step_decay's step size
            and wsd's decay length are chosen among.

    Raises:
        ValueError: no rates, or a rate that is not a finite number > 0.

    Examples:
        >>> from lrlab.lab.studies.pbt_export import fit_smooth
        >>> fits = fit_smooth([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], interval_steps=2)
        >>> [(f.family, round(f.error, 3)) for f in fits][:2]
        [('step_decay', 0.0), ('exponential', 0.166)]
        >>> fits[0].schedule
        step_decay(0.1, drop=0.5, step_size=2)
    """
    r = np.asarray(rates, dtype=np.float64).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise _check.fail("fit_smooth", "rates", "a non-empty list of finite rates > 0", rates)
    interval_steps = _check.whole("fit_smooth", "interval_steps", interval_steps, 1)
    total = len(r)
    log_r = np.log(r)
    t = np.arange(total, dtype=np.float64)
    makers = {"constant": _constant, "exponential": _exponential, "cosine": _cosine, "step_decay": _step_decay,
              "wsd": _wsd}
    fits = []
    for family in FAMILIES:
        best: Fit | None = None
        for s in makers[family](log_r, t, total, interval_steps):
            try:
                err = _error(s, log_r)
            except (ValueError, FloatingPointError):
                continue
            if best is None or err < best.error:
                best = Fit(family, s, err)
        if best is not None and math.isfinite(best.error):
            fits.append(best)
    return sorted(fits, key=lambda f: (f.error, FAMILIES.index(f.family)))


def _safe(make: object, *args: object, **kwargs: object) -> list[Schedule]:
    try:
        return [make(*args, **kwargs)]  # type: ignore[operator]
    except ValueError:
        return []


def _constant(log_r: np.ndarray, t: np.ndarray, total: int, interval: int) -> list[Schedule]:
    return _safe(constant, _round(math.exp(float(np.mean(log_r)))))


def _exponential(log_r: np.ndarray, t: np.ndarray, total: int, interval: int) -> list[Schedule]:
    a, b = _linear(t / total, log_r)
    return _safe(exponential, _round(math.exp(a)), decay_steps=total, decay_rate=_round(math.exp(b)))


def _step_decay(log_r: np.ndarray, t: np.ndarray, total: int, interval: int) -> list[Schedule]:
    out = []
    for size in _candidates(total, interval):
        a, b = _linear(np.floor(t / size), log_r)
        out += _safe(step_decay, _round(math.exp(a)), drop=_round(math.exp(b)), step_size=size)
    return out


def _cosine(log_r: np.ndarray, t: np.ndarray, total: int, interval: int) -> list[Schedule]:
    from scipy.optimize import least_squares

    shape = 0.5 * (1 + np.cos(np.pi * t / total))

    def residual(p: np.ndarray) -> np.ndarray:
        return p[0] + np.log((1 - p[1]) * shape + p[1]) - log_r

    start = [float(log_r[0]), 0.1]
    got = least_squares(residual, start, bounds=([-np.inf, 1e-6], [np.inf, 1.0]))
    return _safe(cosine, _round(math.exp(got.x[0])), decay_steps=total, alpha=_round(float(got.x[1])))


def _wsd(log_r: np.ndarray, t: np.ndarray, total: int, interval: int) -> list[Schedule]:
    from scipy.optimize import least_squares

    out = []
    for decay in ("linear", "cosine", "1-sqrt"):
        for length in _candidates(total, interval):
            unit = wsd(1.0, total_steps=total, decay_steps=length, end_lr=0.0, decay=decay)
            fall = np.asarray(unit(np.arange(total)), dtype=np.float64)  # 1 in the stable phase, down to 0

            def residual(p: np.ndarray, fall: np.ndarray = fall) -> np.ndarray:
                end = math.exp(p[1])  # the end rate as a share of the peak (<= 1)
                return p[0] + np.log(end + (1 - end) * fall) - log_r

            got = least_squares(residual, [float(log_r[0]), -2.0], bounds=([-np.inf, -30.0], [np.inf, 0.0]))
            peak = _round(math.exp(got.x[0]))
            out += _safe(wsd, peak, total_steps=total, decay_steps=length,
                         end_lr=min(peak, _round(peak * math.exp(got.x[1]))), decay=decay)
    return out
