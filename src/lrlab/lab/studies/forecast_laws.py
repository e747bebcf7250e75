"""The loss laws over the learning-rate curve, numpy only: the multi-power law of Luo et al. 2025 (arXiv
2503.12811) and the law of Tissue et al. 2024 (arXiv 2408.11029), each split into the terms a rate sequence gives
(independent of the parameters, so a fit computes them once) and the law on those terms.

`lrs[i]` is the rate of update i+1; L(t), t = 1..T, depends on lrs[:t] (lrlab.lab.studies.forecast's conventions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _check

LAWS = ("multi_power", "tissue")
TISSUE_LAMBDA = 0.999  # Tissue et al.'s decay factor of the annealing momentum
FIT_TERMS = 128  # law_terms(fitting=True) groups the changes into this many runs (fit: forecast_fit.fit_terms)
_TINY = 1e-12  # rates are floored here (relative to the scale) where a law raises them to a negative power


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
    """What the multi-power law needs of a rate sequence, independent of its parameters.

    The terms are S1 at the steps `at`, the changes of the rate (drop, and the rate after it) and S_k(t) for every
    step and change (0 where k > t); `multi_power_from` evaluates the law on them, so a fit computes them once.

    Args:
        lrs: the rate of every update (lrs[i] is the rate of update i+1), finite and >= 0.
        at: the steps t (numbers of updates, 1..T) to evaluate; None: all of them.
        terms: None keeps every change of the rate (exact); a number K groups the changes into K runs of consecutive
            updates (each run's drops summed, its rate and S_k taken at its middle update): an approximation the fit
            uses on smooth schedules, so its cost is len(at) x K rather than len(at) x T.

    Returns:
        A dict with "s1", "drop", "eta" (rates floored at 1e-12) and "s_k" (len(at) x number of changes).

    Examples:
        >>> from lrlab.lab.studies.forecast import multi_power_terms
        >>> terms = multi_power_terms([0.1, 0.1, 0.05, 0.05])
        >>> terms["s1"].round(6).tolist(), terms["drop"].tolist(), terms["s_k"].round(6).ravel().tolist()
        ([0.1, 0.2, 0.25, 0.3], [0.05], [0.0, 0.0, 0.05, 0.1])
    """
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
    """The multi-power law evaluated on `multi_power_terms` (see `multi_power` for the formula).

    Separate from the terms so a fit, which evaluates the law many times on the same rates, builds them once.

    Args:
        terms: what `multi_power_terms` returned.
        L0: the loss the law tends to as the area under the rates grows.
        A: the scale of the power-law term.
        alpha: the exponent of the area S1.
        B: the scale of the loss drop LD.
        C: the scale inside G.
        beta: the exponent of G.
        gamma: the exponent of the rate in G's argument.

    Returns:
        L(t) at the terms' steps.

    Examples:
        >>> from lrlab.lab.studies.forecast import multi_power_from, multi_power_terms
        >>> terms = multi_power_terms([0.1, 0.1, 0.05, 0.05])
        >>> multi_power_from(terms, L0=1.0, A=0.5, alpha=0.5, B=1.0, C=1.0, beta=0.5, gamma=0.5).round(6).tolist()
        [2.581139, 2.118034, 1.995201, 1.904434]
    """
    with np.errstate(divide="ignore"):
        out = L0 + A * terms["s1"] ** (-alpha)
    if terms["drop"].size:
        g = 1.0 - (C * terms["eta"][None, :] ** (-gamma) * terms["s_k"] + 1.0) ** (-beta)  # 0 where S_k = 0
        out = out - B * (g @ terms["drop"])
    return out


def multi_power(lrs: Any, L0: float, A: float, alpha: float, B: float, C: float, beta: float, gamma: float,
                at: Any = None) -> np.ndarray:
    """The multi-power law of Luo et al. 2025: the loss after t updates of the rate sequence `lrs`.

    Formula:

        L(t)  = L0 + A * S1(t)**(-alpha) - LD(t)
        S1(t) = eta_1 + ... + eta_t                                   (the area under the rates)
        LD(t) = B * sum_{k=2..t} (eta_{k-1} - eta_k) * G(eta_k**(-gamma) * S_k(t))
        S_k(t) = eta_k + ... + eta_t,    G(x) = 1 - (C*x + 1)**(-beta)

    eta_k = lrs[k-1] is the rate of update k. The paper writes S1 from the end of warmup plus a warmup area S_W; here
    the warmup's rates are simply part of S1 (the same sum), and a rising rate enters LD with a negative drop, as
    in the authors' fitting code. Rates are floored at 1e-12 inside eta**(-gamma) (a rate of 0 would make it
    infinite). Memory: len(at) x (number of changes of the rate) floats.

    Args:
        lrs: the rate of every update, finite and >= 0.
        L0: the loss the law tends to as the area under the rates grows.
        A: the scale of the power-law term.
        alpha: the exponent of the area S1.
        B: the scale of the loss drop LD.
        C: the scale inside G.
        beta: the exponent of G.
        gamma: the exponent of the rate in G's argument.
        at: the steps t (1..T) to evaluate; None: all.

    Returns:
        An array of L(t) at the steps.

    Examples:
        With a constant rate LD is 0 and L(t) = L0 + A * (0.1 t)**(-alpha); the drop at update 3 lowers the rest:

        >>> from lrlab.lab.studies.forecast import multi_power
        >>> params = dict(L0=1.0, A=0.5, alpha=0.5, B=1.0, C=1.0, beta=0.5, gamma=0.5)
        >>> multi_power([0.1, 0.1, 0.1, 0.1], **params).round(6).tolist()
        [2.581139, 2.118034, 1.912871, 1.790569]
        >>> multi_power([0.1, 0.1, 0.05, 0.05], **params).round(6).tolist()
        [2.581139, 2.118034, 1.995201, 1.904434]
    """
    return multi_power_from(multi_power_terms(lrs, at), L0, A, alpha, B, C, beta, gamma)


def tissue_terms(lrs: Any, at: Any = None, lam: float = TISSUE_LAMBDA) -> dict[str, np.ndarray]:
    """What the Tissue et al. law needs of a rate sequence: S1 and S2 at the steps `at` (see `tissue`).

    S2 sums the momentum m of the rate's decrease, computed with a first-order recursive filter (scipy.signal.lfilter).

    Args:
        lrs: the rate of every update, finite and >= 0.
        at: the steps t (1..T) to evaluate; None: all.
        lam: the momentum's decay factor, in [0, 1].

    Returns:
        A dict with "s1" and "s2" at the steps.

    Examples:
        >>> from lrlab.lab.studies.forecast import tissue_terms
        >>> terms = tissue_terms([0.1, 0.1, 0.05, 0.05], lam=0.5)
        >>> terms["s1"].round(6).tolist(), terms["s2"].round(6).tolist()
        ([0.1, 0.2, 0.25, 0.3], [0.0, 0.0, 0.05, 0.075])
    """
    eta = _rates(lrs)
    t = _at(at, eta.size)
    lam = _check.in_range("tissue", "lam", lam, 0.0, 1.0)
    delta = np.concatenate([[0.0], eta[:-1] - eta[1:]])
    from scipy.signal import lfilter  # m_i = lam * m_{i-1} + delta_i: a first-order recursive filter

    m = lfilter([1.0], [1.0, -lam], delta)
    return {"s1": np.cumsum(eta)[t - 1], "s2": np.cumsum(m)[t - 1]}


def tissue_from(terms: dict[str, np.ndarray], L0: float, A: float, alpha: float, C: float) -> np.ndarray:
    """The Tissue et al. law evaluated on `tissue_terms` (see `tissue` for the formula).

    Separate from the terms so a fit builds them once: L(t) = L0 + A * S1(t)**(-alpha) - C * S2(t).

    Args:
        terms: what `tissue_terms` returned.
        L0: the loss the law tends to as the area under the rates grows.
        A: the scale of the power-law term.
        alpha: the exponent of the area S1.
        C: the weight of the annealing area S2.

    Examples:
        >>> from lrlab.lab.studies.forecast import tissue_from, tissue_terms
        >>> terms = tissue_terms([0.1, 0.1, 0.05, 0.05], lam=0.5)
        >>> tissue_from(terms, L0=1.0, A=0.5, alpha=0.5, C=2.0).round(6).tolist()
        [2.581139, 2.118034, 1.9, 1.762871]
    """
    with np.errstate(divide="ignore"):
        return L0 + A * terms["s1"] ** (-alpha) - C * terms["s2"]


def tissue(lrs: Any, L0: float, A: float, alpha: float, C: float, lam: float = TISSUE_LAMBDA,
           at: Any = None) -> np.ndarray:
    """The law of Tissue et al. 2024 ("Scaling law with learning rate annealing"): the loss after t updates.

    Formula:

        L(t)  = L0 + A * S1(t)**(-alpha) - C * S2(t)
        S1(t) = eta_1 + ... + eta_t                          (forward area)
        S2(t) = m_1 + ... + m_t                              (annealing area)
        m_i   = lam * m_{i-1} + (eta_{i-1} - eta_i),  m_1 = 0 (momentum of the rate's decrease)

    eta_i = lrs[i-1]; lam is the decay factor (0.999 by default, as the paper's experiments use). A rising rate
    (warmup) makes m negative, as the recursion says.

    Args:
        lrs: the rate of every update, finite and >= 0.
        L0: the loss the law tends to as the area under the rates grows.
        A: the scale of the power-law term.
        alpha: the exponent of the area S1.
        C: the weight of the annealing area S2.
        lam: the momentum's decay factor, in [0, 1].
        at: the steps t (1..T) to evaluate; None: all.

    Examples:
        The drop at update 3 adds m_3 = 0.05 to S2, then m_4 = 0.5 * 0.05:

        >>> from lrlab.lab.studies.forecast import tissue
        >>> tissue([0.1, 0.1, 0.05, 0.05], L0=1.0, A=0.5, alpha=0.5, C=2.0, lam=0.5).round(6).tolist()
        [2.581139, 2.118034, 1.9, 1.762871]
    """
    return tissue_from(tissue_terms(lrs, at, lam), L0, A, alpha, C)


def law_terms(law: str, lrs: Any, at: Any = None, *, fitting: bool = False) -> dict[str, np.ndarray]:
    """The parameter-free part of a law (`multi_power_terms` or `tissue_terms`) for a rate sequence.

    With fitting=True the multi-power law's changes are grouped into FIT_TERMS runs (see `multi_power_terms`);
    predictions use the exact terms. The tissue law uses its default lam.

    Args:
        law: "multi_power" or "tissue".
        lrs: the rate of every update.
        at: the steps t (1..T) to evaluate; None: all.
        fitting: group the multi-power law's changes (an approximation for fitting).

    Examples:
        >>> from lrlab.lab.studies.forecast import law_terms
        >>> sorted(law_terms("tissue", [0.1, 0.05])), sorted(law_terms("multi_power", [0.1, 0.05]))
        (['s1', 's2'], ['drop', 'eta', 's1', 's_k'])
    """
    if law == "multi_power":
        return multi_power_terms(lrs, at, FIT_TERMS if fitting else None)
    return tissue_terms(lrs, at)


def law_from(law: str, terms: dict[str, np.ndarray], params: Sequence[float]) -> np.ndarray:
    """A law evaluated on its terms with the given parameters, in the order of PARAMS[law].

    This is how a fit and a Forecast evaluate either law with a parameter vector.

    Args:
        law: "multi_power" or "tissue".
        terms: what `law_terms` returned for that law.
        params: the parameters, in the order of PARAMS[law].

    Examples:
        >>> from lrlab.lab.studies.forecast import PARAMS, law_from, law_terms
        >>> PARAMS["tissue"]
        ('L0', 'A', 'alpha', 'C')
        >>> law_from("tissue", law_terms("tissue", [0.1, 0.1]), [1.0, 0.5, 0.5, 2.0]).round(6).tolist()
        [2.581139, 2.118034]
    """
    return multi_power_from(terms, *params) if law == "multi_power" else tissue_from(terms, *params)


# parameter names, bounds (in scaled-rate units) and starting points of each law
PARAMS = {
    "multi_power": ("L0", "A", "alpha", "B", "C", "beta", "gamma"),
    "tissue": ("L0", "A", "alpha", "C"),
}
