"""The pictures of a schedule search (`lrlab tune --out`): Optuna's optimisation history
(optuna.visualization.matplotlib), each trial's value against its peak rate per family (what Optuna's plot_slice
shows, on the one parameter every family has), and the validation curves of the best trials as the pruner saw them
(a pruned trial's curve ends in a cross where it was stopped)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from ._figure import color, labels, new_figure, save, style

BEST = 8
"""How many of the best trials the curves picture shows."""
LEGEND_PT = 9.0  # the 900 px figures are shown ~668 px wide in a 700 px window (the tune report): 9 pt stays 9 px


def _optuna_figure(make: Any, study: Any, path: Path) -> Path:
    """Save the figure of one optuna.visualization.matplotlib function, and close it (they draw with pyplot)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    with matplotlib.rc_context(), warnings.catch_warnings():  # optuna sets the ggplot style: kept to this figure
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # importances from few trials: what the plot shows anyway
        ax = make(study)
        fig = ax.figure
        try:
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            return save(fig, path)
        finally:
            plt.close(fig)


def plot_best_curves(study: Any, path: str | Path, top: int = BEST) -> Path:
    """The per-epoch values reported to the pruner by the `top` best trials (complete ones first, then pruned
    ones by their last value), one line each, labelled by spec; a cross where a pruned trial was stopped."""
    maximize = study.direction.name == "MAXIMIZE"

    def key(t: Any) -> tuple[int, float]:
        last = t.intermediate_values[max(t.intermediate_values)]
        value = t.value if t.value is not None and math.isfinite(t.value) else last
        return (0 if t.state.name == "COMPLETE" else 1, -value if maximize else value)

    shown = sorted((t for t in study.get_trials(deepcopy=False) if t.intermediate_values), key=key)[:top]
    fig = new_figure(9, 5)
    ax = fig.add_subplot()
    names = labels([f"#{t.number} {t.user_attrs.get('spec', '')}" for t in shown])
    for i, (t, name) in enumerate(zip(shown, names)):
        steps = sorted(t.intermediate_values)
        values = [t.intermediate_values[s] for s in steps]
        line = ax.plot(steps, values, label=name, **style(i))[0]
        if t.state.name == "PRUNED":  # where the pruner stopped it
            ax.plot(steps[-1], values[-1], marker="x", markersize=8, color=line.get_color(), zorder=4)
    ax.set_xlabel("epoch")
    metric = study.user_attrs.get("lrlab", {}).get("metric", "objective")
    ax.set_ylabel(f"{metric} ({'higher' if maximize else 'lower'} is better)")
    ax.set_title(f"the {len(shown)} best trials of {study.study_name}")
    if shown:
        ax.legend(fontsize=LEGEND_PT, loc="best")
    return save(fig, path)


def write_tune_plots(study: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """history.png, rates.png (`plot_rates`: value against peak rate per family, in place of Optuna's parameter
    importances, which read nothing useful from a few trials) and best_curves.png in out_dir: (paths written,
    messages about plots skipped)."""
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    paths, skipped = [], []
    for name, make in (("history.png", ovm.plot_optimization_history),):
        try:
            paths.append(_optuna_figure(make, study, out / name))
        except (ValueError, RuntimeError, ImportError, ZeroDivisionError) as exc:
            skipped.append(f"{name} skipped: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    paths.append(plot_rates(study, out / "rates.png"))
    paths.append(plot_best_curves(study, out / "best_curves.png"))
    return paths, skipped


def peak_rate(spec: str, steps: int = 1000) -> float:
    """The highest rate of a spec's schedule (its lengths left out: stretched to `steps`); NaN for a spec that does
    not parse.

    Examples:
        >>> from lrlab.viz.tune_plots import peak_rate
        >>> peak_rate("warmup(cosine(0.02), steps=15)"), peak_rate("one_cycle(0.1, pct_start=0.3)")
        (0.02, 0.1)
    """
    import numpy as np

    from ..schedules import parse

    try:
        sched = parse(spec)
        sched = sched if sched.is_bound else sched.stretch(steps)
        return float(np.max(np.asarray(sched(np.arange(steps)), dtype=float)))
    except (ValueError, TypeError):
        return math.nan


def family(spec: str) -> str:
    """A spec's family: its outermost kind, through a warmup ("warmup(cosine(...))" is cosine, warmed up).

    Examples:
        >>> from lrlab.viz.tune_plots import family
        >>> family("warmup(cosine(0.02, alpha=0.01), steps=15)"), family("one_cycle(0.1)")
        ('cosine (warmup)', 'one_cycle')
    """
    name = spec.split("(", 1)[0].strip()
    if name == "warmup" and "(" in spec:
        return f"{family(spec.split('(', 1)[1])} (warmup)"
    return name


def plot_rates(study: Any, path: str | Path) -> Path:
    """Each finished trial's value against its peak rate (log axis), one colour per family, pruned trials hollow at
    their last reported value: which rates worked for which shape (Optuna's plot_slice on the rate)."""
    maximize = study.direction.name == "MAXIMIZE"
    groups: dict[str, list[tuple[float, float, bool]]] = {}
    for t in study.get_trials(deepcopy=False):
        spec = str(t.user_attrs.get("spec", ""))
        if t.value is not None and math.isfinite(t.value) and t.state.name == "COMPLETE":
            value, pruned = t.value, False
        elif t.intermediate_values:
            value, pruned = t.intermediate_values[max(t.intermediate_values)], True
        else:
            continue
        rate = peak_rate(spec)
        if spec and math.isfinite(rate) and rate > 0 and math.isfinite(value):
            groups.setdefault(family(spec), []).append((rate, value, pruned))
    fig = new_figure(9, 5)
    ax = fig.add_subplot()
    for i, (name, points) in enumerate(sorted(groups.items())):
        colour = color(i)
        for pruned in (False, True):
            xs = [r for r, _, p in points if p == pruned]
            ys = [v for _, v, p in points if p == pruned]
            if xs:
                ax.scatter(xs, ys, s=36, label=f"{name}{' (pruned)' if pruned else ''} ({len(xs)})",
                           facecolors="none" if pruned else colour, edgecolors=colour, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    metric = study.user_attrs.get("lrlab", {}).get("metric", "objective")
    ax.set_ylabel(f"{metric} ({'higher' if maximize else 'lower'} is better)")
    ax.set_title(f"value against peak rate, per family: {study.study_name}")
    if groups:
        ax.legend(fontsize=LEGEND_PT, loc="best")
    return save(fig, path)
