"""What a leaderboard ranks by: the one rule the lab's leaderboards, tune's confirmation, the report and the CLI read.

A comparison ranks its schedules by a **validation** figure, the final value of a run metric (a key of
`Run.metrics`, which is also the name of its history column: val_accuracy, val_bpb, val_loss), averaged over the
seeds, in that metric's direction. The test figure is shown beside it and never used to rank: choosing on the
test set would make the test figure a biased estimate of the chosen schedule's quality. A target without a
validation metric ranks by the final training loss ("loss") and says so (`Ranking.note`).

A `Ranking` is built from a metric name and a direction (`ranking`: the direction inferred from the name where
`lrlab.plateau.monitor_mode` knows it); a built-in Task's comes from `task_ranking`. Any other kind of target (a
user's training function declaring `metric="val_accuracy"`) builds its own with `ranking(...)` and hands it to
`Comparison(rank_by=...)`.

A run that ended no better than where it started (`no_progress`: its ranked figure no better than before training,
or than chance on an accuracy) learned nothing: the leaderboard counts such runs in its `no_progress` column and
ranks their schedules below every schedule whose runs all learned (and above those with diverged or failed runs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..plateau import monitor_mode

TRAIN_LOSS = "loss"
"""The run metric a target without a validation metric ranks by: the final training loss."""


@dataclass(frozen=True)
class Ranking:
    """What a leaderboard ranks by, in which direction, and what it shows beside.

    Args:
        metric: the run metric ranked (a key of `Run.metrics` and a history column), e.g. "val_accuracy".
        higher_is_better: True for an accuracy, False for a loss (bits per byte included).
        test: the test metric shown beside it (never ranked), e.g. "test_accuracy"; None: none.
        note: why the ranking is not a validation figure, said beside the board (empty for a validation metric).

    Examples:
        >>> from lrlab.lab.ranking import Ranking
        >>> r = Ranking("val_accuracy", True, test="test_accuracy")
        >>> r.column
        'val_accuracy'
        >>> print(r.describe())
        ranked by the final val_accuracy (mean over seeds, higher is better); test_accuracy is shown beside it, ...
        >>> Ranking("loss", False, note="task 'x' has no validation split").column
        'final_train_loss'
    """

    metric: str
    higher_is_better: bool
    test: str | None = None
    note: str = ""

    @property
    def column(self) -> str:
        """The leaderboard's column of the ranked figure: the metric's name, or "final_train_loss" for the
        training loss (a name that says it is not a validation figure)."""
        return "final_train_loss" if self.metric == TRAIN_LOSS else self.metric

    @property
    def direction(self) -> str:
        """'higher is better' or 'lower is better'."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def describe(self) -> str:
        """One line saying what the board is ranked by (the CLI's caption, the report's line)."""
        what = "final training loss" if self.metric == TRAIN_LOSS else f"final {self.metric}"
        text = f"ranked by the {what} (mean over seeds, {self.direction})"
        if self.note:
            text += f": {self.note}"
        if self.test:
            text += f"; {self.test} is shown beside it, not used to rank"
        return text


def ranking(metric: str, higher_is_better: bool | None = None, *, test: str | None = None,
            note: str = "") -> Ranking:
    """The Ranking of a declared metric: its direction given, or inferred from its name.

    The direction is inferred as `lrlab.plateau.monitor_mode` does (a "val_" or "test_" prefix ignored: a loss is
    better lower, an accuracy higher; "bpb", bits per byte, is a loss). The test metric shown beside a "val_X" metric is
    "test_X" unless given.

    Args:
        metric: the run metric to rank by, e.g. "val_accuracy", "val_loss", "val_f1".
        higher_is_better: the direction; None: inferred from the name.
        test: the test metric to show beside (None: "test_X" for a "val_X" metric, else none).
        note: a reason shown beside the board (e.g. why it is not a validation figure).

    Raises:
        ValueError: an empty metric name, or a direction that cannot be inferred and was not given.

    Examples:
        >>> from lrlab.lab.ranking import ranking
        >>> ranking("val_accuracy")
        Ranking(metric='val_accuracy', higher_is_better=True, test='test_accuracy', note='')
        >>> ranking("val_bpb").higher_is_better, ranking("test_accuracy").higher_is_better
        (False, True)
        >>> ranking("val_f1", higher_is_better=True).test
        'test_f1'
        >>> ranking("val_f1")
        Traceback (most recent call last):
        ...
        ValueError: ranking: the direction of metric 'val_f1' is not known from its name; give higher_is_better
    """
    if not isinstance(metric, str) or not metric.strip():
        raise ValueError(f"ranking: metric must be a non-empty metric name, got {metric!r}")
    if higher_is_better is None:
        base = metric.removeprefix("test_")  # monitor_mode drops "val_"
        mode = "min" if base.removeprefix("val_") == "bpb" else monitor_mode(base)
        if mode is None:
            raise ValueError(f"ranking: the direction of metric {metric!r} is not known from its name; give "
                             "higher_is_better")
        higher_is_better = mode == "max"
    if test is None and metric.startswith("val_"):
        test = "test_" + metric.removeprefix("val_")
    return Ranking(metric, bool(higher_is_better), test=test, note=note)


def task_ranking(task: Any, has_val: bool = True) -> Ranking:
    """The Ranking of a built-in Task's comparison: its validation figure, or the training loss without one.

    The figure is the task's headline one: accuracy (higher is better) for a classifier, bits per byte for a
    language model, else the loss (both lower is better): val_accuracy, val_bpb or val_loss, with the test figure
    of the same name beside it. A task without a validation split ranks by the final training loss (its note
    says so) and still shows its test figure.

    Args:
        task: the Task (its `name` and `metrics` are read).
        has_val: whether the task's runs have a validation split.

    Examples:
        >>> from lrlab.lab.ranking import task_ranking
        >>> from lrlab.lab.tasks.task import get_task
        >>> task_ranking(get_task("or3"))
        Ranking(metric='val_accuracy', higher_is_better=True, test='test_accuracy', note='')
        >>> task_ranking(get_task("line")).metric
        'val_loss'
        >>> r = task_ranking(get_task("or3"), has_val=False)
        >>> r.column, r.test, r.note
        ('final_train_loss', 'test_accuracy', "task 'or3' has no validation split")
    """
    figure = next((m for m in ("accuracy", "bpb") if m in task.metrics), "loss")
    if not has_val:
        return ranking(TRAIN_LOSS, False, test=f"test_{figure}", note=f"task {task.name!r} has no validation split")
    return ranking(f"val_{figure}")


def progress_reference(metrics: Mapping[str, float], rank: Ranking) -> float:
    """What a run's ranked figure must beat to count as learning: chance for a figure that is better higher (an
    accuracy: `Run.metrics["chance_<metric>"]`, the share of the most common class), else its value before training
    (`Run.metrics["start_<metric>"]`); NaN when the run does not record it (a training function's run).

    Examples:
        >>> from lrlab.lab.ranking import progress_reference, ranking
        >>> progress_reference({"val_accuracy": 0.5, "chance_val_accuracy": 0.5}, ranking("val_accuracy"))
        0.5
        >>> progress_reference({"val_loss": 0.1, "start_val_loss": 2.3}, ranking("val_loss"))
        2.3
    """
    key = ("chance_" if rank.higher_is_better else "start_") + rank.metric
    value = metrics.get(key, math.nan)
    return float(value) if isinstance(value, (int, float)) else math.nan


def no_progress(metrics: Mapping[str, float], rank: Ranking) -> bool:
    """Whether a run ended no better than where it started: its final ranked figure (`rank.metric`) at most chance
    (a figure better higher) or at least its value before training (a loss), `progress_reference`. False for a run
    without the figure (diverged, failed: flagged as such) or without the reference.

    Examples:
        >>> from lrlab.lab.ranking import no_progress, ranking
        >>> acc = ranking("val_accuracy")
        >>> no_progress({"val_accuracy": 0.5, "chance_val_accuracy": 0.5}, acc)
        True
        >>> no_progress({"val_accuracy": 0.97, "chance_val_accuracy": 0.5}, acc)
        False
        >>> no_progress({"val_loss": 2.4, "start_val_loss": 2.3}, ranking("val_loss"))
        True
    """
    value = metrics.get(rank.metric, math.nan)
    ref = progress_reference(metrics, rank)
    if not isinstance(value, (int, float)) or not (math.isfinite(value) and math.isfinite(ref)):
        return False
    return value <= ref if rank.higher_is_better else value >= ref
