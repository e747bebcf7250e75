"""The picture of a WSD cooldowns result (lrlab.lab.studies.cooldowns): the final metric against the training length,
the wsd branches beside the cosine runs of the same lengths (mean over seeds, with a std bar when there are several)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import _figure


def cooldowns_figure(result: Any, *, title: str | None = None, size: tuple[float, float] = (6.4, 4.2)) -> Any:
    """A Figure: result.metric against length (steps), one line per family (wsd branches, cosine)."""
    table = result.table
    fig = _figure.new_figure(*size)
    ax = fig.subplots()
    families = [("wsd", f"{result.spec!r} branches")]
    if table["cosine"].notna().any():
        families.append(("cosine", f"cosine({result.spec.peak_lr:g})"))
    x = table["length"].to_numpy(float)
    for i, (column, label) in enumerate(families):
        mean = table[column].to_numpy(float)
        std = np.nan_to_num(table[f"{column}_std"].to_numpy(float))
        look = _figure.style(i)
        ax.errorbar(x, mean, yerr=std if std.any() else None, marker="o", lw=1.6, capsize=3, label=label, **look)
    ax.set_xlabel("training length (steps)")
    ax.set_ylabel(result.metric.replace("_", " "))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    n = len(result.seeds)
    heading = title or f"{result.task.name}: cooldown {result.spec.decay} vs cosine"
    ax.set_title(heading + (f" (mean ± std over {n} seeds)" if n > 1 else ""), fontsize="medium")
    return fig


def plot_cooldowns(result: Any, path: str | Path, *, title: str | None = None, dpi: int | None = None) -> Path:
    """Write `cooldowns_figure(result)` to png/svg/pdf; returns the path."""
    path = _figure.check_suffix(path)
    return _figure.save(cooldowns_figure(result, title=title), path, dpi=dpi)
