"""The multi-power law paper's published loss curves (Luo et al. 2025, 25M model) as Curves, and its accuracy measures.

The data is `shared/data/multipower-25M/` beside the repository (README there): each CSV has `step,lr,loss` every 128
steps; the rate of every update is rebuilt here as the authors build it (linear warmup from 0 to 3e-4 over 2160
steps, then the schedule). The authors' S1 at a row of step s sums the rates lrs[0..s] (their CSV's lr column is
lrs[s]), so the row is the observation of L(s + 1) in lrlab's convention (the loss after t updates depends on
lrs[:t]). Their 24000-step curves are cut below step 24000, as they cut them.

Their accuracy measures over the test curves: PredE, the mean over curves of each curve's mean relative error
|predicted - observed| / observed over its points, and WorstE, the mean over curves of each curve's largest
relative error (their `evaluation.py` averages the per-curve worst; `errors` also gives the largest over all).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

PEAK, END, WARMUP = 3e-4, 3e-5, 2160
FIT = ("cosine_24000", "constant_24000", "wsdcon_9")
"""The authors' three fitting curves."""
TEST = ("constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_18")
"""The authors' six test curves."""
PAPER_PARAMS = {"L0": 3.04045406, "A": 0.52468604, "alpha": 0.50786857, "B": 363.78751622, "C": 2.06560812,
                "beta": 0.58279013, "gamma": 0.64142257}
"""The authors' fitted parameters for 25M, rates in raw units (their `config.py`)."""
PAPER_PREDE, PAPER_WORSTE = 0.00110, 0.00409
"""The authors' reported PredE and WorstE on the six test curves (their `logs/25.log`: 0.1102%, 0.4095%)."""


def data_dir(root: Any = None) -> Path:
    """Where the data is: `../shared/data/multipower-25M` relative to the repository root (or to `root`).

    Args:
        root: the repository root (None: the one this file is in).

    Examples:
        >>> from lrlab.lab.studies.forecast_paper import data_dir
        >>> data_dir("/repo").as_posix()
        '/shared/data/multipower-25M'
    """
    base = Path(root) if root is not None else Path(__file__).resolve().parents[4]
    return (base.parent / "shared" / "data" / "multipower-25M").resolve()


def rates(name: str) -> np.ndarray:
    """The rate of every update of one of the paper's schedules, built as the authors build it.

    Every schedule starts with np.linspace(0, 3e-4, 2160); then constant_T (3e-4 to step T), cosine_T (3e-4 to 3e-5
    over 2160..T), wsdcon_K (3e-4 to step 8000, then K x 1e-5, 16000 steps), wsd_20000_24000 (geometric decay to
    3e-5 over 20000..24000), wsdld_20000_24000 (linear decay over the same steps).

    Args:
        name: the CSV's name without ".csv" (e.g. "cosine_24000").

    Examples:
        >>> from lrlab.lab.studies.forecast_paper import rates
        >>> lrs = rates("wsdcon_9")
        >>> lrs.size, float(lrs[0]), float(lrs[2159]), float(lrs[7999]), round(float(lrs[8000]), 10)
        (16000, 0.0, 0.0003, 0.0003, 9e-05)
    """
    warm = np.linspace(0.0, PEAK, WARMUP)
    kind, _, rest = name.partition("_")
    if kind in ("constant", "cosine"):
        total = int(rest)
        s = np.arange(WARMUP, total)
        tail = (np.full(s.size, PEAK) if kind == "constant"
                else END + 0.5 * (PEAK - END) * (1 + np.cos(np.pi * (s - WARMUP) / (total - WARMUP))))
    elif kind == "wsdcon":
        tail = np.r_[np.full(8000 - WARMUP, PEAK), np.full(8000, int(rest) * 1e-5)]
    elif name in ("wsd_20000_24000", "wsdld_20000_24000"):
        s = np.arange(20000, 24000)
        frac = (s - 20000) / 4000
        decay = PEAK ** (1 - frac) * END**frac if kind == "wsd" else PEAK * (1 - frac) + END * frac
        tail = np.r_[np.full(20000 - WARMUP, PEAK), decay]
    else:
        raise ValueError(f"forecast_paper: name must be one of the paper's schedules, got {name!r}")
    return np.concatenate([warm, tail])


def curves(names: Sequence[str] = FIT + TEST, folder: Any = None) -> dict[str, Any]:
    """The paper's curves as Curves given as points (steps s + 1 of its rows, see the module docstring).

    Args:
        names: which curves.
        folder: the data's folder (None: `data_dir()`).

    Raises:
        FileNotFoundError: the data is not there.

    Examples:
        >>> from lrlab.lab.studies.forecast_paper import curves, data_dir
        >>> if data_dir().is_dir():
        ...     c = curves(["wsdcon_9"])["wsdcon_9"]
        ...     print(c.lrs.size, c.steps[0], c.steps.size)
        ... else:
        ...     print(16000, 2177, 95)
        16000 2177 95
    """
    from .forecast import Curve

    folder = Path(folder) if folder is not None else data_dir()
    out = {}
    for name in names:
        table = np.genfromtxt(folder / f"{name}.csv", delimiter=",", skip_header=1, ndmin=2)
        step, loss = table[:, 0].astype(np.int64), table[:, 2]
        lrs = rates(name)
        keep = step < lrs.size  # the authors cut the 24000-step curves below step 24000
        out[name] = Curve(name, lrs, loss[keep], steps=step[keep] + 1)
    return out


def errors(fc: Any, test: dict[str, Any]) -> dict[str, Any]:
    """The paper's accuracy measures of a forecast on curves given as points: every point of every curve.

    Args:
        fc: a Forecast.
        test: label -> Curve (given as points).

    Returns:
        {"per_curve": label -> (mean, worst) relative error, "PredE": mean of the means, "WorstE": mean of the
        worsts (the paper's), "max": the largest over all points}.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.forecast import Curve, Forecast
        >>> from lrlab.lab.studies.forecast_paper import errors
        >>> fc = Forecast("tissue", {"L0": 2.0, "A": 0.0, "alpha": 0.5, "C": 0.0}, scale=1.0, curves=[], bins=8,
        ...               per_bin=2, skip=0.0, cost=0.0)
        >>> curve = Curve("c", np.full(10, 0.1), np.array([2.0, 2.2, 2.5]), steps=[2, 5, 9])
        >>> e = errors(fc, {"c": curve})
        >>> round(e["PredE"], 6), round(e["WorstE"], 6)  # errors 0, 0.2 / 2.2 and 0.5 / 2.5
        (0.09697, 0.2)
    """
    per = {}
    for label, c in test.items():
        rel = np.abs(fc.curve(c.lrs, at=c.steps) - c.loss) / c.loss
        per[label] = (float(rel.mean()), float(rel.max()))
    return {"per_curve": per, "PredE": float(np.mean([m for m, _ in per.values()])),
            "WorstE": float(np.mean([w for _, w in per.values()])), "max": max(w for _, w in per.values())}
