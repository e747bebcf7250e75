"""The picture of a population-based training study (lrlab.lab.studies.pbt): every member's rate over the epochs
(log scale) with each copy drawn as a link from the donor to the member, the winner's lineage highlighted; below,
the population's validation figure after every epoch, the winner's lineage highlighted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import _figure


def pbt_figure(result: Any, *, title: str | None = None, size: tuple[float, float] = (7.2, 6.4)) -> Any:
    """A Figure of a PBT result: rates (top, log y) and the ranked figure (bottom) against epochs.

    Each member's rate is a thin grey line per interval; a dashed link joins a donor's rate at the
    end of an interval to the rate the copying member explores next; the winner's lineage is a thick line in both
    panels (its rates, and its run's history: the figures of the members it descended from).

    Args:
        result: a `lrlab.lab.studies.pbt_result.PBT`.
        title: the heading (default: task, population, intervals).
        size: the figure size in inches.

    Examples:
        >>> import lrlab.viz.pbt_plots as plots
        >>> from lrlab.lab.studies.pbt import pbt
        >>> result = pbt("or3", population=3, interval=1, epochs=3, progress=False)
        >>> fig = plots.pbt_figure(result)
        >>> [ax.get_yscale() for ax in fig.axes]
        ['log', 'linear']
    """
    fig = _figure.new_figure(*size)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    n, k_count = result.rates.shape
    edges = [min(result.epochs, i * result.interval) for i in range(n + 1)]
    grey = {"color": "0.6", "lw": 0.8, "alpha": 0.8}
    for k in range(k_count):  # a member's rate per interval (no vertical joins: those are the copies' links)
        top.hlines(result.rates[:, k], edges[:-1], edges[1:], **grey)
    for e in result.events:
        i = int(e["interval"]) + 1  # the interval the copy starts
        x = edges[i]
        top.plot([x, x], [e["old_rate"], e["new_rate"]], ls="--", lw=0.8, color="0.35", alpha=0.8)
        top.plot([x], [e["old_rate"]], marker="o", ms=2.5, color="0.35")
    path = result.lineage()
    won = np.array([result.rates[i, k] for i, k in enumerate(path)])
    look = _figure.style(0)
    top.stairs(won, edges, baseline=None, lw=2.4, color=look["color"], label=f"winner (member {result.winner})")
    top.set_yscale("log")
    top.set_ylabel("learning rate")
    top.grid(True, which="both", alpha=0.25)
    top.plot([], [], ls="--", lw=0.8, color="0.35", label="copy: donor's rate -> explored rate")
    top.legend(fontsize="small", frameon=False, loc="best")
    epochs = np.arange(1, len(result.curves) + 1)
    for k in range(k_count):
        bottom.plot(epochs, result.curves[:, k], **grey)
    history = result.runs[result.winner].history if result.runs else None
    column = result.ranking.metric
    if history is not None and column in history.columns:
        bottom.plot(history["epoch"], history[column], lw=2.4, color=look["color"])
    bottom.set_xlabel("epoch")
    bottom.set_ylabel(column.replace("_", " "))
    bottom.grid(True, alpha=0.25)
    heading = title or (f"{result.task.name}: PBT of the learning rate, {k_count} members, {n} intervals of "
                        f"{result.interval} epoch{'s' if result.interval != 1 else ''}")
    top.set_title(heading, fontsize="medium")
    return fig


def plot_pbt(result: Any, path: str | Path, *, title: str | None = None, dpi: int | None = None) -> Path:
    """Write `pbt_figure(result)` to a png, svg or pdf file; returns the path.

    The suffix is checked before anything is drawn.

    Args:
        result: a `lrlab.lab.studies.pbt_result.PBT`.
        path: the file to write.
        title: the heading.
        dpi: dots per inch (None: matplotlib's default).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.studies.pbt import pbt
        >>> from lrlab.viz.pbt_plots import plot_pbt
        >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     plot_pbt(result, Path(out) / "pbt.png").name
        'pbt.png'
    """
    path = _figure.check_suffix(path)
    return _figure.save(pbt_figure(result, title=title), path, dpi=dpi)
