"""Comparisons: train one task under several schedules (and seeds), keep every run in the store, rank them.

A schedule entry is a spec, a Schedule, or a spec with a plateau suffix, "constant(0.05)@plateau(factor=0.5,
patience=10, min_lr=1e-5)", so plateau-controlled runs sit in the same comparison as plain schedules. The
`plateau=` argument applies to every entry without its own suffix. An entry may end in an optimizer of its own,
"constant(0.003)@adamw_sf(warmup_steps=100)" or "constant(0.003)@adamw_sf" (after any plateau suffix), so
schedule-free runs sit on the leaderboard beside scheduled runs of the same budget: that entry trains with that
optimizer and those options instead of the comparison's `optimizer=` and optimizer options.

Ranking (lrlab.lab.ranking, the one rule): the leaderboard ranks by the final VALIDATION figure of each run, mean
over seeds, in its direction: val_accuracy (higher is better) for a classifier, val_bpb (bits per byte, the loss in
bits) for a language model ("lm" loss), else val_loss (lower is better). The test figure (test_accuracy, test_bpb,
test_loss) is shown beside it and never ranks: a schedule chosen on the test set would make its test figure
optimistic. A task without a validation split ranks by the final training loss (column final_train_loss) and the
board says so (`Comparison.ranking.describe()`). Schedules with diverged runs rank last; ties keep the given order.

Leaderboard target (epochs_to_target): with an accuracy metric, the first epoch whose val_accuracy reaches
`target` (default: 98% of the best val accuracy any run of the comparison reached); without one, the first epoch
whose val_loss (val_bpb for a language model) is at most `target` (default: 1.1 times the best value any run
reached). Tasks without a validation split use the training loss. A task whose unit is "steps" (Task.unit) counts
the way there in optimizer steps instead: steps_to_target, the step count of that epoch's history row.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import _check
from ...plateau import Plateau
from ...schedules import Schedule
from ..engines import ENGINES
from ..engines.function import plan_function
from ..engines.train import resolve_device
from ..options import TASK_DEFAULT, RunOptions, resolve_task
from ..plan import as_schedule, plan
from ..progress import RichBars  # noqa: F401  (lrlab.lab.studies.compare.RichBars: where users found it)
from ..progress import bars as _bars
from ..ranking import Ranking, no_progress, task_ranking
from ..run import Run, history_frame
from ..store import DEFAULT_DB, Store
from ..tasks.experiment import Experiment
from ..tasks.task import OPTIMIZERS, Task


# -- entries ----------------------------------------------------------------------------------
def entry_optimizer(entry: Any) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
    """Split an optimizer suffix off a comparison entry: (the entry without it, (optimizer, its options)).

    A string entry ending in "@NAME" or "@NAME(k=v, ...)" with NAME one of OPTIMIZERS (sgd, adam, adamw, sgd_sf,
    adamw_sf) trains with that optimizer instead of the comparison's; the options are checked by RunOptions.
    Anything else (a plain spec, a plateau suffix, a Schedule, a pair) comes back as (entry, None).

    Args:
        entry: a comparison entry (spec string, Schedule or (schedule, plateau) pair).

    Returns:
        (entry without the suffix, (name, kwargs)), or (entry, None) when it has no optimizer suffix.

    Raises:
        ValueError: options that do not parse or that RunOptions rejects.

    Examples:
        >>> from lrlab.lab.studies.compare import entry_optimizer
        >>> entry_optimizer("constant(0.003)@adamw_sf(warmup_steps=60)")
        ('constant(0.003)', ('adamw_sf', {'warmup_steps': 60}))
        >>> entry_optimizer("cosine(0.1)")
        ('cosine(0.1)', None)
    """
    from ...schedules.spec import parse_call

    if not isinstance(entry, str) or "@" not in entry:
        return entry, None
    at = entry.rfind("@")
    suffix = entry[at + 1 :].strip()
    name = suffix.split("(", 1)[0].strip().lower()
    if name not in OPTIMIZERS:
        return entry, None
    try:
        kwargs = parse_call(suffix, suffix.split("(", 1)[0].strip()) if "(" in suffix else {}
    except ValueError as exc:
        raise ValueError(f"optimizer options in {_check.shown(entry)}: {str(exc).splitlines()[0]}") from None
    RunOptions(optimizer=name, optimizer_kwargs=kwargs)  # checks them (lr is the schedule's)
    return entry[:at], (name, kwargs)


def optimizer_suffix(name: str, kwargs: dict[str, Any]) -> str:
    """The suffix an entry's own optimizer adds to its label, e.g. "@adamw_sf(warmup_steps=100)".

    The options are sorted by name and shown with repr, so equal options give equal labels; without options the
    suffix is just "@NAME". It is the inverse of what `entry_optimizer` reads.

    Args:
        name: the optimizer's name (one of OPTIMIZERS).
        kwargs: its options (without lr: that is the schedule's).

    Examples:
        >>> from lrlab.lab.studies.compare import optimizer_suffix
        >>> optimizer_suffix("adamw_sf", {"warmup_steps": 60, "betas": (0.9, 0.99)})
        '@adamw_sf(betas=(0.9, 0.99), warmup_steps=60)'
        >>> optimizer_suffix("sgd_sf", {})
        '@sgd_sf'
    """
    return f"@{name}" + (f"({', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))})" if kwargs else "")


def split_entry(entry: Any) -> tuple[Schedule, Plateau | None, bool]:
    """(schedule, plateau, has its own plateau) of one comparison entry.

    An entry is a spec, a Schedule, "SPEC@plateau(k=v, ...)", or a (schedule, plateau) pair; an optimizer suffix is
    dropped first (`entry_optimizer` reads it). The third item says whether the entry brought its own plateau, so
    `compare`'s `plateau=` applies only to the entries without one.

    Args:
        entry: the comparison entry.

    Raises:
        ValueError: a bad spec, a pair that is not (schedule, plateau), or "@" followed by neither plateau(...) nor
            an optimizer.

    Examples:
        >>> from lrlab.lab.studies.compare import split_entry
        >>> split_entry("cosine(0.1)")
        (cosine(0.1), None, False)
        >>> sched, plateau, own = split_entry("constant(0.05)@plateau(factor=0.5, patience=3)")
        >>> sched, plateau.factor, plateau.patience, own
        (constant(0.05), 0.5, 3, True)
    """
    entry = entry_optimizer(entry)[0]
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ValueError(f"a comparison entry pair is (schedule, plateau), got {entry!r}")
        return as_schedule(entry[0]), Plateau.from_options(entry[1]), entry[1] is not None
    if isinstance(entry, str):
        at = entry.rfind("@")
        if at >= 0:
            suffix = entry[at + 1 :].strip()
            if not suffix.startswith("plateau"):
                raise ValueError(f"after '@' a spec takes plateau(...) or an optimizer ({', '.join(OPTIMIZERS)}), "
                                 f"got {suffix!r} in {entry!r}")
            return as_schedule(entry[:at]), Plateau.parse(suffix), True
    return as_schedule(entry), None, False


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    """The seeds of a comparison: a count n (seeds 0..n-1) or a non-empty list of whole numbers."""
    if _check.is_real(seeds):
        return list(range(_check.whole("compare", "seeds", seeds, 1, what="a count >= 1 or a list of seeds")))
    out = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes)) else []
    if not out:
        raise _check.fail("compare", "seeds", "a count >= 1 or a non-empty list of seeds", seeds)
    return [RunOptions(seed=s).seed for s in out]


def check_target(task: Task, target: float | None) -> float | None:
    """The leaderboard target for `task`, checked: an accuracy in (0, 1] when the task has accuracy, else a loss > 0.

    "Loss" means bits per byte for a language-model task (one with a "bpb" metric). None (the default target, see
    the module docstring) passes through.

    Args:
        task: the Task the comparison trains.
        target: the target value, or None.

    Raises:
        ValueError: a target out of range for the task's metric (one line naming the task).

    Examples:
        >>> from lrlab.lab.studies.compare import check_target
        >>> from lrlab.lab.tasks.task import get_task
        >>> check_target(get_task("or3"), 0.9), check_target(get_task("line"), 5.0)
        (0.9, 5.0)
        >>> check_target(get_task("or3"), 2)
        Traceback (most recent call last):
        ...
        ValueError: compare: target must be an accuracy in (0, 1] (task 'or3' is ranked by accuracy), got 2
    """
    if target is None:
        return None
    if "accuracy" in task.metrics:
        return _check.number("compare", "target", target, 0.0, 1.0, low_open=True,
                             what=f"an accuracy in (0, 1] (task {task.name!r} is ranked by accuracy)")
    unit = "bits per byte" if "bpb" in task.metrics else "loss"
    return _check.number("compare", "target", target, 0.0, low_open=True,
                         what=f"a loss > 0 (task {task.name!r} is ranked by {unit})")


# -- the comparison ---------------------------------------------------------------------------
@dataclass
class Comparison:
    """The runs of one comparison, with its leaderboard and joint history.

    What `compare` returns: `table` (one row per run, runs.csv), `leaderboard` (one row per schedule, means and std
    over seeds, best first) and `history` (every run's epochs); `write` puts them in CSV files. What the leaderboard
    ranks by is `ranking` (module docstring; lrlab.lab.ranking); the default target is described in the module
    docstring.

    Args:
        task: the Task trained.
        runs: the runs, in plan order (every schedule for seed 0, then seed 1, ...).
        target: the leaderboard target (checked by `check_target`); None: the default.
        labels: the schedules' labels in the order given (the leaderboard keeps it among equal figures).
        rank_by: what to rank by (`lrlab.lab.ranking.ranking(metric, higher_is_better)`); None: the task's
            (`task_ranking`: its validation figure, or the training loss when its runs have no validation split).

    Examples:
        >>> from lrlab.lab.studies.compare import compare
        >>> c = compare("or3", ["constant(0.5)", "cosine(0.5)"], epochs=3, db=None, progress=False)
        >>> c
        Comparison(task='or3', runs=2, schedules=2)
        >>> c.rank_column, c.higher_is_better, c.metric, c.target_column
        ('val_accuracy', True, 'accuracy', 'epochs_to_target')
        >>> board = c.leaderboard[["schedule", "val_accuracy", "test_accuracy", "epochs_to_target"]]
        >>> for row in board.to_dict("records"):
        ...     print(row)
        {'schedule': 'constant(0.5)', 'val_accuracy': 0.875, 'test_accuracy': 0.875, 'epochs_to_target': 2.0}
        {'schedule': 'cosine(0.5)', 'val_accuracy': 0.875, 'test_accuracy': 0.875, 'epochs_to_target': 2.0}
    """

    task: Task
    runs: list[Run]
    target: float | None = None
    labels: list[str] = field(default_factory=list)
    rank_by: Ranking | None = None

    def __post_init__(self) -> None:
        self.target = check_target(self.task, self.target)
        if self.rank_by is not None and not isinstance(self.rank_by, Ranking):
            raise ValueError(f"Comparison: rank_by must be a lrlab.lab.ranking.Ranking, got {self.rank_by!r}")

    @property
    def ranking(self) -> Ranking:
        """What the leaderboard ranks by (the one rule: lrlab.lab.ranking): `rank_by`, else the task's validation
        figure (val_accuracy, val_bpb or val_loss), or its final training loss when no run has a validation split.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False)
            >>> print(c.ranking.describe())
            ranked by the final val_accuracy (mean over seeds, higher is better); test_accuracy is shown beside ...
        """
        if self.rank_by is not None:
            return self.rank_by
        has_val = not self.runs or any("val_loss" in r.metrics or "val_loss" in r.history for r in self.runs)
        return task_ranking(self.task, has_val)

    @property
    def rank_column(self) -> str:
        """The leaderboard column it is sorted by (`ranking.column`): val_accuracy, val_bpb, val_loss, or
        final_train_loss for a task without a validation split."""
        return self.ranking.column

    @property
    def higher_is_better(self) -> bool:
        """The direction of the ranked figure (`ranking.higher_is_better`)."""
        return self.ranking.higher_is_better

    @property
    def metric(self) -> str:
        """The task's headline figure, as its columns name it after "val_" and "test_": "accuracy" when the task
        has it, "bpb" (bits per byte) for a language model, else "loss". The leaderboard ranks by its validation
        value (`ranking`), not by test_<metric>."""
        return next((m for m in ("accuracy", "bpb") if m in self.task.metrics), "loss")

    def _val_column(self) -> str:
        """The history column of the ranked figure (epochs_to_target and best_<column> read it); "loss" when the
        runs' histories lack it."""
        hist_cols = set().union(*(r.history.columns for r in self.runs)) if self.runs else set()
        col = self.ranking.metric
        return col if col in hist_cols else "loss"

    def resolved_target(self) -> float:
        """The target of epochs_to_target: the one given, or the default described in the module docstring.

        The default is 98% of the best val accuracy any run reached (tasks with accuracy), else 1.1 times the best val
        loss or bpb (the training loss for tasks without a validation split); NaN when no run has a finite value.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=3, db=None, progress=False)
            >>> round(c.resolved_target(), 6)  # 0.98 x the best val accuracy, 0.875
            0.8575
            >>> c.target = 0.8
            >>> c.resolved_target()
            0.8
        """
        if self.target is not None:
            return float(self.target)
        col = self._val_column()
        values = [v for r in self.runs if col in r.history for v in r.history[col].tolist() if math.isfinite(v)]
        if not values:
            return math.nan
        if self._higher(col):
            return 0.98 * max(values)
        return 1.1 * min(values)

    def _higher(self, col: str) -> bool:
        """Whether a history column is better higher: the ranking's direction for its own column, else an accuracy."""
        return self.ranking.higher_is_better if col == self.ranking.metric else col.endswith("accuracy")

    @property
    def target_column(self) -> str:
        """How the table and leaderboard name the way to the target: epochs_to_target, or steps_to_target for a
        task whose unit is "steps"."""
        return "steps_to_target" if self.task.unit == "steps" else "epochs_to_target"

    def epochs_to_target(self, run: Run, target: float | None = None, *, unit: str = "epoch") -> float:
        """The first epoch (1-based) at which the run met the target; NaN if it never did.

        "Met" means a val accuracy at least the target, or a val loss at most it, checked at every epoch's end.

        Args:
            run: one of the comparison's runs (any Run of the same task).
            target: the target; None: `resolved_target()`.
            unit: "epoch" (the default) or "step": the history column returned, so "step" gives the optimizer steps
                done by that epoch's end (`steps_to_target`).

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=3, db=None, progress=False)
            >>> run = c.runs[0]
            >>> run.history["val_accuracy"].tolist()
            [0.625, 0.875, 0.875]
            >>> c.epochs_to_target(run, 0.8), c.epochs_to_target(run, 1.0)
            (2.0, nan)
        """
        col = self._val_column()
        target = self.resolved_target() if target is None else target
        if col not in run.history or not math.isfinite(target):
            return math.nan
        values = run.history[col].tolist()
        epochs = run.history[unit].tolist()
        higher = self._higher(col)
        for epoch, v in zip(epochs, values):
            if (v >= target) if higher else (v <= target):
                return float(epoch)
        return math.nan

    def steps_to_target(self, run: Run, target: float | None = None) -> float:
        """The optimizer steps done when the run first met the target (at an epoch's end); NaN if it never did.

        The same search as `epochs_to_target`, returning that epoch's `step` column: the count for tasks measured in
        optimizer steps (Task.unit "steps"), or to compare runs of different batch sizes.

        Args:
            run: one of the comparison's runs.
            target: the target; None: `resolved_target()`.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=3, db=None, progress=False)
            >>> c.steps_to_target(c.runs[0], 0.8)  # full batch: one step per epoch
            2.0
        """
        return self.epochs_to_target(run, target, unit="step")

    def to_target(self, run: Run, target: float | None = None) -> float:
        """The way to the target in the task's unit: epochs_to_target, or steps_to_target (unit "steps").

        This is the figure the `target_column` of `table` and `leaderboard` holds.

        Args:
            run: one of the comparison's runs.
            target: the target; None: `resolved_target()`.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=3, db=None, progress=False)
            >>> c.task.unit, c.to_target(c.runs[0], 0.8)
            ('epochs', 2.0)
        """
        return self.epochs_to_target(run, target, unit="step" if self.task.unit == "steps" else "epoch")

    def best_val(self, run: Run, col: str | None = None) -> float:
        """The run's best value of a history column: the maximum of an accuracy column, else the minimum.

        It fills the `best_<column>` figure of `table` and `leaderboard`; NaN when the run has no such column or
        no epoch.

        Args:
            run: one of the comparison's runs.
            col: the history column; None: the ranked one (val_accuracy, val_bpb, val_loss, or loss without a
                validation split).

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=3, db=None, progress=False)
            >>> c.best_val(c.runs[0]), round(c.best_val(c.runs[0], "val_loss"), 4)
            (0.875, 0.4241)
        """
        col = self._val_column() if col is None else col
        if col not in run.history or run.history.empty:
            return math.nan
        values = run.history[col]
        return float(values.max() if self._higher(col) else values.min())

    @property
    def table(self) -> Any:
        """One row per run: runs.csv (the ranked figure under its leaderboard name, e.g. final_train_loss)."""
        import pandas as pd

        col, target, rank = self._val_column(), self.resolved_target(), self.ranking  # once: each reads every run
        rows = []
        for run in self.runs:
            row = run.row()
            row.setdefault(rank.column, float(run.metrics.get(rank.metric, math.nan)))
            row[f"best_{col}"] = self.best_val(run, col)
            row[self.target_column] = self.to_target(run, target)
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def leaderboard(self) -> Any:
        """One row per schedule, means (and std over seeds, ddof=1) of the runs' figures, best first.

        Sorted by `rank_column` (the final validation figure; module docstring) in the ranking's direction, the test
        figure beside it; equal figures keep the given order. NaN is kept: a schedule that diverged on any seed has
        NaN figures (not the survivors' mean), and schedules with diverged or failed runs rank last (fewest first),
        whatever their other figures. A `failed` column (runs whose training function raised) is there when a run
        failed; a `no_progress` column (runs that ended no better than they started, or than chance on an
        accuracy: `lrlab.lab.ranking.no_progress`) when a run learned nothing, and such schedules rank below every
        schedule whose runs all learned (above those with diverged or failed runs)."""
        import pandas as pd

        table = self.table
        if table.empty:
            return pd.DataFrame()
        rank = self.ranking
        best_col = f"best_{self._val_column()}"
        figures = [rank.column, rank.test, "test_loss", best_col]
        figures = [c for c in dict.fromkeys(figures) if c is not None and c in table]
        rows = []
        any_failed = bool((table["status"] == "failed").any())
        table["no_progress"] = [no_progress(run.metrics, rank) for run in self.runs]
        any_stalled = bool(table["no_progress"].any())
        order = self.labels or list(dict.fromkeys(table["schedule"]))
        for label in order:
            part = table[table["schedule"] == label]
            if part.empty:
                continue
            diverged = int((part["status"] == "diverged").sum())
            row: dict[str, Any] = {"schedule": label, "runs": len(part), "diverged": diverged}
            if any_failed:  # a training function that raised: its own column, only where one did
                row["failed"] = int((part["status"] == "failed").sum())
            if any_stalled:  # runs that ended no better than they started (`ranking.no_progress`)
                row["no_progress"] = int(part["no_progress"].sum())
            for col in figures:
                row[col] = part[col].mean(skipna=False)
                row[f"{col}_std"] = part[col].std(ddof=1, skipna=False) if len(part) > 1 else math.nan
            reached = part[self.target_column].dropna()
            row[self.target_column] = reached.mean() if len(reached) else math.nan
            row["reached"] = f"{len(reached)}/{len(part)}"
            row["wall_s"] = part["wall_s"].mean()
            rows.append(row)
        board = pd.DataFrame(rows)
        board = board.sort_values(rank.column, ascending=not rank.higher_is_better, na_position="last", kind="stable")
        lost = board["diverged"] + (board["failed"] if any_failed else 0)
        stalled = board["no_progress"].tolist() if any_stalled else [0] * len(board)
        # stable: the figures' order stays within each count; runs that learned nothing rank below those that did
        board = board.iloc[sorted(range(len(board)), key=lambda i: (int(lost.iloc[i]), stalled[i]))]
        return board.reset_index(drop=True)

    def shown_columns(self, board: Any = None) -> list[str]:
        """The leaderboard's figure columns as the terminal and the report show them, most important first.

        The ranked figure, the test figure, the way to the target and how many runs reached it, the best figure,
        the test loss, the training time: one order for both, so the report reads like the terminal, and a narrow
        terminal drops columns from the end of it.

        Args:
            board: the leaderboard, if already computed (None: `leaderboard`).

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> compare("or3", ["constant(0.5)"], epochs=2, db=None, progress=False).shown_columns()
            ['val_accuracy', 'test_accuracy', 'epochs_to_target', 'reached', 'best_val_accuracy', 'test_loss', 'wall_s']
        """
        board = self.leaderboard if board is None else board
        rank = self.ranking
        best = next((c for c in board.columns if c.startswith("best_") and not c.endswith("_std")), None)
        names = [rank.column, rank.test, self.target_column, "reached", best, "test_loss", "wall_s"]
        return [c for c in dict.fromkeys(names) if c is not None and c in board]

    @staticmethod
    def status(row: Any) -> str:
        """A leaderboard row's status as shown: "ok", or how many of its runs diverged, failed or made no progress
        ("1/2 diverged, 1/2 no progress")."""
        parts = [f"{int(row[name])}/{int(row['runs'])} {name.replace('_', ' ')}"
                 for name in ("diverged", "failed", "no_progress") if row.get(name)]
        return ", ".join(parts) or "ok"

    def flags(self) -> list[str]:
        """One line per schedule whose runs learned nothing (`lrlab.lab.ranking.no_progress`): how many of its runs,
        their final ranked figure against what it had to beat (chance, or the figure before training), and where
        the schedule ranks. The CLI prints them under the leaderboard and the report beside it.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("quantiles", ["constant(5.0)"], optimizer="adam", epochs=3, db=None, progress=False)
            >>> print(c.flags()[0])  # doctest: +ELLIPSIS
            no progress: constant(5.0): 1 of 1 run ended no better than chance (val_accuracy ... <= 0.55); ...
        """
        from ..ranking import progress_reference

        rank = self.ranking
        lines = []
        for label in self.labels or list(dict.fromkeys(r.label for r in self.runs)):
            runs = [r for r in self.runs if r.label == label]
            stalled = [r for r in runs if no_progress(r.metrics, rank)]
            if not stalled:
                continue
            value = sum(float(r.metrics[rank.metric]) for r in stalled) / len(stalled)
            ref = sum(progress_reference(r.metrics, rank) for r in stalled) / len(stalled)
            than = "chance" if rank.higher_is_better else "before training"
            sign = "<=" if rank.higher_is_better else ">="
            lines.append(f"no progress: {label}: {len(stalled)} of {len(runs)} run{'s' if len(runs) != 1 else ''} "
                         f"ended no better than {than} ({rank.metric} {value:.4g} {sign} {ref:.4g}); ranked below the "
                         "runs that learned")
        return lines

    @property
    def history(self) -> Any:
        """Every run's per-epoch history in one DataFrame, with schedule, seed and run_id columns first."""
        return history_frame(self.runs)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write runs.csv, history.csv and leaderboard.csv into out_dir (created if needed); returns the paths.

        A report.html already there describes other runs: it is removed, with a warning (lrlab.viz.report writes a
        fresh one; the lab does not draw).

        Args:
            out_dir: the folder to write into.

        Examples:
            >>> import tempfile
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False)
            >>> with tempfile.TemporaryDirectory() as out:
            ...     [p.name for p in c.write(out)]
            ['runs.csv', 'history.csv', 'leaderboard.csv']
        """
        import warnings

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stale = out / "report.html"
        if stale.is_file():
            stale.unlink()
            warnings.warn(f"removed {stale}: it described an earlier comparison (write a new one with "
                          "lrlab.viz.report.write_report)", stacklevel=2)
        paths = [out / "runs.csv", out / "history.csv", out / "leaderboard.csv"]
        self.table.to_csv(paths[0], index=False)
        self.history.to_csv(paths[1], index=False)
        self.leaderboard.to_csv(paths[2], index=False)
        return paths

    def __repr__(self) -> str:
        return f"Comparison(task={self.task.name!r}, runs={len(self.runs)}, schedules={len(self.labels)})"

    def ties(self) -> list[Any]:
        """Every leaderboard entry after #1 against #1, paired by seed on the ranked figure (lrlab.lab.ties: a
        one-sided paired t-test at 5%, the probability that #1 is the better, the seeds that would resolve a tie).

        Returns:
            One `lrlab.lab.ties.Versus` per entry after the first, in leaderboard order ([] for one entry).

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)", "constant(0.05)"], epochs=3, seeds=2, db=None, progress=False)
            >>> [(v.label, v.seeds, round(v.mean, 3), v.sd, v.tied) for v in c.ties()]  # 0.375 better on each seed
            [('constant(0.05)', 2, 0.375, 0.0, False)]
        """
        from ..ties import compare_to_best

        board, table, rank = self.leaderboard, self.table, self.ranking
        if board.empty:
            return []
        figures = {label: dict(zip(part["seed"], part[rank.column]))
                   for label, part in table.groupby("schedule", sort=False)}
        return compare_to_best(figures, board["schedule"].tolist(), rank.higher_is_better)

    def noise_lines(self) -> list[str]:
        """What the order is worth against the seeds' noise: the verdict (`verdict`), then, where the seeds allow a
        test, one line per entry after #1 with the probability that #1 is the better and whether it is tied. The
        CLI prints them under the leaderboard (compare, and tune's confirmation) and the report beside it.

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)", "constant(0.2)"], epochs=5, seeds=3, db=None, progress=False)
            >>> print(c.noise_lines()[1])
              #2 constant(0.2): #1 is the better with probability 0.79: tied
        """
        if self.leaderboard.empty:
            return []
        lines = [self.verdict()]
        for place, v in enumerate(self.ties(), 2):
            if v.seeds < 2:
                break
            if v.sd == 0:
                same = "tied: the same figure" if v.mean == 0 else f"the same difference ({v.mean:+.3g})"
                lines.append(f"  #{place} {v.label}: {same} on every seed")
                continue
            lines.append(f"  #{place} {v.label}: #1 is the better with probability {v.p_better:.2g}: "
                         f"{'tied' if v.tied else 'worse'}")
        return lines

    def verdict(self) -> str:
        """The one line that says whether the leaderboard's order beats the seeds' noise (`lrlab.lab.ties.headline`).

        Examples:
            >>> from lrlab.lab.studies.compare import compare
            >>> c = compare("or3", ["constant(0.5)", "constant(0.2)"], epochs=5, seeds=3, db=None, progress=False)
            >>> c.verdict().split(";")[0]
            'no schedule is better than the others on 3 seeds (paired t-test, one-sided 5%)'
        """
        from ..ties import headline

        board = self.leaderboard
        if board.empty:
            return "no runs"
        seeds = len({run.seed for run in self.runs})
        return headline(self.ties(), str(board["schedule"].iloc[0]), seeds)


def compare(
    task: Task | str,
    schedules: Sequence[Any],
    *,
    seeds: int | Iterable[int] = (0,),
    optimizer: str | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: Any = TASK_DEFAULT,
    plateau: Any = None,
    db: str | Path | None = DEFAULT_DB,
    fresh: bool = False,
    progress: Any = True,
    target: float | None = None,
    callback: Any = None,
    engine: str = "auto",
    device: str = "auto",
    dtype: str | None = None,
    max_stack: int | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    **optimizer_kwargs: Any,
) -> Comparison:
    """Train `task` under every schedule for every seed and rank them, reusing runs stored in `db`.

    Every finished run is committed to `db` (None: keep nothing) before the next starts (a stack's runs when the
    stack ends), so an interrupted comparison loses no finished run (only the stack in training). Schedules without
    lengths are stretched to the run's budget (epochs x steps per epoch, or `steps`).

    Args:
        task: a Task or a task name ("or3", "line", "mnist1d", ...), or a user's training function declared with
            `lrlab.lab.tasks.experiment` (or its reference, "path/to/train.py:name"): it is called once per run with the
            run's schedule, seed and options (lrlab.lab.engines.function), in this process or in `workers` processes.
        schedules: the entries: specs, Schedules, "SPEC@plateau(...)", "SPEC@OPTIMIZER(...)" or (schedule, plateau)
            pairs (a single spec or Schedule is one entry); a label listed twice is a ValueError.
        seeds: a count n (seeds 0..n-1) or a list of seeds.
        optimizer: sgd, adam, adamw, sgd_sf or adamw_sf (None: the task's).
        epochs: epochs per run (None: the task's); exclusive with `steps`.
        steps: a budget in optimizer steps per run instead of epochs (the last epoch may be partial).
        batch_size: a batch size, None for full batch (default: the task's).
        plateau: reduce-on-plateau options for every entry without its own (a Plateau, dict or options string).
        db: the run store, a path (an SQLite file) or a database URL, e.g. postgresql://USER@HOST:PORT/NAME (see
            lrlab.lab.store); None: train everything and store nothing.
        fresh: train again even when a stored run matches.
        progress: True for rich bars on stderr, False for none, or a progress object like RichBars.
        target: the leaderboard target (an accuracy in (0, 1], else a loss > 0); None: the default.
        callback: callback(step, model, loss, lr) after every optimizer step of every trained run (sequential only).
        engine: "sequential" trains one run after another (lrlab.lab.engines.train); "stacked" trains them as stacks of
            one model (lrlab.lab.engines.stacked: in float64 equal to the sequential trainer's to 1e-9; in float32 the
            sums run in another order, so a member's numbers, and a plateau's reductions, may differ by rounding; one
            progress bar per stack); "auto" stacks when more than one run is to be trained, no callback is given,
            the model can be stacked (no BatchNorm, no dropout, no tied weights, vmap can run it:
            `lrlab.lab.engines.stacked.why_sequential`) and stacking was timed faster (a few steps of each engine,
            once per task, stack size bucket and device, kept in the store: `lrlab.lab.engines.auto`); otherwise
            the runs train one after another. One line on stderr says why.
        device: "auto" (CUDA when there is one), "cpu" or "cuda".
        dtype: None (the task's), "float32" or "float64" (kept in each run's config).
        max_stack: at most this many runs per stack (None: as many as fit in half the free memory of the device).
        workers: worker processes on this machine for a training function's runs (each takes the next run no one
            holds; needs `db`). Processes on other machines join by running the same comparison on the same
            database; entries that bind to the same run train once and are shown once.
        devices: GPU ids for the workers, handed out round robin (each worker's CUDA_VISIBLE_DEVICES).
        **optimizer_kwargs: optimizer options (momentum, weight_decay, ...), as RunOptions takes them; for a
            training function, any options it reads from `run.options`.

    Returns:
        The Comparison of every run (stored or trained).

    Raises:
        ValueError: a bad option, spec or target, before anything trains.

    Examples:
        Two schedules on the tiny `or3` task, nothing stored:

        >>> from lrlab.lab.studies.compare import compare
        >>> c = compare("or3", ["constant(0.5)", "cosine(0.5)"], epochs=2, db=None, progress=False)
        >>> [(r.label, r.config["epochs"], r.metrics["steps"]) for r in c.runs]
        [('constant(0.5)', 2, 2), ('cosine(0.5)', 2, 2)]
        >>> c.leaderboard["schedule"].tolist()
        ['constant(0.5)', 'cosine(0.5)']

        With a store and seeds (kept in lrlab-runs/runs.db; a second call reuses the runs):

            compare("mnist1d", ["one_cycle(0.05)", "wsd(0.05)@plateau(factor=0.5)"], seeds=3, target=0.6)
    """
    task = resolve_target(task)
    function = isinstance(task, Experiment)
    if isinstance(schedules, (str, Schedule)):
        schedules = [schedules]
    if not schedules:
        raise ValueError("compare needs at least one schedule")
    seed_list = _seeds(seeds)
    target = check_target(task, target)
    engine = _check.choice("compare", "engine", engine, ENGINES)
    max_stack = _check.whole("compare", "max_stack", max_stack, 1, optional=True)
    if engine == "stacked" and callback is not None:
        raise ValueError("compare: callback needs engine='sequential' or 'auto' (the stacked engine calls none)")
    device = resolve_device(device)
    base = RunOptions(optimizer=optimizer, epochs=epochs, steps=steps, batch_size=batch_size, plateau=plateau,
                      optimizer_kwargs=optimizer_kwargs)
    entries = []
    for item in schedules:
        sched, own, has_own = split_entry(item)
        entries.append((sched, own if has_own else base.plateau, entry_optimizer(item)[1]))
    # Check every option before training anything (plan raises ValueError on bad ones).
    data_cache: dict[int, Any] = {}

    def make_plan(sched: Schedule, plat: Plateau | None, opt: Any, seed: int) -> Any:
        options = base.replace(plateau=plat, seed=seed)
        label = None
        if opt is not None:  # the entry's own optimizer, named in its label
            options = options.replace(optimizer=opt[0], optimizer_kwargs=opt[1])
            label = repr(sched) + (f"@{plat.spec()}" if plat is not None else "") + optimizer_suffix(*opt)
        if function:
            return plan_function(task, sched, options, label=label)
        if seed not in data_cache:
            data_cache[seed] = task.load(seed)
        return plan(task, sched, options, label=label, data=data_cache[seed], dtype=dtype)

    first = [make_plan(s, p, o, seed_list[0]) for s, p, o in entries]
    labels = [p.config["label"] for p in first]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:
        raise ValueError(f"schedule {dupes[0]!r} is listed twice")
    same = _same_runs(first)
    if same:  # entries that bind to one run train once and are shown once
        for later, earlier in same.items():
            bound = first[later].config["schedule"]
            print(f"lrlab: {labels[later]!r} is the same run as {labels[earlier]!r} ({bound}); shown once",
                  file=sys.stderr)
        entries = [e for i, e in enumerate(entries) if i not in same]
        first = [p for i, p in enumerate(first) if i not in same]
        labels = [p.config["label"] for p in first]

    plans = [first[i] if seed == seed_list[0] else make_plan(sched, plat, opt, seed)
             for seed in seed_list for i, (sched, plat, opt) in enumerate(entries)]
    runs = train_plans(plans, db=db, fresh=fresh, progress=progress, callback=callback, engine=engine,
                       device=device, max_stack=max_stack, workers=workers, devices=devices)
    return Comparison(task=task, runs=runs, target=target, labels=labels, rank_by=target_ranking(task))


def target_ranking(target: Any) -> Ranking | None:
    """What a target's leaderboard ranks by: an experiment's declared metric in its declared direction (its final
    training loss when it declares none); None for a Task (`Comparison` uses `task_ranking`).

    Args:
        target: a Task or an Experiment.

    Examples:
        >>> from lrlab.lab.studies.compare import target_ranking
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> target_ranking(experiment(lambda run: None, metric="val_f1", mode="max"))
        Ranking(metric='val_f1', higher_is_better=True, test='test_f1', note='')
        >>> target_ranking(experiment(lambda run: None, name="mine")).note
        "experiment 'mine' declares no metric"
    """
    from ..ranking import ranking

    if not isinstance(target, Experiment):
        return None
    if target.metric is None:
        return ranking("loss", False, note=f"experiment {target.name!r} declares no metric")
    return ranking(target.metric, target.mode == "max")


def resolve_target(target: Any) -> Any:
    """What a study trains: a Task (itself or its registered name), or an Experiment (itself, or its reference).

    A reference is "path/to/train.py:name" or "package.module:name"; it is imported here, the only code a study
    imports (nothing stored names code).

    Args:
        target: a Task, a task name, an Experiment, an experiment's reference, or a builder's training function
            (`lrlab.keras.experiment(...)`, `lrlab.lightning.experiment(...)`, ...).

    Raises:
        ValueError: an unknown task name, or a reference that does not import (one line).

    Examples:
        >>> from lrlab.lab.studies.compare import resolve_target
        >>> resolve_target("or3").name
        'or3'
        >>> resolve_target("no_such_module:train")
        Traceback (most recent call last):
        ...
        ValueError: experiment module 'no_such_module' failed to import: ModuleNotFoundError: No module named ...
    """
    from ..tasks.experiment import DECLARATION, Experiment, experiment, is_reference, load

    if isinstance(target, Experiment):
        return target
    if callable(target) and isinstance(getattr(target, DECLARATION, None), dict):  # lrlab.keras.experiment(...)
        return experiment(target)
    if is_reference(target):
        return load(target)
    return resolve_task(target)


def _same_runs(plans: list[Any]) -> dict[int, int]:
    """{later entry: earlier entry} for the entries whose runs are the same run (equal store keys)."""
    from ..store import config_key

    seen: dict[str, int] = {}
    out = {}
    for i, p in enumerate(plans):
        key = config_key(p.config)
        if key is None:
            continue
        if key in seen:
            out[i] = seen[key]
        else:
            seen[key] = i
    return out


def train_plans(plans: Sequence[Any], *, db: str | Path | None = DEFAULT_DB, fresh: bool = False,
                progress: Any = True, callback: Any = None, engine: str = "auto", device: str = "auto",
                max_stack: int | None = None, starts: Sequence[dict[str, Any] | None] | None = None,
                workers: int = 1, devices: Sequence[str] | None = None) -> list[Run]:
    """Train plans of one target (any schedules, budgets, seeds) as `compare` does, returning their runs in plan order.

    The stored twins are reused, plans with equal configs train once, and the rest train on the engine
    (`lrlab.lab.engines.make_engine`), each run saved as it (or its stack) ends. Runs are claimed in the store
    while they train, and shared with other processes by the work loop (`lrlab.lab.work`): a run another process
    trains is left to it and reused once stored. `compare` and `lrlab.lab.studies.cooldowns` call it with plans from
    `lrlab.lab.plan.plan`.

    Args:
        plans: the plans (lrlab.lab.plan.plan, or lrlab.lab.engines.function.plan_function), all of one target.
        db: the run store (a path or URL), None to store nothing.
        fresh: train again even when a stored run matches.
        progress: True for rich bars, False for none, or a progress object.
        callback: callback(step, model, loss, lr) for every trained run (forces the sequential engine).
        engine: "auto", "stacked" or "sequential" (see `compare`).
        device: "auto", "cpu" or "cuda".
        max_stack: at most this many runs per stack (None: as fits in half the free memory).
        starts: per plan a checkpoint to resume from (lrlab.lab.engines.checkpoint), or None; None: no checkpoints.
        workers: worker processes on this machine (an experiment's runs only; needs a store).
        devices: GPU ids given to the workers round robin (their CUDA_VISIBLE_DEVICES).

    Examples:
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.plan import plan
        >>> from lrlab.lab.studies.compare import train_plans
        >>> from lrlab.lab.tasks.task import get_task
        >>> task = get_task("or3")
        >>> plans = [plan(task, "constant(0.5)", RunOptions(epochs=e)) for e in (1, 2)]
        >>> [run.metrics["epochs_done"] for run in train_plans(plans, db=None, progress=False)]
        [1, 2]
    """
    from ..engines import make_engine
    from ..tasks.experiment import Experiment
    from ..work import run_plans, run_workers

    if not plans:
        return []
    device = resolve_device(device)
    workers = _check.whole("compare", "workers", workers, 1, 512)
    if workers > 1 and (db is None or not isinstance(plans[0].task, Experiment)):
        raise ValueError("compare: workers > 1 needs a run store (db) and a training function as target "
                         "(a built-in task's runs share a process through the stacked engine)")
    store = Store(db) if db is not None else None
    try:
        mark = store.last_id() if store is not None else None
        ours = frozenset()
        if workers > 1:
            ours = run_workers(plans[0].task, plans, db=str(db), workers=workers, mark=int(mark or 0),
                               devices=devices, fresh=fresh)
        with _bars(progress) as bars:
            eng = make_engine(plans, engine, bars=bars, device=device, callback=callback, max_stack=max_stack,
                              starts=starts, store=store)

            def on_wait(message: str) -> None:
                print(f"lrlab: some runs are trained by another process; {message}", file=sys.stderr, flush=True)

            return run_plans(plans, store=store, groups=eng.groups, train=eng.train, fresh=fresh,
                             retry_failed_before=mark, on_wait=on_wait, ours=ours)
    finally:
        if store is not None:
            store.close()
