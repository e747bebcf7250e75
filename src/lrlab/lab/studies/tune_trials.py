"""What a tune study found, read from its trials: the trials table, the best trials with distinct specs, the spec
handed out for a trial (rounded), and the confirmation that trains the best again on fresh seeds (lrlab.lab.studies.tune
runs the search; this module only reads its study and trains the confirmation through `compare`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ...schedules.spec import rounded
from ..ranking import ranking
from ..tasks.task import Task


def confirm_best(
    study: Any, task: Task | str, k: int = 5, seeds: int = 5, *, seed: int = 0, epochs: int | None = None,
    db: str | Path | None = None, progress: bool = False, **options: Any,
) -> tuple[Any, Any]:
    """Train the k best trials of `study` again on fresh seeds through `compare`, and rank them.

    The trials are `best_trials(study, k)` (distinct specs); they train on seeds seed+1 .. seed+seeds with `epochs`
    epochs (runs kept in the run store `db`). The leaderboard ranks them by the mean final validation figure
    (`Comparison.ranking`; the test figure beside it does not rank) and adds the worst seed of both, the trial
    number and the search value.

    Args:
        study: the optuna Study.
        task: the Task or its name, or a training function (an Experiment, or its reference).
        k: trials to confirm (0: none).
        seeds: fresh seeds per trial.
        seed: the search's seed (the confirmation uses the next `seeds`).
        epochs: epochs per run (None: the task's).
        db: the run store (a path or URL), None to store nothing.
        progress: rich bars.
        **options: compare's optimizer, batch_size, dtype, device and optimizer options.

    Returns:
        (the Comparison, its leaderboard), or (None, None) when k is 0 or no trial completed.

    Examples:
        >>> import optuna
        >>> from lrlab.lab.studies.tune_trials import confirm_best
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(direction="maximize")  # in memory
        >>> for spec, value in [("cosine(0.5)", 0.9), ("constant(0.5)", 0.8)]:
        ...     trial = study.ask()
        ...     trial.set_user_attr("spec", spec)
        ...     trial.set_user_attr("status", "ok")
        ...     _ = study.tell(trial, value)
        >>> comparison, board = confirm_best(study, "or3", k=2, seeds=2, epochs=2, db=None)
        >>> sorted({run.seed for run in comparison.runs}), board[["trial", "search_value"]].values.tolist()
        ([1, 2], [[0.0, 0.9], [1.0, 0.8]])
        >>> confirm_best(study, "or3", k=0)
        (None, None)
    """
    from .compare import compare

    picked = best_trials(study, k) if k else []
    if not picked:
        return None, None
    by_spec: dict[str, Any] = {}  # the specs handed out, rounded (`handed_out`): the better of two that round alike
    for t in picked:
        by_spec.setdefault(handed_out(t.user_attrs["spec"]), t)
    picked = list(by_spec.values())
    comparison = compare(task, list(by_spec), seeds=range(seed + 1, seed + 1 + seeds),
                         epochs=epochs, db=db, progress=progress, **options)
    return comparison, _confirmation_board(comparison, picked)



def trials_frame(study: Any) -> Any:
    """One row per trial of the study, as a pandas DataFrame.

    Columns: number, state, spec, worker, value (the objective: a pruned trial's last reported value; with pruner
    "fair" that of the cooldown it was judged by at its last rung), the objective's parts apart (the study's metric,
    e.g. val_accuracy, and val_loss, at the trial's last epoch: lrlab.lab.studies.objective), epochs trained,
    status ("ok", "diverged", "pruned", "forecast": not trained, ...), duration_s and forecast (the forecast final
    training loss, with tune's forecast=M).

    Args:
        study: the optuna Study.

    Examples:
        >>> import optuna
        >>> from lrlab.lab.studies.tune_trials import trials_frame
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(direction="maximize")  # in memory
        >>> trial = study.ask()
        >>> trial.set_user_attr("spec", "wsd(0.5)")
        >>> trial.report(0.5, 1)
        >>> trial.set_user_attr("val_loss", 0.7)
        >>> _ = study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        >>> trials_frame(study)[["state", "spec", "value", "val_loss", "epochs", "status"]].to_dict("records")
        [{'state': 'PRUNED', 'spec': 'wsd(0.5)', 'value': 0.5, 'val_loss': 0.7, 'epochs': 1, 'status': 'pruned'}]
    """
    import pandas as pd

    metric = (study.user_attrs.get("lrlab") or {}).get("metric")
    parts = [name for name in dict.fromkeys([metric, "val_loss"]) if name]
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and \
            t.datetime_start else math.nan
        value = t.value if t.value is not None else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else math.nan)
        rows.append({"number": t.number, "state": t.state.name, "spec": t.user_attrs.get("spec"),
                     "worker": t.user_attrs.get("worker"),
                     "value": value, **{name: t.user_attrs.get(name, math.nan) for name in parts},
                     "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)),
                     "status": t.user_attrs.get("status", t.state.name.lower()), "duration_s": duration,
                     "forecast": t.user_attrs.get("forecast", math.nan)})
    return pd.DataFrame(rows, columns=["number", "state", "spec", "worker", "value", *parts, "epochs", "status",
                                       "duration_s", "forecast"])


def handed_out(spec: str) -> str:
    """The spec a search hands out for a trial's: its numbers rounded to 4 significant digits
    (`lrlab.schedules.spec.rounded`), or the exact spec when the rounded one is refused (a value rounded onto a
    bound its parameter excludes, e.g. a pct_start of 0.99999 that must stay below 1).

    Args:
        spec: a trial's spec, as sampled (kept exactly in trials.csv).

    Examples:
        >>> from lrlab.lab.studies.tune_trials import handed_out
        >>> handed_out("one_cycle(0.04645125, pct_start=0.44132071)")
        'one_cycle(0.04645, pct_start=0.4413)'
        >>> handed_out("one_cycle(0.1, 100, pct_start=0.99999)")  # pct_start=1.0 is refused
        'one_cycle(0.1, 100, pct_start=0.99999)'
    """
    from .compare import split_entry

    short = rounded(spec)
    try:
        split_entry(short)
    except ValueError:
        return spec
    return short


def best_trials(study: Any, k: int) -> list[Any]:
    """The k best COMPLETE trials with distinct specs, best first (diverged ones excluded; k >= 1).

    Only trials with status "ok" and a finite value count; of two trials with one spec the better is kept, ties go to
    the earlier trial. These are the trials `confirm_best` trains again.

    Args:
        study: the optuna Study.
        k: how many.

    Examples:
        >>> import optuna
        >>> from lrlab.lab.studies.tune_trials import best_trials
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(direction="maximize")  # in memory
        >>> for spec, value in [("cosine(0.5)", 0.9), ("constant(0.5)", 0.8), ("cosine(0.5)", 0.85)]:
        ...     trial = study.ask()
        ...     trial.set_user_attr("spec", spec)
        ...     trial.set_user_attr("status", "ok")
        ...     _ = study.tell(trial, value)
        >>> [(t.number, t.user_attrs["spec"], t.value) for t in best_trials(study, 3)]
        [(0, 'cosine(0.5)', 0.9), (1, 'constant(0.5)', 0.8)]
    """
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("status") == "ok" and t.value is not None and math.isfinite(t.value)]
    maximize = study.direction.name == "MAXIMIZE"
    done.sort(key=lambda t: (-t.value if maximize else t.value, t.number))
    out, seen = [], set()
    for t in done:
        spec = t.user_attrs.get("spec")
        if spec not in seen:
            seen.add(spec)
            out.append(t)
        if len(out) == k:
            break
    return out


def _confirmation_board(comparison: Any, picked: list[Any]) -> Any:
    """The comparison's leaderboard (ranked by `comparison.ranking`, the validation figure) with the worst seed of
    the ranked figure and of the test figure beside it, and the trial each spec came from."""
    board = comparison.leaderboard
    if board.empty:
        return board
    table = comparison.table
    rank = comparison.ranking
    by_label = dict(zip(comparison.labels, picked))
    for col in dict.fromkeys([rank.column, rank.test]):
        if col is None or f"{col}_std" not in board:
            continue
        try:
            higher = rank.higher_is_better if col == rank.column else ranking(col).higher_is_better
        except ValueError:  # a test figure whose direction its name does not say: no worst seed
            continue
        worst = table.groupby("schedule")[col].agg("min" if higher else "max")
        board.insert(board.columns.get_loc(f"{col}_std") + 1, f"{col}_worst",
                     [worst.get(label, math.nan) for label in board["schedule"]])
    board.insert(1, "trial", [by_label[label].number if label in by_label else -1 for label in board["schedule"]])
    board["search_value"] = [by_label[label].value if label in by_label else math.nan for label in board["schedule"]]
    return board
