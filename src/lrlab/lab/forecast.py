"""Loss laws over the learning-rate curve: fit one to a few runs of a task, then forecast the training-loss curve of
any other schedule without training it (and search the schedule the fitted law likes best).

Two laws, each a function of the rate sequence (numpy only):
- `multi_power`: the multi-power law of Luo et al. 2025 (arXiv 2503.12811);
- `tissue`: the law of Tissue et al. 2024, "Scaling law with learning rate annealing" (arXiv 2408.11029).

Conventions (one place): `lrs[i]` is the rate of update i+1 (a Run's `step_lr`), so the loss after t updates,
L(t), t = 1..T, depends on lrs[:t]. A Run's `step_loss[t]` is the batch loss seen by update t+1, i.e. measured on
the parameters after t updates: it is the observation of L(t) (step_loss[0], before any update, is not used).

Fitting (`fit`): the per-step batch loss is noisy, so each run's updates 1..T-1, less the first `skip` fraction
(default 10%: the power laws blow up where the rate area is near 0), are cut into `bins` contiguous blocks of equal
length and the law is compared on the block means: observed = mean batch loss of the block, predicted = mean of
L(t) over (up to `per_bin` evenly spaced steps of) the same block. The residual is log(observed) - log(predicted),
minimised by scipy.optimize.least_squares within bounds: plain least squares from a few starting points, then the
best refined with Huber loss (f_scale 1e-3, Luo et al.'s delta). Rates are divided by the largest fitting rate
first (the fit's `scale`), so the parameters are of order one; `Forecast.params` are in those units.

"Final loss" everywhere (fitting check, predictions, measurements) is the mean over the last block of a curve:
the last max(1, T // bins) updates, so a forecast and a measured run are compared on the same steps.

Fit quality: `Forecast.quality` holds the in-sample relative error (mean over blocks, and of the final loss) and,
with two or more fitting schedules, leave-one-schedule-out errors (refit without one schedule's runs, predict
them). When an error passes the thresholds, `Forecast.warning` says so (and `fit` issues a UserWarning): the law
does not describe this task and its forecasts should not be trusted.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _check

LAWS = ("multi_power", "tissue")
HUBER_DELTA = 1e-3  # Luo et al.'s Huber delta on log residuals
TISSUE_LAMBDA = 0.999  # Tissue et al.'s decay factor of the annealing momentum
WARN_IN_SAMPLE = 0.03  # mean relative error of the fitted curves (beyond twice their noise) past which the law fails
WARN_HELD_OUT = 0.10  # relative error of a left-out schedule's final loss past which the law is said not to hold
FIT_TERMS = 128  # changes of the rate the multi-power law sums while fitting (grouped beyond; exact in predictions)
_TINY = 1e-12  # rates are floored here (relative to the scale) where a law raises them to a negative power


# -- the laws ---------------------------------------------------------------------------------------------
def _rates(lrs: Any) -> np.ndarray:
    out = np.asarray(lrs, dtype=np.float64).ravel()
    if out.size == 0 or not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError(f"forecast: learning rates must be finite numbers >= 0, got {_check.shown(lrs)}")
    return out


def _at(at: Any, n: int) -> np.ndarray:
    """The steps t (numbers of updates, 1..n) where a law is evaluated; all of them when None."""
    if at is None:
        return np.arange(1, n + 1)
    t = np.asarray(at, dtype=np.int64).ravel()
    if t.size and (t.min() < 1 or t.max() > n):
        raise ValueError(f"forecast: steps to evaluate must be in [1, {n}] (numbers of updates)")
    return t


def multi_power_terms(lrs: Any, at: Any = None, terms: int | None = None) -> dict[str, np.ndarray]:
    """What the multi-power law needs of a rate sequence, independent of its parameters: S1 at the steps `at`,
    the changes of the rate (drop, the rate after it) and S_k(t) for every step and change (0 where k > t).

    terms: None keeps every change of the rate (exact); a number K groups the changes into K runs of consecutive
    updates (each run's drops summed, its rate and S_k taken at its middle update): an approximation the fit uses
    on smooth schedules, so its cost is len(at) x K rather than len(at) x T."""
    eta = _rates(lrs)
    t = _at(at, eta.size)
    cum = np.concatenate([[0.0], np.cumsum(eta)])  # cum[j] = eta_1 + ... + eta_j
    drop = np.concatenate([[0.0], eta[:-1] - eta[1:]])  # drop[k-1] = eta_{k-1} - eta_k (0 for k = 1)
    ks = np.nonzero(drop)[0]  # k-1 of the updates k where the rate changes: only they add to LD
    gaps = drop[ks]
    if terms is not None and ks.size > terms:
        groups = np.array_split(np.arange(ks.size), terms)
        gaps = np.array([gaps[g].sum() for g in groups])
        ks = np.array([ks[g[g.size // 2]] for g in groups])
    s_k = cum[t][:, None] - cum[ks][None, :]  # S_k(t) = cum[t] - cum[k-1]
    s_k = np.where((ks[None, :] + 1) <= t[:, None], s_k, 0.0)  # only changes at k <= t count
    return {"s1": cum[t], "drop": gaps, "eta": np.maximum(eta[ks], _TINY), "s_k": s_k}


def multi_power_from(terms: dict[str, np.ndarray], L0: float, A: float, alpha: float, B: float, C: float,
                     beta: float, gamma: float) -> np.ndarray:
    """The multi-power law evaluated on `multi_power_terms` (see `multi_power` for the formula)."""
    with np.errstate(divide="ignore"):
        out = L0 + A * terms["s1"] ** (-alpha)
    if terms["drop"].size:
        g = 1.0 - (C * terms["eta"][None, :] ** (-gamma) * terms["s_k"] + 1.0) ** (-beta)  # 0 where S_k = 0
        out = out - B * (g @ terms["drop"])
    return out


def multi_power(lrs: Any, L0: float, A: float, alpha: float, B: float, C: float, beta: float, gamma: float,
                at: Any = None) -> np.ndarray:
    """The multi-power law of Luo et al. 2025: the loss after t updates of the rate sequence `lrs`.

        L(t)  = L0 + A * S1(t)**(-alpha) - LD(t)
        S1(t) = eta_1 + ... + eta_t                                   (the area under the rates)
        LD(t) = B * sum_{k=2..t} (eta_{k-1} - eta_k) * G(eta_k**(-gamma) * S_k(t))
        S_k(t) = eta_k + ... + eta_t,    G(x) = 1 - (C*x + 1)**(-beta)

    eta_k = lrs[k-1] is the rate of update k. The paper writes S1 from the end of warmup plus a warmup area S_W; here
    the warmup's rates are simply part of S1 (the same sum), and a rising rate enters LD with a negative drop, as
    in the authors' fitting code. Rates are floored at 1e-12 inside eta**(-gamma) (a rate of 0 would make it
    infinite). `at`: the steps t (1..T) to evaluate (default all); returns an array of L(t) at them.
    Memory: len(at) x (number of changes of the rate) floats.
    """
    return multi_power_from(multi_power_terms(lrs, at), L0, A, alpha, B, C, beta, gamma)


def tissue_terms(lrs: Any, at: Any = None, lam: float = TISSUE_LAMBDA) -> dict[str, np.ndarray]:
    """What the Tissue et al. law needs of a rate sequence: S1 and S2 at the steps `at` (see `tissue`)."""
    eta = _rates(lrs)
    t = _at(at, eta.size)
    lam = _check.in_range("tissue", "lam", lam, 0.0, 1.0)
    delta = np.concatenate([[0.0], eta[:-1] - eta[1:]])
    from scipy.signal import lfilter  # m_i = lam * m_{i-1} + delta_i: a first-order recursive filter

    m = lfilter([1.0], [1.0, -lam], delta)
    return {"s1": np.cumsum(eta)[t - 1], "s2": np.cumsum(m)[t - 1]}


def tissue_from(terms: dict[str, np.ndarray], L0: float, A: float, alpha: float, C: float) -> np.ndarray:
    """The Tissue et al. law evaluated on `tissue_terms` (see `tissue` for the formula)."""
    with np.errstate(divide="ignore"):
        return L0 + A * terms["s1"] ** (-alpha) - C * terms["s2"]


def tissue(lrs: Any, L0: float, A: float, alpha: float, C: float, lam: float = TISSUE_LAMBDA,
           at: Any = None) -> np.ndarray:
    """The law of Tissue et al. 2024 ("Scaling law with learning rate annealing"): the loss after t updates.

        L(t)  = L0 + A * S1(t)**(-alpha) - C * S2(t)
        S1(t) = eta_1 + ... + eta_t                          (forward area)
        S2(t) = m_1 + ... + m_t                              (annealing area)
        m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),  m_1 = 0 (momentum of the rate's decrease)

    eta_i = lrs[i-1]; lam is the decay factor (0.999 by default, as the paper's experiments use). A rising rate
    (warmup) makes m negative, as the recursion says. `at`: the steps t (1..T) to evaluate (default all).
    """
    return tissue_from(tissue_terms(lrs, at, lam), L0, A, alpha, C)


def law_terms(law: str, lrs: Any, at: Any = None, *, fitting: bool = False) -> dict[str, np.ndarray]:
    """The parameter-free part of a law for a rate sequence (fitting=True: the multi-power law's changes grouped
    into FIT_TERMS runs, see `multi_power_terms`)."""
    if law == "multi_power":
        return multi_power_terms(lrs, at, FIT_TERMS if fitting else None)
    return tissue_terms(lrs, at)


def law_from(law: str, terms: dict[str, np.ndarray], params: Sequence[float]) -> np.ndarray:
    """A law evaluated on its terms with the given parameters (in the order of PARAMS[law])."""
    return multi_power_from(terms, *params) if law == "multi_power" else tissue_from(terms, *params)


# parameter names, bounds (in scaled-rate units) and starting points of each law
PARAMS = {
    "multi_power": ("L0", "A", "alpha", "B", "C", "beta", "gamma"),
    "tissue": ("L0", "A", "alpha", "C"),
}


def _bounds(law: str, top: float) -> tuple[list[float], list[float]]:
    if law == "multi_power":
        return [0.0, 0.0, 1e-3, 0.0, 1e-4, 1e-3, 0.0], [2 * top, 1e6 * top, 3.0, 100 * top, 1e4, 5.0, 3.0]
    return [0.0, 0.0, 1e-3, 0.0], [2 * top, 1e6 * top, 3.0, 100 * top]


def _starts(law: str, lo: float, hi: float) -> list[list[float]]:
    """A few starting points: the asymptote near the lowest loss, the power law spanning the observed range."""
    span = max(hi - lo, 1e-3)
    out = []
    for l0, alpha, beta, gamma in ((0.8 * lo, 0.5, 0.5, 0.5), (0.3 * lo, 1.0, 1.0, 0.2), (0.95 * lo, 0.3, 0.5, 0.5)):
        if law == "multi_power":
            out.append([l0, span, alpha, span, 1.0, beta, gamma])
        else:
            out.append([l0, span, alpha, span * 1e-3])
    return out


# -- curves: what a run gives the fit ----------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """One training-loss curve: the rate of every update and the batch loss observed after t updates
    (loss[t] for t = 1..T-1; loss[0] is the loss before training). label names it (the run's schedule)."""

    label: str
    lrs: np.ndarray
    loss: np.ndarray

    @classmethod
    def from_run(cls, run: Any) -> Curve:
        """A run's curve (its step_lr and step_loss); a diverged or too short run is refused."""
        if getattr(run, "status", "ok") != "ok":
            raise ValueError(f"forecast: run {run.id} ({run.label}) diverged: it cannot be fitted")
        lrs, loss = np.asarray(run.step_lr, np.float64), np.asarray(run.step_loss, np.float64)
        if lrs.size < 8 or lrs.size != loss.size or not np.all(np.isfinite(loss)) or np.any(loss <= 0):
            raise ValueError(f"forecast: run {run.id} ({run.label}) has no usable loss curve")
        return cls(run.label, lrs, loss)


def blocks(n_updates: int, bins: int, skip: float = 0.0) -> list[np.ndarray]:
    """Steps t = 1..n_updates-1 less the first `skip` fraction of the updates, cut into at most `bins`
    contiguous blocks (as equal as possible, the last block ending at the last step)."""
    t = np.arange(max(1, math.ceil(skip * n_updates)), n_updates)
    return [b for b in np.array_split(t, min(bins, t.size)) if b.size]


def final_window(n_updates: int, bins: int) -> int:
    """How many of the last updates the "final loss" averages: max(1, T // bins)."""
    return max(1, n_updates // bins)


def _probe(block: np.ndarray, per_bin: int) -> np.ndarray:
    if block.size <= per_bin:
        return block
    return block[np.unique(np.linspace(0, block.size - 1, per_bin).round().astype(int))]


@dataclass
class _Prepared:
    """A curve's block means and the steps where the law is evaluated for each block."""

    curve: Curve
    law: str
    observed: np.ndarray  # block means
    terms: dict[str, np.ndarray]  # the law's parameter-free terms at every probe step
    owner: np.ndarray  # block index of each probe
    parts: list[np.ndarray]  # the steps of each block

    def predicted(self, params: Sequence[float]) -> np.ndarray:
        values = law_from(self.law, self.terms, params)
        sums = np.bincount(self.owner, weights=values, minlength=self.observed.size)
        return sums / np.bincount(self.owner, minlength=self.observed.size)


def _prepare(curve: Curve, law: str, scale: float, bins: int, per_bin: int, skip: float) -> _Prepared:
    parts = blocks(curve.lrs.size, bins, skip)
    observed = np.array([curve.loss[b].mean() for b in parts])
    probes = [_probe(b, per_bin) for b in parts]
    owner = np.concatenate([np.full(p.size, i) for i, p in enumerate(probes)])
    terms = law_terms(law, curve.lrs / scale, np.concatenate(probes), fitting=True)
    return _Prepared(curve, law, observed, terms, owner, parts)


# -- the fit ----------------------------------------------------------------------------------------------
@dataclass
class Forecast:
    """A law fitted to some curves: predicts the loss curve of any rate sequence or schedule.

    params: the fitted parameters (rates divided by `scale`); quality: in-sample and leave-one-schedule-out
    errors (see the module docstring); warning: a sentence when the law does not hold on these runs, else None.
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
        """Predicted L(t) for the rate sequence `lrs` (at the steps `at`, 1..T; default all)."""
        return law_from(self.law, law_terms(self.law, _rates(lrs) / self.scale, at), list(self.params.values()))

    def final(self, lrs: Any) -> float:
        """Predicted final loss of a rate sequence: the mean of L(t) over its last `final_window` updates."""
        n = _rates(lrs).size
        w = final_window(n, self.bins)
        return float(self.curve(lrs, at=np.arange(max(1, n - w), n)).mean())

    def predict(self, spec: Any, steps: int) -> Prediction:
        """The predicted curve of a schedule (a spec or a Schedule; left-out lengths bound to `steps`)."""
        sched = bind(spec, steps)
        lrs = sched(np.arange(steps))
        return Prediction(label=spec if isinstance(spec, str) else repr(spec), spec=repr(sched), lrs=lrs,
                          loss=self.curve(lrs), final=self.final(lrs))

    def summary(self) -> str:
        """One line: the law, its parameters and the fit's errors."""
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        q = self.quality
        text = (f"{self.law}({shown}; rates / {self.scale:g}): in-sample error {q['in_sample_mean']:.2%} mean "
                f"(noise of the block means {q['noise']:.2%})")
        if q.get("held_out_final") is not None:
            text += f", leave-one-schedule-out final-loss error {q['held_out_final_mean']:.2%} mean, " \
                    f"{q['held_out_final_worst']:.2%} worst"
        return text


@dataclass
class Prediction:
    """A forecast of one schedule: its bound spec, rates, predicted L(t) for t = 1..T, and final loss."""

    label: str
    spec: str
    lrs: np.ndarray
    loss: np.ndarray
    final: float


def bind(spec: Any, steps: int) -> Any:
    """The schedule of a spec (or Schedule) with left-out lengths bound to `steps` updates."""
    from ..schedules import Schedule, parse

    steps = _check.steps("forecast", "steps", steps, minimum=2)
    sched = spec if isinstance(spec, Schedule) else parse(spec)
    return sched if sched.is_bound else sched.stretch(steps)


def _as_curves(runs: Sequence[Any]) -> list[Curve]:
    out = [r if isinstance(r, Curve) else Curve.from_run(r) for r in runs]
    if not out:
        raise ValueError("forecast: no runs to fit (give at least one)")
    return out


def _solve(law: str, prepared: list[_Prepared]) -> tuple[np.ndarray, float]:
    """The law's parameters minimising the Huber loss of the log residuals over every block of every curve.

    Each start is first fitted with plain least squares (smooth, so it travels far from a poor start), the best
    of those is refined with the Huber loss (delta HUBER_DELTA, as Luo et al. fit)."""
    from scipy.optimize import least_squares

    observed = np.concatenate([p.observed for p in prepared])
    log_obs = np.log(observed)
    lo_b, hi_b = _bounds(law, float(observed.max()))

    def residuals(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            pred = np.concatenate([p.predicted(x) for p in prepared])
        bad = ~np.isfinite(pred) | (pred <= 0)
        r = log_obs - np.log(np.where(bad, 1.0, pred))
        return np.where(bad, 30.0, r)  # a prediction <= 0 costs as much as one e**30 times off

    def huber(r: np.ndarray) -> float:
        a = np.abs(r)
        return float(np.sum(np.where(a <= HUBER_DELTA, 0.5 * r**2, HUBER_DELTA * (a - 0.5 * HUBER_DELTA))))

    best_x, best_cost = None, math.inf
    for start in _starts(law, float(observed.min()), float(observed.max())):
        x0 = np.clip(start, lo_b, hi_b)
        res = least_squares(residuals, x0, bounds=(lo_b, hi_b), x_scale="jac", max_nfev=200)
        cost = huber(res.fun)
        if cost < best_cost:
            best_x, best_cost = res.x, cost
    assert best_x is not None
    res = least_squares(residuals, best_x, bounds=(lo_b, hi_b), loss="huber", f_scale=HUBER_DELTA, x_scale="jac",
                        max_nfev=200)
    if huber(res.fun) < best_cost:
        best_x, best_cost = res.x, huber(res.fun)
    return best_x, best_cost


def compare_curve(fc: Forecast, curve: Curve) -> dict[str, float]:
    """A forecast against a measured curve (a Run or Curve) of the same rates: curve_error (mean relative error over
    the blocks the fit uses), curve_worst (worst block), final_error (relative error of the final loss),
    predicted_final and measured_final."""
    curve = curve if isinstance(curve, Curve) else Curve.from_run(curve)
    p = _prepare(curve, fc.law, fc.scale, fc.bins, fc.per_bin, fc.skip)
    p.terms = law_terms(fc.law, curve.lrs / fc.scale, _probe_steps(curve, fc))  # exact terms, not grouped
    rel = np.abs(p.predicted(list(fc.params.values())) - p.observed) / p.observed
    measured = measured_final(curve, fc.bins)
    predicted = fc.final(curve.lrs)
    return {"curve_error": float(rel.mean()), "curve_worst": float(rel.max()),
            "final_error": abs(predicted - measured) / measured, "predicted_final": predicted,
            "measured_final": measured}


def _probe_steps(curve: Curve, fc: Forecast) -> np.ndarray:
    return np.concatenate([_probe(b, fc.per_bin) for b in blocks(curve.lrs.size, fc.bins, fc.skip)])


def _noise(p: _Prepared) -> np.ndarray:
    """The relative standard error of each block mean of a prepared curve (NaN for one-step blocks)."""
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
    """A curve's measured final loss: the mean batch loss over its last `final_window` updates."""
    n = curve.lrs.size
    w = final_window(n, bins)
    return float(curve.loss[max(1, n - w):n].mean())


def final_error(fc: Forecast, curve: Curve) -> float:
    """Relative error of the forecast final loss of a curve's rates against its measured final loss."""
    measured = measured_final(curve, fc.bins)
    return abs(fc.final(curve.lrs) - measured) / measured


def fit(runs: Sequence[Any], law: str = "multi_power", *, bins: int = 64, per_bin: int = 2, skip: float = 0.1,
        check: bool = True, scale: float | None = None) -> Forecast:
    """Fit a law to the training-loss curves of `runs` (Runs of one task, or Curves).

    law: "multi_power" (default) or "tissue". bins: blocks per curve (the smoothing, see the module docstring);
    per_bin: evaluation steps per block. skip: the fraction of each run's first updates left out (the laws are
    power laws of the rate area, which blow up where the area is near 0, while the first loss is finite; the papers
    fit after warmup). check: also refit without each schedule in turn (leave-one-schedule-out;
    needs two schedules or more) to measure how well the law predicts a schedule it has not seen. scale: the rate
    the sequences are divided by (default the largest fitting rate). A fit whose errors pass WARN_IN_SAMPLE or
    WARN_HELD_OUT gets `warning` set and issues a UserWarning.
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
        for label in labels:
            rest = [p for p in prepared if p.curve.label != label]
            xr, _ = _solve(law, rest)
            part = Forecast(law, dict(zip(PARAMS[law], map(float, xr))), scale, [], bins, per_bin, skip, 0.0)
            held[label] = float(np.mean([final_error(part, c) for c in curves if c.label == label]))
        fc.quality.update(held_out_final=held, held_out_final_mean=float(np.mean(list(held.values()))),
                          held_out_final_worst=float(max(held.values())))
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
    if not problems:
        return None
    return f"the {fc.law} law does not hold on these runs: " + "; ".join(problems) + ". Do not trust its forecasts."


# -- using a fit ------------------------------------------------------------------------------------------
def rank(fc: Forecast, specs: Sequence[Any], steps: int) -> list[tuple[str, float]]:
    """(spec, predicted final loss) of every candidate schedule bound to `steps` updates, best (lowest) first.

    This is what a tuner calls to train only the most promising candidates: `rank(fit(runs), specs, steps)`.
    """
    out = [(s if isinstance(s, str) else repr(s), fc.predict(s, steps).final) for s in specs]
    return sorted(out, key=lambda item: (not math.isfinite(item[1]), item[1]))


@dataclass
class Optimum:
    """The schedule shape that minimises the fitted law's final loss: spec, predicted final, and the best of
    every family searched (family -> (spec, predicted final))."""

    spec: str
    final: float
    families: dict[str, tuple[str, float]]


def _families(steps: int, warmup: int, low: float, peak: float) -> dict[str, tuple[list[tuple[float, float]], Any]]:
    """Each family: the bounds of its free numbers and the spec they make (non-increasing after `warmup`)."""
    from ..schedules import cosine, exponential, wsd
    from ..schedules import warmup as with_warmup

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
    Returns the best spec (it parses back with lrlab.parse) and the best of each family.
    """
    from scipy.optimize import differential_evolution

    steps = _check.steps("optimise", "steps", steps, minimum=2)
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
        families[name] = (repr(sched), fc.final(sched(np.arange(steps))))
    best = min(families.values(), key=lambda item: item[1])
    return Optimum(spec=best[0], final=best[1], families=families)


def smoothed(curve: Any, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A curve's (or Run's) measured loss as the fit sees it: (middle step, mean batch loss) of each block (none
    skipped)."""
    curve = curve if isinstance(curve, Curve) else Curve.from_run(curve)
    parts = blocks(curve.lrs.size, bins)
    return np.array([b.mean() for b in parts]), np.array([curve.loss[b].mean() for b in parts])
