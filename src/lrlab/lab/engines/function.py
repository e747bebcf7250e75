"""The function engine: one run of a user's training function (an `Experiment`), with the `run` it is handed.

The lab seeds Python's, numpy's and torch's generators (and Keras's, when it is loaded; a run during which Keras
is first imported gets a RuntimeWarning: its Keras generator was not seeded) with the run's seed, calls
`fn(run)`, and records what the function tells it: `run.log_step(loss)` per update, `run.report(epoch, **metrics)`
per epoch. `report` is where a study stops a run: pruned, diverged (a NaN/inf loss, or one past
`lrlab.lab.engines.train.loss_limit` of the losses so far) or asked to stop; it raises `StopRun`, which the lab
catches (the function needs no try/except). Any other exception ends the run as "failed" with the exception's last
line; KeyboardInterrupt stops the study.
"""

from __future__ import annotations

import math
import random
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import _check
from ...plateau import Plateau
from ...schedules import Schedule
from ..options import RunOptions
from ..plan import as_schedule
from ..run import Run
from ..tasks.experiment import Experiment
from .train import loss_limit


class StopRun(Exception):
    """Raised by `run.report` / `run.log_step` to end a run early; the lab catches it (status: its `status`)."""

    status = "stopped"


class Pruned(StopRun):
    """The study pruned the run (tune's pruner, at a reported epoch)."""

    status = "pruned"


class Diverged(StopRun):
    """The loss became NaN/inf, or grew past `loss_limit` (DIVERGED_FACTOR times the best loss so far)."""

    status = "diverged"


@dataclass
class FunctionPlan:
    """A run of an experiment, decided before it trains: the target, the bound schedule, the options and the
    config it is stored under (the counterpart of lrlab.lab.plan.Plan for the built-in loop)."""

    task: Experiment
    schedule: Schedule
    options: RunOptions
    config: dict[str, Any]

    def make_plateau(self) -> Plateau | None:
        """A fresh plateau for this run (each run its own: a plateau has state)."""
        return Plateau.from_options(self.options.plateau)


def budget(exp: Experiment, options: RunOptions) -> tuple[int | None, int | None, int | None]:
    """(epochs, steps, total updates) of a run: the options' epochs or steps, else the experiment's; total is None
    when neither steps nor steps_per_epoch is known."""
    if options.steps is not None:
        steps, epochs = options.steps, None
    elif options.epochs is not None:
        steps, epochs = None, options.epochs
    else:
        steps, epochs = exp.steps, exp.epochs
    spe = exp.steps_per_epoch
    if steps is not None:
        epochs = math.ceil(steps / spe) if spe else None
        return epochs, steps, steps
    return epochs, None, None if epochs is None or spe is None else epochs * spe


def plan_function(exp: Experiment, schedule: Schedule | str | float, options: RunOptions | None = None, *,
                  label: str | None = None) -> FunctionPlan:
    """The plan of one run of `exp`: its schedule bound to the run's budget, its config (stored and keyed).

    Raises:
        ValueError: no budget at all (neither epochs nor steps), or a schedule without lengths for an experiment
            that does not say its steps per epoch.
    """
    given = as_schedule(schedule)
    asked = RunOptions() if options is None else options
    epochs, steps, total = budget(exp, asked)
    if epochs is None and steps is None:
        raise ValueError(f"experiment {exp.name!r}: a run needs a budget: declare epochs (or steps) in "
                         "@experiment(...), or pass epochs= / steps=")
    if given.is_bound:
        sched = given
    elif total is None:
        raise ValueError(f"experiment {exp.name!r}: schedule {given!r} has no lengths, so it needs the run's steps: "
                         "declare steps_per_epoch in @experiment(...), or pass steps=")
    else:
        sched = given.stretch(total)
    try:
        sched_config = sched.to_config()
    except (ValueError, TypeError):
        sched_config = None
    plateau = asked.plateau
    if plateau is not None and plateau.monitor is None:
        plateau = Plateau(**{**plateau.settings(), "monitor": "val_loss"})
    if label is None:
        label = repr(given) + (f"@{asked.plateau.spec()}" if asked.plateau is not None else "")
    config = {
        "task": exp.name,
        "label": label,
        "schedule": repr(sched),
        "schedule_config": sched_config,
        "optimizer": asked.optimizer,
        "optimizer_kwargs": dict(asked.optimizer_kwargs),
        "epochs": epochs,
        "steps": steps,
        "batch_size": None,
        "steps_per_epoch": exp.steps_per_epoch,
        "seed": asked.seed,
        "plateau": None if plateau is None else plateau.settings(),
        "dtype": None,
        "task_identity": exp.identity,
        "experiment": exp.ref or exp.name,
    }
    opts = RunOptions(optimizer=asked.optimizer, epochs=epochs, plateau=plateau, seed=asked.seed,
                      optimizer_kwargs=asked.optimizer_kwargs)._with_steps(steps)
    return FunctionPlan(task=exp, schedule=sched, options=opts, config=config)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (and Keras's when it is loaded) with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # a JAX-only user: nothing to seed there (JAX's keys are explicit)
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "utils"):
        keras.utils.set_random_seed(seed % 2**32)


def _number(name: str, value: Any) -> float:
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        raise _check.fail("run.report", name, "a number", value) from None


class RunContext:
    """What a training function is handed: the run to train, and where it says what happened.

    Attributes:
        schedule: the entry's schedule, its lengths bound to the run's budget (`steps`).
        seed: the run's seed (the global generators are seeded with it before the call).
        epochs: the epochs to train (None when the budget is in steps and steps_per_epoch is unknown).
        steps: the run's budget in optimizer updates (None when unknown: epochs only).
        steps_per_epoch: the experiment's declared updates per epoch (None if not declared).
        plateau: a fresh lrlab.Plateau for this run (give it to the adapter's scheduler), or None. `report` feeds
            it its monitored metric (default val_loss): do not also call the scheduler's report.
        options: what the entry asked besides its schedule: {"optimizer": name or None, **its options}.
        config: the run's config as stored.
    """

    def __init__(self, p: FunctionPlan, on_epoch: Callable[[int, dict[str, Any]], bool] | None = None,
                 progress: Any = None, on_step: Callable[[float], bool] | None = None) -> None:
        self.schedule = p.schedule
        self.seed = int(p.config["seed"])
        self.epochs = p.config["epochs"]
        self.steps = p.options.steps if p.options.steps is not None else (
            None if self.epochs is None or p.config["steps_per_epoch"] is None
            else self.epochs * p.config["steps_per_epoch"])
        self.steps_per_epoch = p.config["steps_per_epoch"]
        self.plateau = p.make_plateau()
        self.options = {"optimizer": p.config["optimizer"], **p.config["optimizer_kwargs"]}
        self.config = p.config
        self.metric = p.task.metric
        self.rows: list[dict[str, Any]] = []
        self.step_lr: list[float] = []
        self.step_loss: list[float] = []
        self._epoch_first = 0  # index of the epoch's first logged step
        self._limit = math.inf  # `loss_limit` of the losses logged so far
        self._start: float | None = None
        self._best = math.inf
        self._on_epoch = on_epoch
        self._on_step = on_step
        self._progress = progress
        self.status: str | None = None  # set when the lab stopped the run

    def lr(self, step: int | None = None) -> float:
        """The rate of update number step + 1 (default: the next one), the plateau's reduction included."""
        t = len(self.step_lr) if step is None else step
        rate = float(self.schedule(t))
        return self.plateau.effective(rate) if self.plateau is not None else rate

    def log_step(self, loss: Any) -> None:
        """Record one update's training loss (a float or a 0-d tensor); optional, but it feeds the range test,
        the forecast and the divergence rule. A NaN/inf loss, or one past its limit, stops
        the run as diverged (past `loss_limit`: DIVERGED_FACTOR times the best so far, never below the
        first); a study watching the steps (the range test) may stop it here too."""
        value = _number("loss", loss)
        self.step_lr.append(self.lr())
        self.step_loss.append(value)
        if self._on_step is not None and self._on_step(value):
            self.status = StopRun.status
            raise StopRun(f"step {len(self.step_loss)}")
        self._watch(value)

    def _watch(self, value: float) -> None:
        if not math.isfinite(value) or value > self._limit:
            self.status = Diverged.status
            raise Diverged(f"loss {value:g}")
        if self._start is None:
            self._start = value  # the first update's loss: the loss before training, on its batch
        self._best = min(self._best, value)
        self._limit = loss_limit(self._start, self._best)

    def report(self, epoch: int, **metrics: Any) -> None:
        """Record one epoch's metrics (val_accuracy=..., val_loss=..., any names); a study may stop the run here.

        The row's loss is the mean of the epoch's logged step losses (or the `loss` given); the plateau, if any,
        is fed its monitor. Raises StopRun (caught by the lab) when the run diverged or is pruned.
        """
        epoch = _check.whole("run.report", "epoch", epoch, 1)
        values = {name: _number(name, v) for name, v in metrics.items()}
        logged = self.step_loss[self._epoch_first:]
        if "loss" not in values:
            values["loss"] = float(np.mean(logged)) if logged else math.nan
        first = self._epoch_first if logged else len(self.step_lr)
        row = {"epoch": epoch, "step": len(self.step_loss) if self.step_loss else
               epoch * (self.steps_per_epoch or 0), "lr": self.lr(first), **values}
        self._epoch_first = len(self.step_loss)
        self.rows.append(row)
        if self._progress is not None:
            self._progress.update(epoch=epoch, loss=values["loss"], lr=row["lr"])
        for name, v in values.items():
            if "loss" in name and not (math.isnan(v) and name == "loss" and not logged):
                self._watch(v)
        if self._on_epoch is not None and self._on_epoch(epoch, row):
            self.status = Pruned.status
            raise Pruned(f"epoch {epoch}")
        if self.plateau is not None:
            monitor = self.plateau.monitor or "val_loss"
            if monitor not in values:
                raise ValueError(f"run.report: the plateau watches {monitor!r}, which this epoch did not report "
                                 f"(reported: {', '.join(sorted(values))})")
            self.plateau.step(values[monitor])


def _last_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[-1]


def _final(ctx: RunContext, returned: Any, status: str) -> dict[str, float]:
    """The run's final metrics: the last reported epoch's figures, then what the function returned; NaN figures
    for a run that diverged or failed (a broken model's accuracy is not a figure); epochs_done and steps."""
    final: dict[str, float] = {}
    if ctx.rows:
        final.update({k: v for k, v in ctx.rows[-1].items() if k not in ("epoch", "step", "lr")})
    if isinstance(returned, Mapping):
        final.update({str(k): _number(str(k), v) for k, v in returned.items()})
    elif returned is not None and status == "ok":
        raise ValueError(f"the training function returned {type(returned).__name__}; it returns None or a dict of "
                         "final metrics")
    if status in ("diverged", "failed"):
        final = {k: math.nan for k in final}
        if ctx.metric is not None:  # the ranked figure, even when no epoch reported it
            final.setdefault(ctx.metric, math.nan)
    final["epochs_done"] = len(ctx.rows)
    final["steps"] = len(ctx.step_loss) if ctx.step_loss else (ctx.rows[-1]["step"] if ctx.rows else 0)
    return final


def execute_function(p: FunctionPlan, *, progress: Any = None,
                     on_epoch: Callable[[int, dict[str, Any]], bool] | None = None,
                     on_step: Callable[[float], bool] | None = None) -> Run:
    """Call the plan's training function once and return its Run (status ok, pruned, diverged, stopped or failed).

    on_epoch(epoch, row) after every reported epoch: True prunes the run there (tune's pruner).
    on_step(loss) after every logged step: True stops the run there, status "stopped" (the range test's rule).
    """
    import pandas as pd

    ctx = RunContext(p, on_epoch=on_epoch, progress=progress, on_step=on_step)
    keras_seeded = "keras" in sys.modules
    seed_everything(ctx.seed)
    returned, error = None, None
    begin = time.perf_counter()
    try:
        returned = p.task.fn(ctx)
    except StopRun:
        pass
    except Exception as exc:  # the user's code failed: stored as failed, the study goes on
        error = _last_line(exc)
    wall = time.perf_counter() - begin
    if not keras_seeded and "keras" in sys.modules:
        warnings.warn(f"experiment {p.task.name!r}: Keras was first imported inside the training function, so the "
                      f"lab could not seed it for run {p.config['label']!r} seed {ctx.seed} (its weights do not "
                      "repeat for the seed); import keras at the top of the file", RuntimeWarning, stacklevel=2)
    status = "failed" if error is not None else (ctx.status or "ok")
    if status == "ok" and not ctx.rows and returned is None:
        status, error = "failed", "the training function reported no epoch and returned no metrics"
    try:
        metrics = _final(ctx, returned, status)
    except ValueError as exc:
        status, error = "failed", str(exc)
        metrics = _final(ctx, None, status)
    columns = list(dict.fromkeys(["epoch", "step", "lr", "loss", *(k for row in ctx.rows for k in row)]))
    run = Run(
        config=dict(p.config),
        history=pd.DataFrame(ctx.rows, columns=columns),
        step_lr=np.asarray(ctx.step_lr, dtype=np.float64),
        step_loss=np.asarray(ctx.step_loss, dtype=np.float64),
        metrics=metrics,
        wall_s=wall,
        status=status,
        error=error,
    )
    return run


def plan_from_config(exp: Experiment, config: dict[str, Any]) -> FunctionPlan:
    """The plan a config was made from (worker processes receive configs: plain data)."""
    from ...schedules import from_config

    if config.get("schedule_config") is None:
        raise ValueError(f"run {config.get('label')!r}: its schedule has no config, so it cannot go to a worker "
                         "process")
    options = RunOptions(optimizer=config["optimizer"], epochs=config["epochs"], plateau=config["plateau"],
                         seed=config["seed"], optimizer_kwargs=config["optimizer_kwargs"])._with_steps(config["steps"])
    return FunctionPlan(task=exp, schedule=from_config(config["schedule_config"]), options=options,
                        config=dict(config))
