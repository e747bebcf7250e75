"""The pictures of a schedule search (`lrlab tune --out`): Optuna's optimisation history and parameter importances
(optuna.visualization.matplotlib), and the validation curves of the best trials as the pruner saw them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from ._figure import labels, new_figure, save, style

BEST = 8
"""How many of the best trials the curves picture shows."""


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
    ones by their last value), one line each, labelled by spec."""
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
        ax.plot(steps, [t.intermediate_values[s] for s in steps], label=name, **style(i))
    ax.set_xlabel("epoch")
    metric = study.user_attrs.get("lrlab", {}).get("metric", "objective")
    ax.set_ylabel(f"{metric} ({'higher' if maximize else 'lower'} is better)")
    ax.set_title(f"the {len(shown)} best trials of {study.study_name}")
    if shown:
        ax.legend(fontsize=7, loc="best")
    return save(fig, path)


def write_tune_plots(study: Any, out_dir: str | Path) -> tuple[list[Path], list[str]]:
    """history.png, importances.png and best_curves.png in out_dir: (paths written, messages about plots skipped,
    e.g. importances when too few trials finished or the trials share no parameter)."""
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    paths, skipped = [], []
    for name, make in (("history.png", ovm.plot_optimization_history),
                       ("importances.png", ovm.plot_param_importances)):
        try:
            paths.append(_optuna_figure(make, study, out / name))
        except (ValueError, RuntimeError, ImportError, ZeroDivisionError) as exc:
            skipped.append(f"{name} skipped: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    paths.append(plot_best_curves(study, out / "best_curves.png"))
    return paths, skipped
