"""What `lrlab.lab.forecast.fit` checks beyond the size of its errors, so a fit that looks fine is not trusted blindly
(issue 24): the order of the fitting schedules left out one at a time, whether the fitting set can identify the
law's decay term at all, and the errors in nats next to the schedule effect.

- Ranking: each fitting schedule is left out, the law refitted on the others predicts its final loss; the pairs of
  schedules whose measured order those predictions reverse (beyond the noise of the final losses) are ranking
  errors. A tuner ranks schedules by forecast, so a reversed pair is a wrong answer even when every error is small.
- Decay term: the multi-power law's LD(t) and the tissue law's S2 describe how the loss answers a drop of the rate.
  Without a fitting schedule whose rate drops clearly (by DROP_FRACTION of its peak within DROP_WINDOW of its
  updates: a step, a short cooldown; not a cosine, an exponential or a constant), that term is fitted to the slow
  decrease only, so a schedule with a drop is extrapolated, not forecast.
- Schedule effect: the spread (largest - smallest) of the fitting schedules' measured final losses. A final-loss
  error of 0.2% of a loss of 3 is 0.006 nats, which can be most of the difference between two schedules; an error
  past WARN_EFFECT of the spread means the forecast cannot tell these schedules apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DROP_FRACTION = 0.5  # a clear drop: the rate falls by this fraction of its peak ...
DROP_WINDOW = 0.1  # ... within this fraction of the schedule's updates
WARN_EFFECT = 0.5  # a left-out schedule's final-loss error past this fraction of the schedule effect is a warning


def clear_drop(lrs: Any) -> bool:
    """Whether a rate sequence falls by DROP_FRACTION of its peak within DROP_WINDOW of its updates somewhere.

    Args:
        lrs: the rate of every update.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast_checks import clear_drop
        >>> t = np.arange(1000)
        >>> clear_drop(np.where(t < 800, 1.0, 0.3)), clear_drop(0.5 * (1 + np.cos(np.pi * t / 1000)))
        (True, False)
    """
    eta = np.asarray(lrs, dtype=np.float64)
    peak = float(eta.max()) if eta.size else 0.0
    if peak <= 0:
        return False
    w = max(1, int(DROP_WINDOW * eta.size))
    from scipy.ndimage import minimum_filter1d

    # the lowest rate among updates i..i+w, for every i (past the end: the last rate)
    padded = np.concatenate([eta, np.full(w, eta[-1])])
    ahead = minimum_filter1d(padded, size=w + 1, origin=-((w + 1) // 2), mode="nearest")[: eta.size]
    return bool(np.max(eta - ahead) >= DROP_FRACTION * peak * (1 - 1e-9))  # a drop of exactly half counts


def reversed_pairs(measured: dict[str, float], predicted: dict[str, float], tolerance: dict[str, float] | None = None
                   ) -> list[tuple[str, str]]:
    """The pairs (a, b) measured a < b (a lower final loss) that the predictions order b < a.

    A pair whose measured gap is within the sum of the two tolerances (their noise) is not counted.

    Args:
        measured: label -> measured final loss.
        predicted: label -> predicted final loss (leave-one-out).
        tolerance: label -> how far its measured final loss is uncertain (None: 0).

    Examples:
        >>> from lrlab.lab.studies.forecast_checks import reversed_pairs
        >>> reversed_pairs({"a": 1.0, "b": 1.2, "c": 1.5}, {"a": 1.3, "b": 1.25, "c": 1.6})
        [('a', 'b')]
        >>> reversed_pairs({"a": 1.0, "b": 1.01}, {"a": 1.3, "b": 1.25}, {"a": 0.01, "b": 0.01})
        []
    """
    tol = tolerance or {}
    labels = sorted(measured, key=measured.get)
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            gap = measured[b] - measured[a]
            if gap > tol.get(a, 0.0) + tol.get(b, 0.0) and predicted[b] < predicted[a]:
                out.append((a, b))
    return out


def problems(law: str, curves: Sequence[Any], quality: dict[str, Any]) -> list[str]:
    """The sentences `fit` adds to its warning from these checks (an empty list: nothing to say).

    Args:
        law: the fitted law.
        curves: the fitting Curves.
        quality: the fit's quality (with "held_out_ranking" and "schedule_effect" where the leave-one-out check ran).

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve
        >>> from lrlab.lab.studies.forecast_checks import problems
        >>> t = np.arange(100)
        >>> cosine = Curve("cosine", 0.5 * (1 + np.cos(np.pi * t / 100)), np.linspace(3, 2, 100))
        >>> problems("tissue", [cosine], {})[0][:60]
        'no fitting schedule drops its rate clearly (by half its peak'
    """
    out = []
    if not any(clear_drop(c.lrs) for c in curves):
        term = "LD" if law == "multi_power" else "S2"
        out.append(f"no fitting schedule drops its rate clearly (by half its peak within a tenth of its updates), so "
                   f"the law's decay term ({term}) is not identified: forecasts of schedules with a step or a short "
                   f"cooldown are extrapolations (fit a step or wsd schedule too)")
    pairs = quality.get("held_out_ranking") or []
    if pairs:
        shown = ", ".join(f"{a} below {b}" for a, b in pairs)
        out.append(f"left out of the fit in turn, the schedules are ranked wrongly (measured {shown}; the forecasts "
                   f"reverse {'it' if len(pairs) == 1 else 'them'})")
    effect = quality.get("schedule_effect")
    nats = quality.get("held_out_final_nats")
    if effect and nats:
        worst = max(nats, key=nats.get)
        if nats[worst] > WARN_EFFECT * effect:
            out.append(f"left out of the fit, {worst} is predicted {nats[worst]:.3g} off at the end, "
                       f"{nats[worst] / effect:.0%} of the {effect:.3g} spread between the fitting schedules' final "
                       f"losses (threshold {WARN_EFFECT:.0%}): the forecasts cannot tell these schedules apart")
    return out
