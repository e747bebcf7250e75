"""Training curves of a comparison: loss, a validation metric and the learning rate against epoch (or against
optimizer steps, for a task whose unit is "steps").

One colour per schedule; with several seeds the line is the mean and a band shows the spread
(mean ± std, or min–max), or (`per_seed`) each seed's own thin line in its schedule's colour.
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


def x_axis(source: Any) -> str:
    """The history column the curves are drawn against: "step" for a Comparison whose task's unit is "steps"
    (lrlab.lab.Task.unit), else "epoch"."""
    task = None if hasattr(source, "columns") else getattr(source, "task", None)  # (a DataFrame: its columns)
    return "step" if getattr(task, "unit", "epochs") == "steps" else "epoch"


def _summary(frame: Any, column: str, band: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """x (epoch or step), centre, low, high of `column` over the seeds of one schedule (inf counts as missing)."""
    values = frame[[x, column]].copy()
    values[column] = values[column].astype(float).replace([np.inf, -np.inf], np.nan)
    grouped = values.groupby(x)[column]
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


HUGE = 1e300  # values past this are treated as overflow: nothing finite can be drawn around them
HEADROOM = 1e3  # a diverged curve may climb this factor above the healthy curves before the axis clips it


def _diverged(source: Any, history: Any) -> set[str]:
    """Schedules with a run that did not finish "ok" (from the runs when given), or with a non-finite or
    overflowing loss in the history."""
    out = {str(getattr(r, "label", None) or (getattr(r, "config", {}) or {}).get("schedule"))
           for r in getattr(source, "runs", None) or [] if getattr(r, "status", "ok") != "ok"}
    losses = [c for c in history.columns if c == "loss" or c.endswith("_loss")]
    for name, frame in history.groupby("schedule", sort=False):
        values = frame[losses].to_numpy(dtype=float)
        if (~np.isfinite(values) | (np.abs(values) > HUGE)).any():
            out.add(str(name))
    return out


def _use_log(values: np.ndarray) -> bool:
    """Log scale when every value is positive and they span more than a factor 20."""
    return bool(values.size and values.min() > 0 and values.max() / values.min() > 20)


def _log_axis(ax: Any) -> None:
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # 0.1, 0.03 rather than 3×10⁻²; LogFormatter still picks which ticks get labels
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:g}"

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(Plain(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


def _limits(reference: np.ndarray, every: np.ndarray, log: bool) -> tuple[float, float]:
    """y limits that show every value, except that diverged values may not stretch the axis more than
    HEADROOM beyond the `reference` (healthy) values; they are clipped at the edge instead."""
    if log:
        ref, allv = np.log10(reference), np.log10(every)
        head = np.log10(HEADROOM)
        lo, hi = max(allv.min(), ref.min() - head, -300.0), min(allv.max(), ref.max() + head, 300.0)
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        return float(10 ** (lo - pad)), float(10 ** (hi + pad))
    span = float(np.ptp(reference)) or max(abs(float(reference[0])), 1.0)
    lo = max(float(every.min()), float(reference.min()) - HEADROOM * span)
    hi = min(float(every.max()), float(reference.max()) + HEADROOM * span)
    pad = 0.05 * (hi - lo) if hi > lo else 0.5 * span
    return lo - pad, hi + pad


def _inside(value: float, limits: tuple[float, float], log: bool) -> float:
    """value, or the nearest point 3% inside the axis when it lies outside (a marker stays visible)."""
    lo, hi = (np.log10(limits[0]), np.log10(limits[1])) if log else limits
    v = np.log10(value) if log and value > 0 else (lo if log else value)
    v = min(max(v, lo + 0.03 * (hi - lo)), hi - 0.03 * (hi - lo))
    return float(10**v if log else v)


def _finite(values: np.ndarray) -> np.ndarray:
    """values with inf and overflow (|v| > HUGE) as NaN, so matplotlib leaves a gap rather than failing."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (np.abs(values) <= HUGE), values, np.nan)


def draw_curves(axes: Any, source: Any, *, band: str = "std", metric: str | None = None, x: str | None = None,
                per_seed: bool = False) -> None:
    """Draw loss, `metric` (default: val_accuracy or val_loss) and lr against x ("epoch" or "step"; default
    `x_axis(source)`) on three Axes.

    A diverged schedule draws its finite part, an × where it stops and "(diverged)" in its label; its
    blow-up does not stretch the axes. A schedule whose curves equal an earlier one's is drawn dashed on top. A
    schedule whose rates differ by seed (a plateau's reductions) draws each seed's rate, not their mean; a
    comparison's target is a dotted line on the panel it is counted on. `per_seed`: every panel draws one thin line
    per (schedule, seed), its gid "SCHEDULE · seed N", instead of the mean and band (the axes then cover every
    seed's values)."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    history = _history(source)
    metric = metric or pick_metric(history)
    x = x or x_axis(source)
    if x not in ("epoch", "step") or x not in history.columns:
        raise ValueError(f"x must be 'epoch' or 'step' (a history column), got {x!r}")
    if metric not in history.columns:
        raise ValueError(f"metric {metric!r} is not a history column; have {list(history.columns)}")
    columns = [("loss", "training loss"), (metric, metric.replace("_", " ")), ("lr", "learning rate")]
    n_seeds = history["seed"].nunique() if "seed" in history.columns else 1
    order = list(dict.fromkeys(history["schedule"]))
    diverged = _diverged(source, history)
    names = _figure.labels(order)
    spread = "minmax" if per_seed else band  # per seed, the limits must hold every seed's line
    summaries = {
        name: [_summary(history[history["schedule"] == name], column, spread, x) for column, _ in columns]
        for name in order
    }
    twin = {}  # schedule -> the earlier schedule with the very same curves
    for i, name in enumerate(order):
        mine = [np.nan_to_num(m, nan=-1.0) for _, m, _, _ in summaries[name]]
        for other in order[:i]:
            theirs = [np.nan_to_num(m, nan=-1.0) for _, m, _, _ in summaries[other]]
            if all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(mine, theirs)):
                twin[name] = other
                break
    for k, (ax, (column, title)) in enumerate(zip(axes, columns)):
        drawn = {name: [_finite(a) for a in summaries[name][k]] for name in order}
        every = np.concatenate([v for name in order for v in drawn[name][1:]])
        every = every[np.isfinite(every)]
        healthy = np.concatenate([v for name in order if name not in diverged for v in drawn[name][1:]] or
                                 [np.array([])])
        healthy = healthy[np.isfinite(healthy)]
        if column == "lr":
            reference = every
        elif healthy.size:
            reference = healthy
        else:  # every schedule diverged: the first values, before any blow-up, set the scale
            firsts = [v[np.isfinite(v)][:1] for name in order for v in drawn[name][1:]]
            reference = np.concatenate(firsts) if firsts else every
        log = column in ("loss", "lr") or column.endswith("loss")
        log = log and _use_log(every)
        limits = _limits(reference[reference > 0] if log else reference, every, log) if every.size else None
        for i, name in enumerate(order):
            epochs, mean, low, high = drawn[name]
            if limits is not None:  # off-axis values stay off-axis, without huge numbers in the drawing
                lo, hi = limits
                span = (lo / 10, hi * 10) if log else (2 * lo - hi, 2 * hi - lo)
                mean, low, high = (np.clip(v, *span) for v in (mean, low, high))
            look = _figure.style(i)
            if name in twin:
                look["linestyle"] = (3, (4, 4))  # dashed on top of its twin, so both colours show
            label = names[i] + (" (diverged)" if name in diverged else "") + (" (same curves)" if name in twin else "")
            part = history[history["schedule"] == name]
            if per_seed or (column == "lr" and n_seeds > 1 and part.groupby(x)["lr"].nunique().max() > 1):
                # each seed's own line (for the lr: a plateau's reductions differ by seed, and their mean is a
                # level no run had)
                _per_seed(ax, part, column, x, name, label, look, limits, log, marks=name in diverged)
                continue
            ax.plot(epochs, mean, lw=1.6, label=label, **look)
            if n_seeds > 1 and band != "none":
                ax.fill_between(epochs, low, high, color=look["color"], alpha=0.18, lw=0)
            last = np.flatnonzero(np.isfinite(mean))
            if name in diverged and last.size and limits is not None:
                y = _inside(mean[last[-1]], limits, log)
                ax.plot([epochs[last[-1]]], [y], ls="none", marker="x", ms=9, mew=2.2, color=look["color"],
                        zorder=5)
        target = _target(source, column)
        if target is not None and limits is not None and limits[0] <= target <= limits[1]:
            ax.axhline(target, ls=":", lw=1.2, color="0.35", zorder=1, label="target")
        if limits is not None:
            ax.set_ylim(*limits)  # before the scale, so matplotlib never autoscales around a blow-up
        if log:
            _log_axis(ax)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.set_ylabel(title)
        ax.grid(True, alpha=0.3)


def _per_seed(ax: Any, part: Any, column: str, x: str, name: str, label: str, look: dict[str, Any],
              limits: tuple[float, float] | None, log: bool, marks: bool) -> None:
    """One thin line per seed of one schedule (`part`, its rows of the history), labelled once, each with the gid
    "NAME · seed N"; with `marks` (a diverged schedule) an × where a seed's line stops being finite."""
    seeds = part.groupby("seed", sort=True) if "seed" in part.columns else [(0, part)]
    last_x = float(part[x].max())
    for j, (seed, frame) in enumerate(seeds):
        frame = frame.sort_values(x)
        xs, ys = frame[x].to_numpy(dtype=float), _finite(frame[column].to_numpy(dtype=float))
        if limits is not None:
            lo, hi = limits
            ys = np.clip(ys, *((lo / 10, hi * 10) if log else (2 * lo - hi, 2 * hi - lo)))
        ax.plot(xs, ys, lw=1.0, alpha=0.85, label=label if j == 0 else None, gid=f"{name} · seed {seed}", **look)
        finite = np.flatnonzero(np.isfinite(ys))
        stopped = finite.size and (finite[-1] < len(ys) - 1 or xs[-1] < last_x)
        if marks and stopped and limits is not None:
            ax.plot([xs[finite[-1]]], [_inside(ys[finite[-1]], limits, log)], ls="none", marker="x", ms=7, mew=1.8,
                    color=look["color"], zorder=5)


def _target(source: Any, column: str) -> float | None:
    """The comparison's target (`Comparison.resolved_target`) when `column` is the one it is counted on, else
    None (a history without a comparison, or another panel)."""
    resolve, counted = getattr(source, "resolved_target", None), getattr(source, "_val_column", None)
    if resolve is None or counted is None:
        return None
    try:
        if counted() != column:
            return None
        value = float(resolve())
    except (TypeError, ValueError, AttributeError):
        return None
    return value if np.isfinite(value) else None


def curves_figure(
    source: Any, *, band: str = "std", metric: str | None = None, title: str | None = None,
    size: tuple[float, float] = (12.0, 4.2), stacked: bool = False, per_seed: bool = False,
) -> Any:
    """A Figure with three panels (loss, validation metric, lr) side by side (`stacked`: one above the other, for a
    narrow page) and one shared legend below them; `per_seed`: each seed's curves rather than their mean and
    spread (draw_curves)."""
    history = _history(source)
    fig = _figure.new_figure(*size)
    axes = fig.subplots(3, 1) if stacked else fig.subplots(1, 3)
    draw_curves(axes, source, band=band, metric=metric, per_seed=per_seed)
    n_seeds = history["seed"].nunique() if "seed" in history.columns else 1
    handles, names = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:  # the target's line, drawn on the metric's panel
        more = [(h, n) for h, n in zip(*ax.get_legend_handles_labels()) if n == "target"]
        handles, names = [*handles, *(h for h, _ in more)], [*names, *(n for _, n in more)]
    if any("(diverged)" in n for n in names):
        from matplotlib.lines import Line2D

        mark = Line2D([], [], ls="none", marker="x", ms=8, mew=2, color="0.3")
        handles, names = [*handles, mark], [*names, "last finite value before diverging"]
    # as many columns as fit the figure's width (about 14 characters of small text per inch)
    longest = max(len(line) for n in names for line in n.splitlines())
    ncol = max(1, min(len(names), int(size[0] * 14 // (longest + 6))))
    fig.legend(handles, names, loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    heading = title or ""
    if n_seeds > 1 and per_seed:
        heading = f"{heading} (each of {n_seeds} seeds)".strip()
    elif n_seeds > 1:
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
