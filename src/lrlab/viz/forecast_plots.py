"""Pictures of a loss forecast: the fitting runs against the fitted law, and the forecast curves of the candidate
schedules (with their measured curves when they were trained to check)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import _figure


def forecast_figure(fc: Any, predictions: Sequence[Any], measured: Mapping[str, Sequence[Any]] | None = None,
                    *, title: str | None = None, size: tuple[float, float] = (12.0, 4.6)) -> Any:
    """Two panels: left, each fitting run's measured loss (block means, dots) and the fitted law (line); right, each
    prediction (line) and, for labels in `measured`, the trained runs' loss (dots). Log loss axis. The laws are
    drawn from the end of the fit's skipped start on (they blow up near update 0)."""
    from ..lab.studies.forecast import smoothed

    fig = _figure.new_figure(*size)
    left, right = fig.subplots(1, 2)
    for i, curve in enumerate(fc.curves):
        st = _figure.style(i)
        t, loss = smoothed(curve, fc.bins)
        left.plot(t, loss, ls="none", marker=".", ms=3, color=st["color"])
        steps = np.arange(_start(fc, curve.lrs.size), curve.lrs.size + 1)
        left.plot(steps, fc.curve(curve.lrs, at=steps), lw=1.2, color=st["color"], linestyle=st["linestyle"],
                  label=_figure.labels([curve.label])[0])
    left.set_title(f"fit: {fc.law} law on {len(fc.curves)} runs (dots: measured)", fontsize="medium")
    for i, pred in enumerate(predictions):
        st = _figure.style(i)
        first = _start(fc, pred.loss.size)
        right.plot(np.arange(first, pred.loss.size + 1), pred.loss[first - 1:], lw=1.2,
                   label=_figure.labels([pred.label])[0], **st)
        for run in (measured or {}).get(pred.label, []):
            t, loss = smoothed(run, fc.bins)
            right.plot(t, loss, ls="none", marker=".", ms=3, color=st["color"])
    right.set_title("forecast (lines)" + (" and trained (dots)" if measured else ""), fontsize="medium")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel("update")
        ax.set_ylabel("training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", frameon=False)
    if fc.warning:
        fig.suptitle("WARNING: the law does not hold here: see the printed errors", color="#d62728")
    elif title:
        fig.suptitle(title)
    return fig


def _start(fc: Any, n: int) -> int:
    """The first update drawn: the law is fitted (and drawn) past the first `skip` fraction of the updates."""
    return max(1, math.ceil(fc.skip * n))


def plot_forecast(fc: Any, predictions: Sequence[Any], path: str | Path,
                  measured: Mapping[str, Sequence[Any]] | None = None, *, title: str | None = None) -> Path:
    """Write `forecast_figure` to png/svg/pdf; returns the path."""
    path = _figure.check_suffix(path)
    return _figure.save(forecast_figure(fc, predictions, measured, title=title), path)
