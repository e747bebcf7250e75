"""One training run: what was asked (config), what happened (history, per-step arrays, metrics), and its model.

A `Run` comes out of `lrlab.lab.engines.train` (with its trained `model`) or out of the run store (with `id` set and
`model` None). It is plain data; pandas is needed only because `history` is a DataFrame.

Side by side: `history["lr"]` here is the rate of the epoch's FIRST update (the schedule at step
`(epoch - 1) * steps_per_epoch`, times any plateau reduction made after the epoch before), while
`lrlab.keras.LRLogger` logs the rate AFTER the epoch (`schedule(iterations)`: the next epoch's first rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Run:
    """The record of one training run.

    config: task, schedule (spec of the schedule actually used, lengths bound), schedule_config, label (the spec as
    given, with any "@plateau(...)" suffix), optimizer, optimizer_kwargs, epochs, batch_size, seed, plateau (dict of
    Plateau kwargs or None), dtype, and task_identity where the task has one (`Task.identity`: e.g. tinylm's corpus
    sha256 and Python version).
    history: one row per finished epoch (columns: `history_columns`): epoch, step, lr (rate of the epoch's first
    update; Keras's LRLogger logs the rate after the epoch), loss (mean training loss of the epoch's updates),
    val_loss, val_<metric>.
    step_lr / step_loss: the rate used by, and the batch loss seen at, every optimizer update.
    metrics: final loss/accuracy on train, val and test (keys loss, accuracy, val_loss, val_accuracy, test_loss,
    test_accuracy, where the task has them), plus epochs_done and steps, and for a built-in task the figures before
    training (start_loss, start_val_loss, start_val_<metric>, and chance_val_accuracy for a classifier:
    `lrlab.lab.engines.train.START`; `lrlab.lab.ranking.no_progress` reads them).
    status: "ok" or "diverged" (a NaN/inf loss, or one past `lrlab.lab.engines.train.loss_limit`: DIVERGED_FACTOR
    times the best training loss so far, the loss before training included, ended the run early; its figures are
    NaN); "pruned" (a search stopped it); "failed" (a
    user's training function raised: `error` holds the exception's last line, its figures are NaN).
    """

    config: dict[str, Any]
    history: Any  # pandas.DataFrame
    step_lr: np.ndarray
    step_loss: np.ndarray
    metrics: dict[str, float]
    wall_s: float
    status: str = "ok"
    model: Any = field(default=None, repr=False)
    id: int | None = None
    created: str | None = None
    error: str | None = None
    reused: bool = field(default=False, repr=False, compare=False)  # taken from the store, not trained by this call

    @property
    def label(self) -> str:
        """How the run is named in a comparison: the schedule spec as given (plus "@plateau(...)")."""
        return str(self.config.get("label") or self.config.get("schedule"))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def task(self) -> str:
        return str(self.config.get("task"))

    @property
    def schedule(self) -> Any:
        """The schedule used (lengths bound), rebuilt from its config."""
        from ..schedules import from_config

        return from_config(self.config["schedule_config"])

    def row(self) -> dict[str, Any]:
        """One flat row for runs.csv: schedule, seed, final_loss, test metrics, wall_s, status, ..."""
        m = self.metrics
        out: dict[str, Any] = {
            "id": self.id,
            "schedule": self.label,
            "seed": self.seed,
            "task": self.task,
            "optimizer": self.config.get("optimizer"),
            "epochs": self.config.get("epochs"),
            "batch_size": self.config.get("batch_size"),
            "status": self.status,
            "final_loss": m.get("loss", float("nan")),
        }
        for key in sorted(m):
            if key != "loss":
                out[key] = m[key]
        out["wall_s"] = self.wall_s
        out["spec"] = self.config.get("schedule")
        return out

    def __repr__(self) -> str:
        shown = {k: round(v, 6) if isinstance(v, float) else v for k, v in self.metrics.items()}
        return (
            f"Run(id={self.id}, task={self.task!r}, schedule={self.label!r}, seed={self.seed}, "
            f"status={self.status!r}, metrics={shown}, wall_s={self.wall_s:.3f})"
        )


def history_columns(metrics: Sequence[str], has_val: bool) -> list[str]:
    """The columns of a run's history: epoch, step, lr, loss, and val_loss, val_<metric> with a validation split."""
    cols = ["epoch", "step", "lr", "loss"]
    if has_val:
        cols += ["val_loss", *(f"val_{m}" for m in metrics)]
    return cols


def history_frame(runs: Iterable[Run], labels: Iterable[str] | None = None) -> Any:
    """Many runs' histories in one DataFrame with schedule (the run's label unless given), seed and run_id
    columns first: what a comparison's `history` is and what the curve plots read."""
    import pandas as pd

    runs = list(runs)
    names = [run.label for run in runs] if labels is None else list(labels)
    parts = []
    for label, run in zip(names, runs):
        h = run.history.copy()
        h.insert(0, "run_id", run.id)
        h.insert(0, "seed", run.seed)
        h.insert(0, "schedule", label)
        parts.append(h)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
