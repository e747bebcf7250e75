"""How `lrlab.lab.forecast.fit` finds a law's parameters: the recipe of Luo et al. 2025, made to converge (issue 24).

The authors' recipe (their repository, `src/fitting.py`): a Huber loss (delta 1e-3) on the log residuals
log(observed) - log(predicted), summed over every observation; a start from the reduced model

    L0 + A * S1(t)**(-alpha) - B * (peak - eta_t)          (the decay term replaced by the rate's gap to the peak)

fitted over a grid; then all seven parameters optimised from that start (they run AdamW for at most 200 steps).

Here: the reduced model is linear in (L0, A, B) for a fixed alpha, so it is solved exactly (non-negative least
squares) on a grid of alpha and the best few alphas are kept; the tissue law's full model is of that form (with
C * S2 for the decay term), so its start is exact too. From each start (times a few scales C of G's argument for
the multi-power law), plain least squares with an analytic Jacobian, then the best refined with the Huber loss
(scipy.optimize.least_squares, loss="huber", f_scale HUBER_DELTA), within bounds. The multi-power law's changes of
the rate are grouped (`multi_power_terms`, terms=K) only past FIT_CELLS terms per curve, so the paper's curves fit
on their exact terms and a per-step run on about 2000 groups.

Rates are divided by the fit's `scale` (its largest fitting rate), so the parameters are of order one;
`in_rate_units` converts them back to parameters in the units of the rates (the paper's units).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

HUBER_DELTA = 1e-3  # Luo et al.'s Huber delta on log residuals
FIT_CELLS = 2**18  # the most (observations x changes of the rate) a curve's multi-power terms hold while fitting
_ALPHAS = np.geomspace(0.05, 2.0, 40)  # the grid of alpha the reduced model is solved on
_C_STARTS = (0.01, 0.1, 1.0)  # G's scale C (rates / scale) each reduced start is tried with


def fit_terms(observations: int, changes: int) -> int | None:
    """How many changes of the rate the multi-power law keeps while fitting a curve (None: all of them, exact).

    All of them while observations x changes stays within FIT_CELLS; beyond, FIT_CELLS // observations groups (at
    least 1024), so the cost of a fit stays bounded for per-step curves.

    Args:
        observations: the curve's observations (steps where the law is evaluated).
        changes: the changes of the rate in its sequence.

    Examples:
        >>> from lrlab.lab.studies.forecast_fit import fit_terms
        >>> fit_terms(171, 1000) is None, fit_terms(128, 30000)
        (True, 2048)
    """
    if observations * changes <= FIT_CELLS:
        return None
    return max(1024, FIT_CELLS // max(1, observations))


def in_rate_units(law: str, params: dict[str, float], scale: float) -> dict[str, float]:
    """A fit's parameters (rates divided by `scale`) converted to parameters of the rates themselves.

    With eta = scale * eta': A * S1**(-alpha) = A' * S1'**(-alpha) gives A = A' * scale**alpha; B * drop = B' * drop'
    gives B = B' / scale; C * eta**(-gamma) * S_k = C' * eta'**(-gamma) * S_k' gives C = C' * scale**(gamma - 1).
    The tissue law's C (times S2, a sum of rates) becomes C' / scale. The paper reports its parameters this way.

    Args:
        law: "multi_power" or "tissue".
        params: the parameters by name, in units of rates / scale (a Forecast's `params`).
        scale: the rate they were divided by (a Forecast's `scale`).

    Examples:
        >>> from lrlab.lab.studies.forecast_fit import in_rate_units
        >>> p = {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 0.1, "C": 0.2, "beta": 0.5, "gamma": 0.5}
        >>> {k: round(v, 4) for k, v in in_rate_units("multi_power", p, 1e-4).items()}
        {'L0': 3.0, 'A': 0.005, 'alpha': 0.5, 'B': 1000.0, 'C': 20.0, 'beta': 0.5, 'gamma': 0.5}
    """
    out = dict(params)
    out["A"] = params["A"] * scale ** params["alpha"]
    if law == "multi_power":
        out["B"] = params["B"] / scale
        out["C"] = params["C"] * scale ** (params["gamma"] - 1.0)
    else:
        out["C"] = params["C"] / scale
    return out


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> float:
    """The Huber loss summed over the residuals `r` (quadratic within delta, linear beyond), as Luo et al. fit.

    Args:
        r: the log residuals.
        delta: where the loss turns linear.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast_fit import huber
        >>> round(huber(np.array([0.0005, -0.003])), 12)  # 0.5 * 0.0005**2 + 1e-3 * (0.003 - 0.0005)
        2.625e-06
    """
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))))


def _values_and_jacobian(law: str, terms: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The law at its terms' steps and its derivatives by each parameter (rows: steps, columns: PARAMS order)."""
    s1 = terms["s1"]
    if law == "tissue":
        L0, A, alpha, C = x
        power = A * s1 ** (-alpha)
        jac = np.stack([np.ones_like(s1), s1 ** (-alpha), -power * np.log(s1), -terms["s2"]], axis=1)
        return L0 + power - C * terms["s2"], jac
    L0, A, alpha, B, C, beta, gamma = x
    power = A * s1 ** (-alpha)
    jac = np.empty((s1.size, 7))
    jac[:, 0], jac[:, 1], jac[:, 2] = 1.0, s1 ** (-alpha), -power * np.log(s1)
    drop = terms["drop"]
    if drop.size == 0:
        jac[:, 3:] = 0.0
        return L0 + power, jac
    e = terms["eta"][None, :] ** (-gamma)
    arg = e * terms["s_k"]  # eta_k**(-gamma) * S_k(t): 0 where the change comes after t
    u = C * arg + 1.0
    u_beta = u ** (-beta)
    g = 1.0 - u_beta
    dg_dc = beta * u_beta / u * arg
    jac[:, 3] = -(g @ drop)
    jac[:, 4] = -B * (dg_dc @ drop)
    jac[:, 5] = -B * ((u_beta * np.log(u)) @ drop)
    jac[:, 6] = B * ((dg_dc * C * np.log(terms["eta"])[None, :]) @ drop)
    return L0 + power - B * (g @ drop), jac


def _block_means(values: np.ndarray, owner: np.ndarray, blocks: int) -> np.ndarray:
    """Means of `values` (rows) over each block of probes (`owner`: the block of each row)."""
    counts = np.bincount(owner, minlength=blocks).astype(np.float64)
    if values.ndim == 1:
        return np.bincount(owner, weights=values, minlength=blocks) / counts
    return np.stack([np.bincount(owner, weights=col, minlength=blocks) for col in values.T], axis=1) / counts[:, None]


def _starts(law: str, prepared: Sequence[Any], log_obs: np.ndarray) -> list[np.ndarray]:
    """Starting points from the reduced model, solved exactly for each alpha of a grid; the best few kept."""
    from scipy.optimize import nnls

    observed = np.exp(log_obs)
    s1 = np.concatenate([_block_means(p.terms["s1"], p.owner, p.observed.size) for p in prepared])
    if law == "tissue":
        decay = np.concatenate([_block_means(p.terms["s2"], p.owner, p.observed.size) for p in prepared])
    else:  # the authors' reduced decay term: the gap between the rate and the peak (1 in units of the scale)
        decay = np.concatenate([_block_means(1.0 - p.eta_at, p.owner, p.observed.size) for p in prepared])
    found = []
    for alpha in _ALPHAS:
        design = np.stack([np.ones_like(s1), s1 ** (-alpha), -decay], axis=1)
        # weighted by 1/observed: least squares on relative residuals, close to the log residuals fitted next
        (l0, a, b), _ = nnls(design / observed[:, None], np.ones_like(observed))
        pred = design @ np.array([l0, a, b])
        if np.all(pred > 0):
            found.append((huber(log_obs - np.log(pred)), l0, a, alpha, b))
    found.sort()
    out = []
    for _, l0, a, alpha, b in found[:2]:
        if law == "tissue":
            out.append(np.array([l0, a, alpha, b]))
        else:
            out += [np.array([l0, a, alpha, b, c, 0.5, 0.5]) for c in _C_STARTS]
    return out


def bounds(law: str, top: float) -> tuple[list[float], list[float]]:
    """The bounds of each parameter (rates divided by the fit's scale; `top`: the largest observed loss).

    Args:
        law: "multi_power" or "tissue".
        top: the largest observed loss.

    Examples:
        >>> from lrlab.lab.studies.forecast_fit import bounds
        >>> bounds("tissue", 2.0)
        ([0.0, 0.0, 0.001, 0.0], [4.0, 2000000.0, 3.0, 200.0])
    """
    if law == "multi_power":
        return [0.0, 0.0, 1e-3, 0.0, 1e-6, 1e-3, 0.0], [2 * top, 1e6 * top, 3.0, 100 * top, 1e4, 5.0, 3.0]
    return [0.0, 0.0, 1e-3, 0.0], [2 * top, 1e6 * top, 3.0, 100 * top]


def solve(law: str, prepared: Sequence[Any]) -> tuple[np.ndarray, float]:
    """The law's parameters minimising the Huber loss of the log residuals over every observation of every curve.

    `prepared` are the fit's prepared curves (`observed`: block means or points, `terms`: the law's terms at the
    probe steps, `owner`: the observation each probe belongs to, `eta_at`: the scaled rate at each probe). See the
    module docstring for the recipe.

    Args:
        law: "multi_power" or "tissue".
        prepared: the prepared curves.

    Returns:
        (parameters in PARAMS order, their Huber cost).

    Examples:
        Points made by the tissue law are fitted back:

        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, _prepare, tissue
        >>> from lrlab.lab.studies.forecast_fit import solve
        >>> lrs = np.r_[np.full(60, 1.0), np.full(40, 0.3)]
        >>> steps = np.arange(10, 101, 5)
        >>> curve = Curve("drop", lrs, tissue(lrs, 2.0, 0.5, 0.5, 0.01, at=steps), steps=steps)
        >>> x, cost = solve("tissue", [_prepare(curve, "tissue", 1.0, 64, 2, 0.0)])
        >>> np.round(x, 3).tolist(), cost < 1e-12
        ([2.0, 0.5, 0.5, 0.01], True)
    """
    from scipy.optimize import least_squares

    log_obs = np.concatenate([np.log(p.observed) for p in prepared])
    lo_b, hi_b = bounds(law, float(np.exp(log_obs).max()))

    def predicted(x: np.ndarray) -> np.ndarray:
        return np.concatenate([p.predicted(x) for p in prepared])

    def residuals(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            pred = predicted(x)
        bad = ~np.isfinite(pred) | (pred <= 0)
        return np.where(bad, 30.0, log_obs - np.log(np.where(bad, 1.0, pred)))  # <= 0: as if e**30 times off

    def jacobian(x: np.ndarray) -> np.ndarray:
        rows = []
        with np.errstate(all="ignore"):
            for p in prepared:
                values, jac = _values_and_jacobian(law, p.terms, x)
                n = p.observed.size
                rows.append(-_block_means(jac, p.owner, n) / _block_means(values, p.owner, n)[:, None])
        out = np.concatenate(rows)
        return np.where(np.isfinite(out), out, 0.0)

    best_x, best_cost = None, math.inf
    for start in _starts(law, prepared, log_obs):
        x0 = np.clip(start, lo_b, hi_b)
        res = least_squares(residuals, x0, jac=jacobian, bounds=(lo_b, hi_b), x_scale="jac", max_nfev=300)
        cost = huber(res.fun)
        if cost < best_cost:
            best_x, best_cost = res.x, cost
    if best_x is None:  # no start gave a positive reduced model: the law's default start
        best_x = np.clip([0.8 * math.exp(log_obs.min()), 1.0, 0.5, 0.1, 0.1, 0.5, 0.5][: len(lo_b)], lo_b, hi_b)
        best_cost = huber(residuals(best_x))
    res = least_squares(residuals, best_x, jac=jacobian, bounds=(lo_b, hi_b), loss="huber", f_scale=HUBER_DELTA,
                        x_scale="jac", max_nfev=300)
    if huber(res.fun) < best_cost:
        best_x, best_cost = res.x, huber(res.fun)
    return np.asarray(best_x, dtype=np.float64), best_cost
