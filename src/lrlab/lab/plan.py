"""The plan of one run: everything decided before training (task, data, bound schedule, config), so a comparison
can check every run's options, and find stored runs, before it trains any."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _check
from ..plateau import Plateau
from ..schedules import Schedule, parse
from .options import RunOptions, resolve_task
from .tasks.task import DTYPES, Data, Task
from .tasks.task_check import check_task


@dataclass
class Plan:
    """Everything a run needs, decided before training: the task, its data, the bound schedule, the resolved
    options (plateau monitor set) and the config the run is stored under."""

    task: Task
    data: Data
    schedule: Schedule
    options: RunOptions
    config: dict[str, Any]

    def make_plateau(self) -> Plateau | None:
        """A fresh plateau for this run (each run gets its own: a plateau has state)."""
        return Plateau.from_options(self.options.plateau)


def as_schedule(value: Schedule | str | float) -> Schedule:
    """A schedule given itself, a spec, or a number (a constant rate)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return parse(str(value))
    return parse(value)


def plan(
    task: Task | str,
    schedule: Schedule | str | float,
    options: RunOptions | None = None,
    *,
    label: str | None = None,
    data: Data | None = None,
    dtype: str | None = None,
) -> Plan:
    """Resolve the options against the task and fix the run's config (binding left-out schedule lengths to the
    run's steps: the step budget when options.steps is given, else epochs x steps per epoch).
    label: how the run is named (default: the spec as given, plus "@plateau(...)").
    dtype: None trains in the task's dtype, "float32" or "float64" overrides it (kept in the config).
    A task the lab's loop cannot train is refused here, before any run trains (`lrlab.lab.tasks.task_check`)."""
    task = resolve_task(task)
    dtype = task.dtype if dtype is None else _check.choice("", "dtype", dtype, DTYPES)
    given = as_schedule(schedule)
    asked = RunOptions() if options is None else options
    data = task.load(asked.seed) if data is None else data
    opts = asked.resolve(task, data)
    check_task(task, data, dtype)
    epochs = int(opts.epochs)
    steps_per_epoch = opts.steps_per_epoch(len(data.train))
    total = opts.total_steps(len(data.train))
    sched = given if given.is_bound else given.stretch(total)
    try:
        sched_config = sched.to_config()
    except (ValueError, TypeError):  # e.g. custom(fn) with a function that cannot be named
        sched_config = None
    if label is None:
        label = repr(given) + (f"@{asked.plateau.spec()}" if asked.plateau is not None else "")
    config = {
        "task": task.name,
        "label": label,
        "schedule": repr(sched),
        "schedule_config": sched_config,
        "optimizer": opts.optimizer,
        "optimizer_kwargs": dict(opts.optimizer_kwargs),
        "epochs": epochs,
        "steps": opts.steps,
        "batch_size": opts.batch_size,
        "steps_per_epoch": steps_per_epoch,
        "seed": opts.seed,
        "plateau": None if opts.plateau is None else opts.plateau.settings(),
        "dtype": dtype,
    }
    if task.identity or task.version:  # the task's own identity (its data's hash, its sizes, its version)
        config["task_identity"] = {**task.identity, **({"version": task.version} if task.version else {})}
    return Plan(task=task, data=data, schedule=sched, options=opts, config=config)
