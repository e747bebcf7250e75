"""Whether a leaderboard's order is more than the seeds' noise: every entry against #1, paired by seed.

The entries of a comparison train on the same seeds, so each seed gives a paired difference d = (#1's figure minus
the entry's), signed so that d > 0 means #1 did better. Over the n seeds both finished, the mean difference and its
standard deviation give Student's t with n - 1 degrees of freedom; the one-sided paired t-test at LEVEL (5%) says
whether #1 beats the entry, and t's distribution gives the probability that #1's true mean is the better one (flat
prior: P = T(mean / (sd / sqrt(n)), n - 1)). An entry #1 does not beat at that level is *tied* with it. With the
measured mean and spread, `seeds_needed` is the number of seeds at which the same difference would pass the test.
A single seed, or a difference of zero spread, is said as such rather than tested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.05
"""The one-sided level of the paired t-test: #1 beats an entry when its p-value is below this."""

MAX_SEEDS = 1000
"""The most seeds `seeds_needed` looks at (past it: "more than 1000")."""


@dataclass(frozen=True)
class Versus:
    """#1 against one other entry, paired by seed.

    Attributes:
        label: the other entry.
        seeds: the seeds both finished with a finite figure (n).
        mean: the mean paired difference, > 0 when #1 did better.
        sd: its standard deviation over the seeds (ddof=1; NaN for one seed).
        p_better: the probability that #1's mean is the better one (t distribution, flat prior); NaN for one seed.
        p_value: the one-sided paired t-test's p-value (NaN for one seed).
        tied: #1 does not beat the entry at LEVEL (always True for fewer than 2 seeds).
        seeds_needed: seeds at which the measured difference would pass the test at its measured spread (None: it
            already does, or it cannot: #1 not better on average, or more than MAX_SEEDS).
    """

    label: str
    seeds: int
    mean: float
    sd: float
    p_better: float
    p_value: float
    tied: bool
    seeds_needed: int | None


def _t_cdf(x: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.cdf(x, dof))


def versus(best: Mapping[int, float], other: Mapping[int, float], label: str, higher_is_better: bool) -> Versus:
    """#1's figures against another entry's, each a {seed: figure}, paired over the seeds both have finite.

    Args:
        best: #1's figure per seed.
        other: the other entry's figure per seed.
        label: the other entry's label.
        higher_is_better: the figure's direction (accuracy: True; a loss: False).

    Examples:
        >>> from lrlab.lab.ties import versus
        >>> v = versus({0: 0.95, 1: 0.96, 2: 0.97}, {0: 0.90, 1: 0.92, 2: 0.91}, "b", higher_is_better=True)
        >>> v.tied, round(v.p_better, 3), v.seeds
        (False, 0.993, 3)
        >>> versus({0: 0.95, 1: 0.91}, {0: 0.94, 1: 0.93}, "c", True).tied
        True
    """
    seeds = sorted(s for s in best.keys() & other.keys() if math.isfinite(best[s]) and math.isfinite(other[s]))
    sign = 1.0 if higher_is_better else -1.0
    d = np.array([sign * (best[s] - other[s]) for s in seeds], dtype=np.float64)
    n = len(d)
    if n == 0:
        return Versus(label, 0, math.nan, math.nan, math.nan, math.nan, True, None)
    mean = float(d.mean())
    if n < 2:
        return Versus(label, 1, mean, math.nan, math.nan, math.nan, True, None)
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every seed the same difference: certain, either way
        better = 1.0 if mean > 0 else (0.5 if mean == 0 else 0.0)
        return Versus(label, n, mean, 0.0, better, 1.0 - better, mean <= 0, None)
    t = mean / (sd / math.sqrt(n))
    p_better = _t_cdf(t, n - 1)
    p_value = 1.0 - p_better
    tied = p_value >= LEVEL
    return Versus(label, n, mean, sd, p_better, p_value, tied, seeds_needed(mean, sd) if tied else None)


def seeds_needed(mean: float, sd: float) -> int | None:
    """The fewest seeds n at which a paired difference of this mean and spread passes the one-sided t-test at LEVEL
    (t = mean / (sd / sqrt(n)) above t's 1 - LEVEL quantile with n - 1 degrees of freedom); None when the mean is
    not positive or more than MAX_SEEDS would be needed.

    Args:
        mean: the mean paired difference (> 0: #1 better).
        sd: its standard deviation.

    Examples:
        >>> from lrlab.lab.ties import seeds_needed
        >>> seeds_needed(0.01, 0.01), seeds_needed(0.01, 0.05), seeds_needed(-0.01, 0.01)
        (5, 70, None)
    """
    from scipy.stats import t

    if not (mean > 0) or not math.isfinite(sd):
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_SEEDS + 1):
        if mean / (sd / math.sqrt(n)) > t.ppf(1.0 - LEVEL, n - 1):
            return n
    return None


def compare_to_best(figures: Mapping[str, Mapping[int, float]], order: Sequence[str],
                    higher_is_better: bool) -> list[Versus]:
    """Every entry after the first of `order` (the leaderboard's) against the first, paired by seed.

    Args:
        figures: per entry label, its figure per seed.
        order: the labels, best first.
        higher_is_better: the figure's direction.

    Examples:
        >>> from lrlab.lab.ties import compare_to_best
        >>> figs = {"a": {0: 0.95, 1: 0.96}, "b": {0: 0.90, 1: 0.97}}
        >>> [(v.label, v.tied) for v in compare_to_best(figs, ["a", "b"], True)]
        [('b', True)]
    """
    if not order:
        return []
    best = figures[order[0]]
    return [versus(best, figures[label], label, higher_is_better) for label in order[1:]]


def headline(results: Sequence[Versus], best: str, seeds: int) -> str:
    """The one line that says what the order means: #1 beats every other entry, or which are tied with it, or
    that nothing beats the seeds' noise (with the seeds that would resolve #1 against #2 at the measured spread).

    Args:
        results: `compare_to_best`'s list (leaderboard order).
        best: #1's label.
        seeds: the seeds of the comparison.

    Examples:
        >>> from lrlab.lab.ties import headline, versus
        >>> tied = versus({0: 0.95, 1: 0.93}, {0: 0.94, 1: 0.93}, "b", True)
        >>> headline([tied], "a", 2).split("; ")
        ['no schedule is better than the others on 2 seeds (paired t-test, one-sided 5%)', 'run more seeds: about 8 \
would tell a from b at the measured spread']
    """
    method = f"paired t-test, one-sided {LEVEL:.0%}"
    if not results:
        return f"{best} is the only entry"
    if seeds < 2:
        return f"one seed: the order is not tested against the seeds' noise (run 2 or more seeds; {method})"
    if all(v.sd == 0 for v in results):  # no spread between the seeds to test the differences against
        if all(v.mean == 0 for v in results):
            return f"every seed gives every entry the same figure as {best}: they are tied"
        return (f"every seed gives the same differences from {best}: with no spread between seeds to test them "
                "against, the order holds on every seed")
    tied = [v for v in results if v.tied]
    if not tied:
        return f"{best} is better than every other entry on {seeds} seeds ({method})"
    if len(tied) == len(results):
        line = f"no schedule is better than the others on {seeds} seeds ({method}); run more seeds"
        first = results[0]
        if first.seeds_needed is not None:
            line += f": about {first.seeds_needed} would tell {best} from {first.label} at the measured spread"
        elif first.seeds >= 2 and not first.mean > 0:
            line += f" ({best} and {first.label} are even on average: more seeds may still not separate them)"
        elif first.seeds >= 2:
            line += f": more than {MAX_SEEDS} would be needed to tell {best} from {first.label} at this spread"
        return line
    names = ", ".join(v.label for v in tied)
    return f"{best} is tied with {names} on {seeds} seeds ({method}); better than the rest"
