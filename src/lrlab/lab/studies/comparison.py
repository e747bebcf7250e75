"""The result of a comparison (lrlab.lab.studies.compare): its runs, leaderboard, ranking, ties and CSV files, apart
from the code that trains them. What it ranks by and its default target: lrlab.lab.studies.compare's docstring."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import _check
from ..ranking import Ranking, no_progress, task_ranking
from ..run import Run, history_frame
from ..tasks.task import Task


def check_target(task: Task, target: float | None) -> float | None:
    """The leaderboard target for `task`, checked: an accuracy in (0, 1] when the task has accuracy, else a loss > 0.

    "Loss" means bits per byte for a language-model task (one with a "bpb" metric). None (the default target, see
    lrlab.lab.studies.compare's docstring) passes through.

    Args:
        task: the Task the comparison trains.
        target: the target value, or None.

    Raises:
        ValueError: a target out of range for the task's metric (one line naming the task).

    Examples:
        >>> from lrlab.lab.studies.comparison import check_target
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


@dataclass
class Comparison:
    """The runs of one comparison, with its leaderboard and joint history.

    What `compare` returns: `table` (one row per run, runs.csv), `leaderboard` (one row per schedule, means and std
    over seeds, best first) and `history` (every run's epochs); `write` puts them in CSV files. What the leaderboard
    ranks by is `ranking` (lrlab.lab.studies.compare's docstring; lrlab.lab.ranking); the default target is described
    there too.

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
        """The target of epochs_to_target: the one given, or the default described in compare's docstring.

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

        Sorted by `rank_column` (the final validation figure; compare's docstring) in the ranking's direction, the
        test figure beside it; equal figures keep the given order. NaN is kept: a schedule that diverged on any seed has
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
