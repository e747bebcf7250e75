"""Training curves of a comparison: loss, a validation metric and the learning rate against epoch.

One colour per schedule; with several seeds the line is the mean and a band shows the spread
(mean ± std, or min–max).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import _figure

BANDS = ("std", "minmax", "none")


def _history(source: Any) -> Any:
    """The joint per-epoch DataFrame of a Comparison (its .history) or a DataFrame given directly."""
    history = getattr(source, "history", source)
    if not hasattr(history, "groupby"):
        raise ValueError(f"expected a Comparison or a history DataFrame, got {type(source).__name__}")
    missing = {"schedule", "epoch", "loss", "lr"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks column(s) {sorted(missing)}; has {list(history.columns)}")
    return history


def pick_metric(history: Any) -> str:
    """The validation column to show: val_accuracy when the task has one, else val_loss."""
    for name in ("val_accuracy", "val_loss"):
        if name in history.columns and history[name].notna().any():
            return name
    return "loss"


def _summary(frame: Any, column: str, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """epoch, centre, low, high of `column` over the seeds of one schedule (inf counts as missing)."""
    values = frame[["epoch", column]].copy()
    values[column] = values[column].astype(float).replace([np.inf, -np.inf], np.nan)
    grouped = values.groupby("epoch")[column]
    epochs = np.asarray(grouped.mean().index, dtype=float)
    mean = grouped.mean().to_numpy(dtype=float)
    if band == "minmax":
        low, high = grouped.min().to_numpy(dtype=float), grouped.max().to_numpy(dtype=float)
    elif band == "std":
        std = np.nan_to_num(grouped.std(ddof=0).to_numpy(dtype=float))
        low, high = mean - std, mean + std
    else:
        low = high = mean
    return epochs, mean, low, high


def _positive_log(ax: Any, values: np.ndarray) -> None:
    """Log scale when every value is positive and they span more than a factor 20."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        from matplotlib.ticker import LogFormatter

        class Plain(LogFormatter):  # 0.1, 0.03 rather than 3×10⁻²; LogFormatter still picks which ticks get labels
            def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
                return f"{x:g}"

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(Plain(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


def draw_curves(axes: Any, source: Any, *, band: str = "std", metric: str | None = None) -> None:
    """Draw loss, `metric` (default: val_accuracy or val_loss) and lr against epoch on three Axes."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    history = _history(source)
    metric = metric or pick_metric(history)
    if metric not in history.columns:
        raise ValueError(f"metric {metric!r} is not a history column; have {list(history.columns)}")
    columns = [("loss", "training loss"), (metric, metric.replace("_", " ")), ("lr", "learning rate")]
    n_seeds = history["seed"].nunique() if "seed" in history.columns else 1
    order = list(dict.fromkeys(history["schedule"]))
    for ax, (column, title) in zip(axes, columns):
        seen = []
        for i, name in enumerate(order):
            frame = history[history["schedule"] == name]
            epochs, mean, low, high = _summary(frame, column, band)
            ax.plot(epochs, mean, color=_figure.color(i), lw=1.6, label=_label(name))
            if n_seeds > 1 and band != "none":
                ax.fill_between(epochs, low, high, color=_figure.color(i), alpha=0.18, lw=0)
            seen.append(mean)
        if column in ("loss", "lr") or column.endswith("loss"):
            _positive_log(ax, np.concatenate(seen) if seen else np.array([]))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)


def _label(name: Any, width: int = 64) -> str:
    text = str(name)
    return text if len(text) <= width else text[: width - 1] + "…"


def curves_figure(
    source: Any, *, band: str = "std", metric: str | None = None, title: str | None = None,
    size: tuple[float, float] = (12.0, 4.2),
) -> Any:
    """A Figure with three panels (loss, validation metric, lr) and one shared legend below them."""
    history = _history(source)
    fig = _figure.new_figure(*size)
    axes = fig.subplots(1, 3)
    draw_curves(axes, history, band=band, metric=metric)
    n_seeds = history["seed"].nunique() if "seed" in history.columns else 1
    handles, names = axes[0].get_legend_handles_labels()
    # as many columns as fit the figure's width (about 14 characters of small text per inch)
    ncol = max(1, min(len(names), int(size[0] * 14 // (max(len(n) for n in names) + 6))))
    fig.legend(handles, names, loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    heading = title or ""
    if n_seeds > 1:
        spread = {"std": "mean ± std", "minmax": "mean, band min–max", "none": "mean"}[band]
        heading = f"{heading} ({spread} over {n_seeds} seeds)".strip()
    if heading:
        fig.suptitle(heading)
    return fig


def plot_curves(
    source: Any, path: str | Path, *, band: str = "std", metric: str | None = None, title: str | None = None,
    size: tuple[float, float] = (12.0, 4.2), dpi: int | None = None,
) -> Path:
    """Write the training curves of a Comparison (or its history DataFrame) to png/svg/pdf; returns the path."""
    path = _figure.check_suffix(path)
    fig = curves_figure(source, band=band, metric=metric, title=title, size=size)
    return _figure.save(fig, path, dpi=dpi)
