"""Loss laws over the learning-rate curve: fit one to a few runs of a task, then forecast the training-loss curve of
any other schedule without training it (and search the schedule the fitted law likes best).

Two laws, each a function of the rate sequence (numpy only; written in lrlab.lab.studies.forecast_laws, named here):
- `multi_power`: the multi-power law of Luo et al. 2025 (arXiv 2503.12811);
- `tissue`: the law of Tissue et al. 2024, "Scaling law with learning rate annealing" (arXiv 2408.11029).
Ranking candidates by a fit and the best schedule of each family (`rank`, `optimise`) are in
lrlab.lab.studies.forecast_optimum, named here too.

Conventions (one place): `lrs[i]` is the rate of update i+1 (a Run's `step_lr`), so the loss after t updates,
L(t), t = 1..T, depends on lrs[:t]. A Run's `step_loss[t]` is the batch loss seen by update t+1, i.e. measured on
the parameters after t updates: it is the observation of L(t) (step_loss[0], before any update, is not used).

Fitting (`fit`): the per-step batch loss is noisy, so each run's updates 1..T-1, less the first `skip` fraction
(default 10%: the power laws blow up where the rate area is near 0), are cut into `bins` contiguous blocks of equal
length and the law is compared on the block means: observed = mean batch loss of the block, predicted = mean of
L(t) over (up to `per_bin` evenly spaced steps of) the same block. A Curve given as points (`steps`: a validation
loss every N steps, a paper's smoothed CSV) is compared point by point, no interpolation. The residual is
log(observed) - log(predicted); the parameters minimise its Huber loss (delta 1e-3) as Luo et al. fit, from starts
made by the authors' reduced model (`lrlab.lab.studies.forecast_fit`). Rates are divided by the largest fitting rate
first (the fit's `scale`), so the parameters are of order one; `Forecast.params` are in those units
(`forecast_fit.in_rate_units` converts them). On the paper's own curves this reproduces its forecasts
(`forecast_paper`; bench/forecast.py paper).

Horizons (the steps a forecast binds a schedule to and predicts over) are at most MAX_HORIZON (50,000) updates:
the multi-power law's exact curve costs (updates) x (changes of the rate), so a longer one is refused in one line
before anything is computed; the curve is evaluated in blocks of rows, so its memory stays bounded (about 32 MB).

"Final loss" everywhere (fitting check, predictions, measurements) is the mean over the last block of a curve:
the last max(1, T // bins) updates, so a forecast and a measured run are compared on the same steps.

Fit quality: `Forecast.quality` holds the in-sample relative error (mean over blocks, and of the final loss) and,
with two or more fitting schedules, leave-one-schedule-out errors (refit without one schedule's runs, predict
them): relative, in nats, next to the schedule effect (the spread of the fitting schedules' final losses), and the
pairs of schedules whose order those forecasts reverse. When an error passes the thresholds, the order is reversed,
or no fitting schedule drops its rate clearly (the decay term is then not identified), `Forecast.warning` says so
(and `fit` issues a UserWarning); see `lrlab.lab.studies.forecast_checks`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _check
from .forecast_fit import HUBER_DELTA  # noqa: F401 (the fit's Huber delta, named here too)
from .forecast_laws import (  # noqa: F401 (the laws are part of this module's API)
    FIT_TERMS,
    LAWS,
    PARAMS,
    TISSUE_LAMBDA,
    _at,
    _rates,
    law_from,
    law_terms,
    multi_power,
    multi_power_from,
    multi_power_terms,
    tissue,
    tissue_from,
    tissue_terms,
)
from .forecast_optimum import Optimum, optimise, rank  # noqa: F401 (using a fit: part of this module's API)

WARN_IN_SAMPLE = 0.03  # mean relative error of the fitted curves (beyond twice their noise) past which the law fails
WARN_HELD_OUT = 0.10  # relative error of a left-out schedule's final loss past which the law is said not to hold
MAX_HORIZON = 50_000
"""The longest horizon, in updates, a forecast binds a schedule to (`horizon`; module docstring)."""
_CELLS = 2**22  # the multi-power law's terms (rows x changes of the rate) evaluated at once by Forecast.curve


def horizon(steps: Any, who: str = "forecast") -> int:
    """A forecast horizon checked: a whole number of updates in [2, MAX_HORIZON], or a one-line ValueError.

    Args:
        steps: the horizon in optimizer steps.
        who: the name the message starts with.

    Examples:
        >>> from lrlab.lab.studies.forecast import horizon
        >>> horizon(100)
        100
        >>> horizon(10**8)
        Traceback (most recent call last):
        ...
        ValueError: forecast: steps must be a whole number in [2, 50000], got 100000000
    """
    return int(_check.whole(who, "steps", steps, 2, MAX_HORIZON))


# -- curves: what a run gives the fit ----------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """One training-loss curve: the rate of every update and the loss observed after t updates.

    Dense (no `steps`): loss[t] for t = 1..T-1 is the observation of L(t); loss[0] is the loss before training (not
    used). As points (`steps` given): loss[i] is the observation of L(steps[i]), steps strictly increasing in
    [1, T] (numbers of updates done when the loss was measured), so a sparse, smoothed or evaluation-only curve (a
    validation loss every N steps, a paper's CSV) is fitted on its own points, no interpolation; the rates are still
    every update's. `Curve.from_run` takes a Run's step_lr and step_loss (refusing a diverged or too short run); `fit`
    takes Runs or Curves.

    Args:
        label: what names it (the run's schedule).
        lrs: the rate of every update (float64 array).
        loss: the batch loss seen by every update (float64 array, same length), or the loss at each of `steps`.
        steps: None (dense), or the numbers of updates t where `loss` was observed (same length as `loss`).

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, tissue
        >>> lrs = np.full(100, 0.1)
        >>> law = tissue(lrs, L0=2.0, A=0.3, alpha=0.5, C=0.02)  # L(1..100)
        >>> curve = Curve("constant(0.1)", lrs, np.concatenate([[3.0], law[:-1]]))
        >>> curve.label, curve.lrs.size, round(float(curve.loss[1]), 6)
        ('constant(0.1)', 100, 2.948683)

        The same law observed every 10 updates only:

        >>> steps = np.arange(10, 101, 10)
        >>> points = Curve("constant(0.1)", lrs, law[steps - 1], steps=steps)
        >>> points.steps.tolist()[:3], round(float(points.loss[0]), 6)
        ([10, 20, 30], 2.3)
    """

    label: str
    lrs: np.ndarray
    loss: np.ndarray
    steps: np.ndarray | None = None

    def __post_init__(self) -> None:
        """The curve's arrays as float64; a curve no law can be fitted to is one line, not scipy's traceback."""
        lrs, loss = np.asarray(self.lrs, np.float64), np.asarray(self.loss, np.float64)
        if self.steps is None:
            if lrs.ndim != 1 or lrs.shape != loss.shape or lrs.size < 8:
                raise ValueError(f"forecast: curve {self.label!r} needs lrs and loss of one length >= 8, got "
                                 f"{lrs.shape} and {loss.shape}")
        else:
            steps = np.asarray(self.steps)
            if lrs.ndim != 1 or lrs.size < 2 or steps.ndim != 1 or steps.shape != loss.shape or steps.size < 3:
                raise ValueError(f"forecast: curve {self.label!r} needs >= 2 rates and >= 3 steps with one loss "
                                 f"each, got {lrs.shape} rates, {steps.shape} steps and {loss.shape} losses")
            if not (np.issubdtype(steps.dtype, np.number) and np.all(np.isfinite(steps))
                    and np.all(steps == np.round(steps))):
                raise ValueError(f"forecast: curve {self.label!r} steps must be whole numbers, got "
                                 f"{_check.shown(self.steps)}")
            steps = steps.astype(np.int64)
            if steps[0] < 1 or steps[-1] > lrs.size or np.any(np.diff(steps) <= 0):
                raise ValueError(f"forecast: curve {self.label!r} steps must increase within [1, {lrs.size}] (the "
                                 f"updates its rates cover), got {_check.shown(self.steps)}")
            object.__setattr__(self, "steps", steps)
        if not (np.all(np.isfinite(loss)) and np.all(loss > 0) and np.all(np.isfinite(lrs)) and np.all(lrs >= 0)):
            raise ValueError(f"forecast: curve {self.label!r} needs finite losses > 0 and finite rates >= 0")
        object.__setattr__(self, "lrs", lrs)
        object.__setattr__(self, "loss", loss)

    @classmethod
    def from_run(cls, run: Any) -> Curve:
        """A run's curve (its step_lr and step_loss); a diverged, pruned or failed run is refused, and so is one
        too short, or one of a training function that never called `run.log_step` (no per-step losses)."""
        status = getattr(run, "status", "ok")
        who = f"run {run.id} ({run.label})" if run.id is not None else f"run {run.label} (not stored)"
        if status != "ok":
            raise ValueError(f"forecast: {who} {status}: only runs that finished can be fitted")
        lrs, loss = np.asarray(run.step_lr, np.float64), np.asarray(run.step_loss, np.float64)
        if loss.size == 0 and "experiment" in getattr(run, "config", {}):
            raise ValueError(f"forecast: {who} logged no per-step losses: its training "
                             "function must call run.log_step(loss) after every update to be fitted")
        if lrs.size < 8 or lrs.size != loss.size or not np.all(np.isfinite(loss)) or np.any(loss <= 0):
            raise ValueError(f"forecast: {who} has no usable loss curve")
        return cls(run.label, lrs, loss)


def blocks(n_updates: int, bins: int, skip: float = 0.0) -> list[np.ndarray]:
    """The steps a curve is fitted on, cut into blocks: t = 1..n_updates-1 less the first `skip` fraction.

    They are cut into at most `bins` contiguous blocks (as equal as possible, the last ending at the last step);
    the fit compares the law with each block's mean batch loss.

    Args:
        n_updates: the curve's number of updates T.
        bins: the most blocks.
        skip: the fraction of the first updates left out, in [0, 1).

    Examples:
        >>> from lrlab.lab.studies.forecast import blocks
        >>> [b.tolist() for b in blocks(10, 3)]
        [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
        >>> [b.tolist() for b in blocks(10, 3, skip=0.3)]
        [[3, 4, 5], [6, 7], [8, 9]]
    """
    t = np.arange(max(1, math.ceil(skip * n_updates)), n_updates)
    return [b for b in np.array_split(t, min(bins, t.size)) if b.size]


def final_window(n_updates: int, bins: int) -> int:
    """How many of the last updates the "final loss" averages: max(1, T // bins).

    A forecast and a measured run are compared on the same window.

    Args:
        n_updates: the curve's number of updates T.
        bins: the fit's blocks per curve.

    Examples:
        >>> from lrlab.lab.studies.forecast import final_window
        >>> final_window(200, 64), final_window(10, 64)
        (3, 1)
    """
    return max(1, n_updates // bins)


def _probe(block: np.ndarray, per_bin: int) -> np.ndarray:
    if block.size <= per_bin:
        return block
    return block[np.unique(np.linspace(0, block.size - 1, per_bin).round().astype(int))]


@dataclass
class _Prepared:
    """A curve's observations (block means, or its points) and the steps where the law is evaluated for each."""

    curve: Curve
    law: str
    observed: np.ndarray  # block means (dense curve) or the losses at its points
    terms: dict[str, np.ndarray]  # the law's parameter-free terms at every probe step
    owner: np.ndarray  # block index of each probe
    parts: list[np.ndarray]  # the steps of each block
    at: np.ndarray  # the probe steps
    eta_at: np.ndarray  # the rate (divided by the scale) of the update at each probe step, lrs[t - 1]

    def predicted(self, params: Sequence[float]) -> np.ndarray:
        values = law_from(self.law, self.terms, params)
        sums = np.bincount(self.owner, weights=values, minlength=self.observed.size)
        return sums / np.bincount(self.owner, minlength=self.observed.size)


def _observations(curve: Curve, bins: int, per_bin: int, skip: float) -> tuple[np.ndarray, list[np.ndarray],
                                                                                 list[np.ndarray]]:
    """(observed values, steps of each observation, probe steps of each): block means of a dense curve, or the
    points of a curve given as points (each its own block), less the first `skip` fraction of the updates."""
    if curve.steps is None:
        parts = blocks(curve.lrs.size, bins, skip)
        return np.array([curve.loss[b].mean() for b in parts]), parts, [_probe(b, per_bin) for b in parts]
    keep = curve.steps >= max(1, math.ceil(skip * curve.lrs.size))
    if not keep.any():
        raise ValueError(f"forecast: curve {curve.label!r} has no point past skip={skip:g} of its updates")
    parts = [np.array([t]) for t in curve.steps[keep]]
    return curve.loss[keep], parts, parts


def _prepare(curve: Curve, law: str, scale: float, bins: int, per_bin: int, skip: float,
             exact: bool = False) -> _Prepared:
    from .forecast_fit import fit_terms

    observed, parts, probes = _observations(curve, bins, per_bin, skip)
    owner = np.concatenate([np.full(p.size, i) for i, p in enumerate(probes)])
    at = np.concatenate(probes)
    eta = curve.lrs / scale
    if law == "multi_power" and not exact:
        terms = multi_power_terms(eta, at, fit_terms(at.size, int(np.count_nonzero(np.diff(eta)))))
    else:
        terms = law_terms(law, eta, at)
    return _Prepared(curve, law, observed, terms, owner, parts, at, eta[at - 1])


# -- the fit ----------------------------------------------------------------------------------------------
@dataclass
class Forecast:
    """A law fitted to some curves: predicts the loss curve of any rate sequence or schedule.

    `fit` makes one; `curve`, `final` and `predict` forecast, `summary` says how well it fits. Rates are divided by
    `scale` before the law sees them, so `params` are in those units.

    Args:
        law: "multi_power" or "tissue".
        params: the fitted parameters by name (PARAMS[law] order).
        scale: the rate the sequences are divided by.
        curves: the fitting curves.
        bins: blocks per curve (also sets the final-loss window).
        per_bin: evaluation steps per block.
        skip: the fraction of each curve's first updates left out of the fit.
        cost: the fit's Huber cost.
        quality: in-sample and leave-one-schedule-out errors (see the module docstring).
        warning: a sentence when the law does not hold on these runs, else None.

    Examples:
        A Forecast with known parameters (a fit's would come from `fit`):

        >>> from lrlab.lab.studies.forecast import Forecast
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> fc.curve([0.1, 0.1, 0.05, 0.05]).round(6).tolist()
        [2.948683, 2.67082, 2.599, 2.545724]
    """

    law: str
    params: dict[str, float]
    scale: float
    curves: list[Curve]
    bins: int
    per_bin: int
    skip: float
    cost: float
    quality: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None

    def curve(self, lrs: Any, at: Any = None) -> np.ndarray:
        """Predicted L(t) for the rate sequence `lrs`, at the steps `at` (1..T; default all).

        The exact law (no grouping of the rate's changes) on the rates divided by `scale`.

        Args:
            lrs: the rate of every update.
            at: the steps t (numbers of updates, 1..T); None: all.

        Examples:
            >>> from lrlab.lab.studies.forecast import Forecast
            >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
            ...               per_bin=2, skip=0.1, cost=0.0)
            >>> fc.curve([0.1] * 4, at=[1, 4]).round(6).tolist()  # 2 + 0.3 * (0.1 t)**-0.5
            [2.948683, 2.474342]
        """
        eta, params = _rates(lrs) / self.scale, list(self.params.values())
        if self.law != "multi_power":
            return law_from(self.law, law_terms(self.law, eta, at), params)
        t = _at(at, eta.size)
        rows = max(1, _CELLS // max(1, int(np.count_nonzero(np.diff(eta)))))  # blocks of rows: bounded memory
        parts = [law_from(self.law, law_terms(self.law, eta, t[i : i + rows]), params)
                 for i in range(0, t.size, rows)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def final(self, lrs: Any) -> float:
        """Predicted final loss of a rate sequence: the mean of L(t) over its last `final_window` updates.

        The same window `measured_final` averages, so forecasts and measurements compare like with like.

        Args:
            lrs: the rate of every update.

        Examples:
            >>> from lrlab.lab.studies.forecast import Forecast
            >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
            ...               per_bin=2, skip=0.1, cost=0.0)
            >>> round(fc.final([0.1] * 8 + [0.05] * 8), 6)  # L(14) and L(15): a window of 16 // 8 = 2 updates
            2.276413
        """
        n = _rates(lrs).size
        w = final_window(n, self.bins)
        return float(self.curve(lrs, at=np.arange(max(1, n - w), n)).mean())

    def predict(self, spec: Any, steps: int) -> Prediction:
        """The predicted curve of a schedule, its left-out lengths bound to `steps` updates.

        Args:
            spec: a spec string or a Schedule.
            steps: the horizon in optimizer steps (2 to MAX_HORIZON).

        Returns:
            A Prediction (label, bound spec, rates, L(t) for t = 1..steps, final loss).

        Examples:
            >>> from lrlab.lab.studies.forecast import Forecast
            >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
            ...               per_bin=2, skip=0.1, cost=0.0)
            >>> p = fc.predict("cosine(0.1)", 50)
            >>> p.label, p.spec, p.loss.shape, round(p.final, 6)
            ('cosine(0.1)', 'cosine(0.1, decay_steps=50)', (50,), 2.146458)
        """
        sched = bind(spec, steps)
        lrs = sched(np.arange(steps))
        return Prediction(label=spec if isinstance(spec, str) else repr(spec), spec=repr(sched), lrs=lrs,
                          loss=self.curve(lrs), final=self.final(lrs))

    def summary(self) -> str:
        """One line: the law, its parameters (rates divided by `scale`) and the fit's errors.

        The in-sample error is shown next to the noise of the block means; with two or more fitting schedules also the
        leave-one-schedule-out final-loss error (mean and worst). It needs the `quality` a `fit` fills in.

        Examples:
            >>> import numpy as np
            >>> from lrlab import parse
            >>> from lrlab.lab.studies.forecast import Curve, fit, tissue
            >>> def curve(spec):
            ...     lrs = parse(spec).stretch(100)(np.arange(100))
            ...     return Curve(spec, lrs, np.concatenate([[3.0], tissue(lrs, 2.0, 0.3, 0.5, 0.02)[:-1]]))
            >>> fc = fit([curve("constant(0.1)"), curve("step_decay(0.1, 0.3, 50)")], law="tissue", bins=8, check=False)
            >>> law, errors = fc.summary().split(": ", 1)
            >>> law
            'tissue(L0=..., A=..., alpha=..., C=...; rates / 0.1)'
            >>> errors
            'in-sample error ...% mean (noise of the block means 0.12%)'
        """
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        q = self.quality
        text = (f"{self.law}({shown}; rates / {self.scale:g}): in-sample error {q['in_sample_mean']:.2%} mean "
                f"(noise of the block means {q['noise']:.2%})")
        if q.get("held_out_final") is not None:
            text += f", leave-one-schedule-out final-loss error {q['held_out_final_mean']:.2%} mean, " \
                    f"{q['held_out_final_worst']:.2%} worst"
            if q.get("schedule_effect"):
                worst = max(q["held_out_final_nats"].values())
                text += f" ({worst:.3g} nats: {worst / q['schedule_effect']:.0%} of the {q['schedule_effect']:.3g} " \
                        "spread of the fitting schedules' final losses)"
        return text


@dataclass
class Prediction:
    """A forecast of one schedule: its bound spec, rates, predicted L(t) for t = 1..T, and final loss.

    What `Forecast.predict` returns; `rank` sorts candidates by `final`.

    Args:
        label: the spec as given (or the Schedule's repr).
        spec: the schedule's repr with its lengths bound.
        lrs: the rate of every update.
        loss: predicted L(t), t = 1..T.
        final: the predicted final loss (mean over the last `final_window` updates).

    Examples:
        >>> from lrlab.lab.studies.forecast import Forecast
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> p = fc.predict("constant(0.1)", 4)
        >>> p.lrs.tolist(), p.loss.round(6).tolist()
        ([0.1, 0.1, 0.1, 0.1], [2.948683, 2.67082, 2.547723, 2.474342])
    """

    label: str
    spec: str
    lrs: np.ndarray
    loss: np.ndarray
    final: float


def bind(spec: Any, steps: int) -> Any:
    """The schedule of a spec (or Schedule) with left-out lengths bound to `steps` updates.

    A schedule whose lengths are all given is returned as it is; others are stretched (`Schedule.stretch`).

    Args:
        spec: a spec string or a Schedule.
        steps: the horizon in optimizer steps (2 to MAX_HORIZON).

    Examples:
        >>> from lrlab.lab.studies.forecast import bind
        >>> bind("cosine(0.1)", 100), bind("cosine(0.1, decay_steps=50)", 100)
        (cosine(0.1, decay_steps=100), cosine(0.1, decay_steps=50))
    """
    from ...schedules import Schedule, parse

    steps = horizon(steps)
    sched = spec if isinstance(spec, Schedule) else parse(spec)
    return sched if sched.is_bound else sched.stretch(steps)


def _as_curves(runs: Sequence[Any]) -> list[Curve]:
    out = [r if isinstance(r, Curve) else Curve.from_run(r) for r in runs]
    if not out:
        raise ValueError("forecast: no runs to fit (give at least one)")
    return out


def _solve(law: str, prepared: list[_Prepared]) -> tuple[np.ndarray, float]:
    """The law's parameters minimising the Huber loss of the log residuals (`forecast_fit.solve`)."""
    from .forecast_fit import solve

    return solve(law, prepared)


def compare_curve(fc: Forecast, curve: Curve) -> dict[str, float]:
    """A forecast against a measured curve (a Run or Curve) of the same rates.

    Returns curve_error (mean relative error over the blocks the fit uses), curve_worst (worst block), final_error
    (relative error of the final loss), predicted_final and measured_final. `lrlab forecast --check` prints them.

    Args:
        fc: the Forecast.
        curve: the measured Run or Curve.

    Examples:
        A curve made by the law itself is forecast exactly at the end:

        >>> import numpy as np
        >>> from lrlab import parse
        >>> from lrlab.lab.studies.forecast import Curve, Forecast, compare_curve, tissue
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> lrs = parse("cosine(0.1, decay_steps=50)")(np.arange(50))
        >>> curve = Curve("cosine", lrs, np.concatenate([[3.0], tissue(lrs, 2.0, 0.3, 0.5, 0.02)[:-1]]))
        >>> result = compare_curve(fc, curve)
        >>> sorted(result), round(result["final_error"], 6), round(result["measured_final"], 6)
        (['curve_error', 'curve_worst', 'final_error', 'measured_final', 'predicted_final'], 0.0, 2.146458)
    """
    curve = curve if isinstance(curve, Curve) else Curve.from_run(curve)
    p = _prepare(curve, fc.law, fc.scale, fc.bins, fc.per_bin, fc.skip, exact=True)  # exact terms, not grouped
    rel = np.abs(p.predicted(list(fc.params.values())) - p.observed) / p.observed
    measured = measured_final(curve, fc.bins)
    predicted = _predicted_final(fc, curve)
    return {"curve_error": float(rel.mean()), "curve_worst": float(rel.max()),
            "final_error": abs(predicted - measured) / measured, "predicted_final": predicted,
            "measured_final": measured}



def _noise(p: _Prepared) -> np.ndarray:
    """The relative standard error of each block mean of a prepared curve (NaN for one-step blocks and points)."""
    if p.curve.steps is not None:
        return np.full(p.observed.size, math.nan)
    out = []
    for b in p.parts:
        values = p.curve.loss[b]
        out.append(values.std(ddof=1) / math.sqrt(values.size) / values.mean() if values.size > 1 else math.nan)
    return np.array(out)


def _errors(fc: Forecast, curves: Sequence[Curve]) -> tuple[list[float], list[float]]:
    """Per curve: mean relative error over the blocks, and relative error of the final loss."""
    checked = [compare_curve(fc, c) for c in curves]
    return [c["curve_error"] for c in checked], [c["final_error"] for c in checked]


def measured_final(curve: Curve, bins: int) -> float:
    """A curve's measured final loss: the mean batch loss over its last `final_window` updates.

    Args:
        curve: the measured Curve.
        bins: the fit's blocks per curve (sets the window).

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, measured_final
        >>> curve = Curve("constant(0.1)", np.full(16, 0.1), np.arange(16, 0, -1, dtype=float))
        >>> measured_final(curve, bins=8)  # the last 2 losses, 2 and 1
        1.5
    """
    return float(curve.loss[_final_index(curve, bins)].mean())


def _final_index(curve: Curve, bins: int) -> Any:
    """Where a curve's final loss is read in `curve.loss`: the last `final_window` updates; for points, the points
    within them (the last point if none)."""
    n = curve.lrs.size
    w = final_window(n, bins)
    if curve.steps is None:
        return slice(max(1, n - w), n)
    inside = np.nonzero(curve.steps >= n - w)[0]
    return inside if inside.size else np.array([curve.steps.size - 1])


def _final_steps(curve: Curve, bins: int) -> np.ndarray:
    """The steps t (numbers of updates) a curve's final loss averages (see `_final_index`)."""
    if curve.steps is None:
        n = curve.lrs.size
        return np.arange(max(1, n - final_window(n, bins)), n)
    return curve.steps[_final_index(curve, bins)]


def final_error(fc: Forecast, curve: Curve) -> float:
    """Relative error of the forecast final loss of a curve's rates against its measured final loss.

    |forecast - measured| / measured, both over the last `final_window` updates; the leave-one-schedule-out check
    of `fit` averages it.

    Args:
        fc: the Forecast.
        curve: the measured Curve.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, Forecast, final_error
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.1, cost=0.0)
        >>> predicted = fc.final(np.full(16, 0.1))
        >>> curve = Curve("constant(0.1)", np.full(16, 0.1), np.full(16, predicted * 1.1))
        >>> round(final_error(fc, curve), 6)  # the measured loss is 10% above the forecast
        0.090909
    """
    measured = measured_final(curve, fc.bins)
    return abs(_predicted_final(fc, curve) - measured) / measured


def _predicted_final(fc: Forecast, curve: Curve) -> float:
    """The forecast final loss of a curve's rates, on the steps its measured final loss averages."""
    return float(fc.curve(curve.lrs, at=_final_steps(curve, fc.bins)).mean())


def fit(runs: Sequence[Any], law: str = "multi_power", *, bins: int = 64, per_bin: int = 2, skip: float = 0.1,
        check: bool = True, scale: float | None = None) -> Forecast:
    """Fit a law to the training-loss curves of `runs` (Runs of one task, or Curves).

    Each curve's updates, less the first `skip` fraction, are cut into `bins` blocks and the law's block means are
    fitted to the observed ones on a log scale (scipy.optimize.least_squares, then Huber loss; see the module
    docstring). A fit whose errors pass WARN_IN_SAMPLE or WARN_HELD_OUT gets `warning` set and issues a UserWarning.

    Args:
        runs: Runs (a diverged or too short one is refused) or Curves.
        law: "multi_power" (default) or "tissue".
        bins: blocks per curve (the smoothing).
        per_bin: evaluation steps per block.
        skip: the fraction of each run's first updates left out, in [0, 0.9] (the laws are power laws of the rate
            area, which blow up where the area is near 0, while the first loss is finite; the papers fit after
            warmup).
        check: also refit without each schedule in turn (leave-one-schedule-out; needs two schedules or more) to
            measure how well the law predicts a schedule it has not seen.
        scale: the rate the sequences are divided by (None: the largest fitting rate).

    Raises:
        ValueError: no runs, a bad option, a run that cannot be fitted, or rates of 0 throughout.

    Examples:
        Curves made by the tissue law (L0 = 2) are fitted back by it (the parameters in units of rates / 0.1):

        >>> import numpy as np
        >>> from lrlab import parse
        >>> from lrlab.lab.studies.forecast import Curve, fit, tissue
        >>> def curve(spec):
        ...     lrs = parse(spec).stretch(100)(np.arange(100))
        ...     return Curve(spec, lrs, np.concatenate([[3.0], tissue(lrs, 2.0, 0.3, 0.5, 0.02)[:-1]]))
        >>> fc = fit([curve("constant(0.1)"), curve("step_decay(0.1, 0.3, 50)")], law="tissue", bins=8, check=False)
        >>> fc.scale, round(fc.params["L0"], 1), fc.warning
        (0.1, 2.0, None)
        >>> round(fc.quality["in_sample_mean"], 3)
        0.0
    """
    law = _check.choice("forecast", "law", law, LAWS)
    bins = _check.whole("forecast", "bins", bins, 2, 10_000)
    per_bin = _check.whole("forecast", "per_bin", per_bin, 1, 1000)
    skip = _check.in_range("forecast", "skip", skip, 0.0, 0.9)
    curves = _as_curves(runs)
    top = max(float(c.lrs.max()) for c in curves)
    if scale is None:
        if top <= 0:
            raise ValueError("forecast: every fitting run has a rate of 0 throughout")
        scale = top
    scale = _check.positive("forecast", "scale", scale)
    prepared = [_prepare(c, law, scale, bins, per_bin, skip) for c in curves]
    x, cost = _solve(law, prepared)
    fc = Forecast(law, dict(zip(PARAMS[law], map(float, x))), scale, curves, bins, per_bin, skip, cost)
    means, finals = _errors(fc, curves)
    noise = np.concatenate([_noise(p) for p in prepared])
    fc.quality = {
        "in_sample": dict(zip([c.label for c in curves], means)),
        "in_sample_mean": float(np.mean(means)),
        # one-step blocks only (runs under 2 x bins updates): no noise estimate, counted as 0 (never a NaN that
        # would switch the in-sample check off)
        "noise": float(np.nanmean(noise)) if np.isfinite(noise).any() else 0.0,
        "in_sample_final": dict(zip([c.label for c in curves], finals)),
        "held_out_final": None,
    }
    labels = list(dict.fromkeys(c.label for c in curves))
    if check and len(labels) >= 2:
        held: dict[str, float] = {}
        measured: dict[str, float] = {}
        predicted: dict[str, float] = {}
        for label in labels:
            rest = [p for p in prepared if p.curve.label != label]
            xr, _ = _solve(law, rest)
            part = Forecast(law, dict(zip(PARAMS[law], map(float, xr))), scale, [], bins, per_bin, skip, 0.0)
            mine = [c for c in curves if c.label == label]
            held[label] = float(np.mean([final_error(part, c) for c in mine]))
            measured[label] = float(np.mean([measured_final(c, bins) for c in mine]))
            predicted[label] = float(np.mean([_predicted_final(part, c) for c in mine]))
        from .forecast_checks import reversed_pairs

        # a measured final loss is uncertain by about twice the noise of a block mean (none known for points)
        tolerance = {k: 2 * fc.quality["noise"] * v for k, v in measured.items()}
        fc.quality.update(held_out_final=held, held_out_final_mean=float(np.mean(list(held.values()))),
                          held_out_final_worst=float(max(held.values())),
                          held_out_final_nats={k: abs(predicted[k] - measured[k]) for k in labels},
                          held_out_predicted_final=predicted, measured_final=measured,
                          schedule_effect=max(measured.values()) - min(measured.values()),
                          held_out_ranking=reversed_pairs(measured, predicted, tolerance))
    fc.warning = _warning(fc)
    if fc.warning:
        warnings.warn(fc.warning, UserWarning, stacklevel=2)
    return fc


def _warning(fc: Forecast) -> str | None:
    q = fc.quality
    problems = []
    limit = WARN_IN_SAMPLE + 2 * q["noise"]
    if q["in_sample_mean"] > limit:
        problems.append(f"the fitted curves are off by {q['in_sample_mean']:.1%} on average (threshold {limit:.1%}: "
                        f"{WARN_IN_SAMPLE:.0%} plus twice the {q['noise']:.1%} noise of the measured block means)")
    if q.get("held_out_final") is not None and q["held_out_final_worst"] > WARN_HELD_OUT:
        worst = max(q["held_out_final"], key=q["held_out_final"].get)
        problems.append(f"left out of the fit, {worst} is predicted {q['held_out_final_worst']:.1%} off at the end "
                        f"(threshold {WARN_HELD_OUT:.0%})")
    from .forecast_checks import problems as checks

    others = checks(fc.law, fc.curves, q)
    if not problems and not others:
        return None
    parts = [f"the {fc.law} law does not hold on these runs: " + "; ".join(problems)] if problems else []
    who = "Its" if problems else f"the {fc.law} law's"
    parts += [f"{who} forecasts are unreliable here: " + "; ".join(others)] if others else []
    return ". ".join(parts) + ". Do not trust its forecasts."


def smoothed(curve: Any, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A curve's (or Run's) measured loss as the fit sees it: (middle step, mean batch loss) of each block.

    No updates are skipped here (skip 0), so a plot shows the whole run beside the forecast. A curve given as points
    is returned as its points.

    Args:
        curve: a Curve or a Run.
        bins: the most blocks.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, smoothed
        >>> steps, loss = smoothed(Curve("c", np.full(9, 0.1), np.arange(9, 0, -1, dtype=float)), bins=2)
        >>> steps.tolist(), loss.tolist()
        ([2.5, 6.5], [6.5, 2.5])
    """
    curve = curve if isinstance(curve, Curve) else Curve.from_run(curve)
    if curve.steps is not None:  # points: as they are
        return curve.steps.astype(np.float64), curve.loss.copy()
    parts = blocks(curve.lrs.size, bins)
    return np.array([b.mean() for b in parts]), np.array([curve.loss[b].mean() for b in parts])
