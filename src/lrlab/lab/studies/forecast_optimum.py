"""Using a fitted loss law: rank candidate schedules by their forecast final loss, and search the schedule of
each standard family (cosine, exponential, wsd) the law likes best (`optimise`, scipy's differential evolution)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import _check

if TYPE_CHECKING:
    from .forecast import Forecast


def rank(fc: Forecast, specs: Sequence[Any], steps: int) -> list[tuple[str, float]]:
    """(spec, predicted final loss) of every candidate schedule bound to `steps` updates, best (lowest) first.

    This is what a tuner calls to train only the most promising candidates: `rank(fit(runs), specs, steps)`. A
    candidate whose forecast is not finite ranks last.

    Args:
        fc: the Forecast.
        specs: the candidate specs or Schedules.
        steps: the horizon in optimizer steps.

    Examples:
        >>> from lrlab.lab.studies.forecast import Forecast, rank
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> [(spec, round(final, 6)) for spec, final in rank(fc, ["cosine(0.1)", "constant(0.1)"], 50)]
        [('constant(0.1)', 2.139192), ('cosine(0.1)', 2.146458)]
    """
    out = [(s if isinstance(s, str) else repr(s), fc.predict(s, steps).final) for s in specs]
    return sorted(out, key=lambda item: (not math.isfinite(item[1]), item[1]))


@dataclass
class Optimum:
    """The schedule shape that minimises the fitted law's final loss, and the best of every family searched.

    What `optimise` returns; `spec` parses back with lrlab.parse.

    Args:
        spec: the best schedule's spec.
        final: its predicted final loss.
        families: family name -> (its best spec, predicted final loss).

    Examples:
        >>> from lrlab.lab.studies.forecast import Optimum
        >>> Optimum("cosine(0.1, decay_steps=50)", 2.15, {"cosine": ("cosine(0.1, decay_steps=50)", 2.15)}).spec
        'cosine(0.1, decay_steps=50)'
    """

    spec: str
    final: float
    families: dict[str, tuple[str, float]]


def _families(steps: int, warmup: int, low: float, peak: float) -> dict[str, tuple[list[tuple[float, float]], Any]]:
    """Each family: the bounds of its free numbers and the spec they make (non-increasing after `warmup`)."""
    from ...schedules import cosine, exponential, wsd
    from ...schedules import warmup as with_warmup

    span = steps - warmup

    def _wsd(kind: str) -> Any:
        def make(x: np.ndarray) -> Any:
            p, d, e = float(x[0]), round(float(x[1])), float(x[2])
            return wsd(p, total_steps=steps, warmup_steps=warmup, decay_steps=min(max(d, 1), span),
                       end_lr=min(p, float(f"{e * p:.4g}")) if e > 1e-4 else 0.0, decay=kind)
        return [(low, peak), (1, span), (0.0, 1.0)], make

    def _cos(x: np.ndarray) -> Any:
        if warmup:  # Keras's warmup: from initial_lr up to warmup_target, then the decay from the target
            return cosine(0.0, decay_steps=span, alpha=float(x[1]), warmup_target=float(x[0]), warmup_steps=warmup)
        return cosine(float(x[0]), decay_steps=span, alpha=float(x[1]))

    def _exp(x: np.ndarray) -> Any:
        s = exponential(float(x[0]), decay_steps=span, decay_rate=float(x[1]))
        return with_warmup(s, warmup) if warmup else s

    out = {f"wsd {kind}": _wsd(kind) for kind in ("linear", "cosine", "1-sqrt")}
    out["cosine"] = ([(low, peak), (0.0, 1.0)], _cos)
    out["exponential"] = ([(low, peak), (1e-4, 1.0)], _exp)
    return out


def optimise(fc: Forecast, steps: int, *, peak: float | None = None, low: float | None = None, warmup: int = 0,
             seed: int = 0, maxiter: int = 40) -> Optimum:
    """The schedule that minimises the fitted law's predicted final loss over `steps` updates.

    Searched (scipy.optimize.differential_evolution, deterministic for a seed) within families of existing kinds,
    each non-increasing after `warmup` steps: wsd(peak, decay_steps, end_lr, decay=linear|cosine|1-sqrt),
    cosine(peak, alpha) and exponential(peak, decay_rate). The peak rate is kept within [low, peak] (default: the
    range of the fitting runs' largest rates; the law is not trusted to extrapolate to rates it never saw).

    Args:
        fc: the Forecast.
        steps: the horizon in optimizer steps (2 to MAX_HORIZON).
        peak: the highest peak rate searched (None: the fitting runs' largest rate).
        low: the lowest peak rate searched (None: the smallest of the fitting runs' largest rates).
        warmup: linear warmup steps every family starts with (0..steps-2).
        seed: the search's seed.
        maxiter: differential evolution's generations per family.

    Returns:
        An Optimum: the best spec (it parses back with lrlab.parse; its numbers rounded to 4 significant digits,
        `lrlab.schedules.spec.rounded`, and its forecast that of the rounded spec) and the best of each family.

    Examples:
        >>> from lrlab.lab.studies.forecast import Forecast, optimise
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> best = optimise(fc, 50, peak=0.1, low=0.1, maxiter=2)
        >>> sorted(best.families)
        ['cosine', 'exponential', 'wsd 1-sqrt', 'wsd cosine', 'wsd linear']
        >>> best.final == min(final for _, final in best.families.values())
        True
    """
    from scipy.optimize import differential_evolution

    from ...schedules.spec import parse, rounded
    from .forecast import horizon

    steps = horizon(steps, "optimise")
    warmup = _check.whole("optimise", "warmup", warmup, 0, steps - 2)
    peaks = [float(c.lrs.max()) for c in fc.curves] or [fc.scale]
    hi = _check.positive("optimise", "peak", max(peaks) if peak is None else peak)
    lo = _check.positive("optimise", "low", min(peaks) if low is None else low)
    lo = min(lo, hi)
    families = {}
    for name, (bounds, make) in _families(steps, warmup, lo, hi).items():
        if lo == hi:  # the peak is fixed: search the other numbers only

            def make(x: np.ndarray, inner: Any = make) -> Any:
                return inner(np.concatenate([[hi], x]))

            bounds = bounds[1:]

        def cost(x: np.ndarray, make: Any = make) -> float:
            value = fc.final(make(x)(np.arange(steps)))
            return value if math.isfinite(value) and value > 0 else 1e30  # a loss <= 0: the law extrapolates

        res = differential_evolution(cost, bounds, seed=seed, maxiter=maxiter, popsize=12, tol=1e-8, polish=False)
        sched = make(res.x)
        spec = rounded(repr(sched))  # what is handed out, and what its forecast is of
        try:
            sched = parse(spec)
        except ValueError:  # a rounded number its parameter refuses (none known): the exact spec
            spec = repr(sched)
        families[name] = (spec, fc.final(sched(np.arange(steps))))
    best = min(families.values(), key=lambda item: item[1])
    return Optimum(spec=best[0], final=best[1], families=families)
