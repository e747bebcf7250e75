"""What a run may be asked besides its task and schedule (optimizer, epochs, batch size, plateau, seed): one frozen
value, checked when built and resolved against the task in one place, so `train`, `plan` and `compare` share it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .. import _check
from ..plateau import Plateau, monitor_mode
from .run import history_columns
from .tasks.task import OPTIMIZERS, Data, Task, get_task, optimizer_class


class _TaskDefault:
    """The marker for "the task's own value" where None means something else (batch_size None: full batch)."""

    _instance: _TaskDefault | None = None

    def __new__(cls) -> _TaskDefault:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TASK_DEFAULT"

    def __reduce__(self) -> str:
        return "TASK_DEFAULT"


TASK_DEFAULT = _TaskDefault()
"""batch_size=TASK_DEFAULT takes the task's batch size (None is full batch)."""

_SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts


def _betas(name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _check.fail("", name, "two numbers in [0, 1), e.g. (0.9, 0.999)", value)
    for beta in value:
        _check.number("", name, beta, 0.0, 1.0, high_open=True, what="two numbers in [0, 1), e.g. (0.9, 0.999)")


_OPTION_RULES: dict[str, Any] = {
    "momentum": lambda name, v: _check.in_range("", name, v, 0.0, 1.0),
    "dampening": lambda name, v: _check.in_range("", name, v, 0.0, 1.0),
    "weight_decay": lambda name, v: _check.rate("", name, v),
    "eps": lambda name, v: _check.rate("", name, v),
    "r": lambda name, v: _check.rate("", name, v),
    "weight_lr_power": lambda name, v: _check.number("", name, v),
    "warmup_steps": lambda name, v: _check.steps("", name, v, minimum=0),
    "betas": _betas,
    "nesterov": lambda name, v: _check.boolean("", name, v),
    "amsgrad": lambda name, v: _check.boolean("", name, v),
    "maximize": lambda name, v: _check.boolean("", name, v),
}
"""The optimizer options whose values lrlab knows (torch's SGD, Adam, AdamW and the schedule-free pair). Every other
option is a number that must be finite, True/False/None, a string or a list of finite numbers; the optimizer's own
constructor then checks the names (`RunOptions.resolve`)."""


def check_optimizer_option(key: str, value: Any) -> None:
    """One optimizer option checked, as RunOptions checks every one: a one-line ValueError naming the option and the
    value (betas=(0.9,), momentum=inf, warmup_steps=-1, ...), so no bad value reaches the optimizer's first step.

    Args:
        key: the option's name (momentum, betas, warmup_steps, ...).
        value: its value.

    Examples:
        >>> from lrlab.lab.options import check_optimizer_option
        >>> check_optimizer_option("momentum", 0.9)
        >>> check_optimizer_option("betas", (0.9,))
        Traceback (most recent call last):
        ...
        ValueError: optimizer option betas must be two numbers in [0, 1), e.g. (0.9, 0.999), got (0.9,)
    """
    name = f"optimizer option {key}"
    rule = _OPTION_RULES.get(key)
    if rule is not None:
        rule(name, value)
        return
    what = "a finite number, True/False/None, a string or a list of finite numbers"
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if isinstance(item, (bool, str)) or (item is None and not isinstance(value, (list, tuple))):
            continue
        if not _check.is_real(item) or not math.isfinite(_check.as_float(item)):
            raise _check.fail("", name, what, value)


def resolve_task(task: Task | str, who: str = "", why: str = "it needs the lab's own loop") -> Task:
    """A Task given itself or by its registered name; a training function (an Experiment, or a reference such as
    "train.py:NAME") is refused in one line naming `who`, the study that trains only tasks, and `why`."""
    from .tasks.experiment import Experiment, is_reference

    if isinstance(task, Task):
        return task
    if isinstance(task, Experiment) or is_reference(task):
        name = task.name if isinstance(task, Experiment) else task
        raise ValueError(f"{who or 'this study'} trains built-in and registered tasks only, not a training function "
                         f"({name}): {why}")
    if isinstance(task, str):
        return get_task(task)
    raise ValueError(f"task must be a Task or a task name, got {_check.shown(task)}")


@dataclass(frozen=True)
class RunOptions:
    """The options of a run; None (and TASK_DEFAULT for batch_size) take the task's value.

    optimizer: one of OPTIMIZERS ("sgd", "adam", "adamw", schedule-free "sgd_sf", "adamw_sf"); optimizer_kwargs
    (momentum, warmup_steps, ...) go to the optimizer, never lr, each checked by `check_optimizer_option`.
    epochs: a whole number >= 1. steps: a budget in optimizer updates (a whole number >= 1), exclusive with epochs:
    the run trains ceil(steps / steps_per_epoch) epochs and stops after exactly `steps` updates.
    batch_size: a whole number >= 1, None (full batch) or TASK_DEFAULT.
    plateau: None, a Plateau, a dict of its arguments or options text ("factor=0.5, patience=10"); kept as a
    Plateau (a template: every run builds its own, a plateau has state). seed: a whole number.
    Everything is checked here, except what needs the task: `resolve(task, data)`.
    """

    optimizer: str | None = None
    epochs: int | None = None
    batch_size: Any = TASK_DEFAULT
    plateau: Any = None
    seed: int = 0
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    steps: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer is not None:
            name = self.optimizer.lower() if isinstance(self.optimizer, str) else self.optimizer
            self._set("optimizer", _check.choice("", "optimizer", name, OPTIMIZERS))
        self._set("epochs", _check.whole("", "epochs", self.epochs, 1, optional=True))
        self._set("steps", _check.whole("", "steps", self.steps, 1, optional=True))
        if self.epochs is not None and self.steps is not None:
            raise ValueError(f"epochs and steps are exclusive (a run's length is one or the other), got epochs="
                             f"{self.epochs} and steps={self.steps}")
        if self.batch_size is not TASK_DEFAULT:
            what = "a whole number >= 1, None (full batch) or TASK_DEFAULT"
            self._set("batch_size", _check.whole("", "batch_size", self.batch_size, 1, optional=True, what=what))
        self._set("seed", _check.whole("", "seed", self.seed, *_SEED_RANGE, what="a whole number"))
        self._set("plateau", Plateau.from_options(self.plateau))
        if not isinstance(self.optimizer_kwargs, Mapping):
            raise _check.fail("", "optimizer_kwargs", "a dict", self.optimizer_kwargs)
        if "lr" in self.optimizer_kwargs:
            raise ValueError("optimizer option lr is not allowed: the learning rate comes from the schedule")
        for key, value in self.optimizer_kwargs.items():
            check_optimizer_option(key, value)
        clean = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(self.optimizer_kwargs.items())}
        self._set("optimizer_kwargs", MappingProxyType(clean))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with some options changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def resolve(self, task: Task, data: Data) -> RunOptions:
        """These options with the task's values filled in: optimizer (its options tried on torch.optim, so a bad
        one fails before training), epochs, batch_size (None when a batch holds all the training data), and the
        plateau's monitor (default val_loss, or loss without a validation split; checked against the history)."""
        optimizer = task.optimizer if self.optimizer is None else self.optimizer
        kwargs = dict(self.optimizer_kwargs)
        if kwargs:
            import torch

            try:
                optimizer_class(optimizer)([torch.zeros(1, requires_grad=True)], lr=0.1, **kwargs)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise ValueError(f"optimizer {optimizer}: {exc}") from None
        batch_size = task.batch_size if self.batch_size is TASK_DEFAULT else self.batch_size
        if len(data.train) == 0:
            raise ValueError(f"task {task.name!r} has no training data")
        if batch_size is not None and batch_size >= len(data.train):
            batch_size = None
        epochs = task.epochs if self.epochs is None else self.epochs
        if self.steps is not None:
            spe = 1 if batch_size is None else math.ceil(len(data.train) / batch_size)
            epochs = math.ceil(self.steps / spe)
        return RunOptions(
            optimizer=optimizer,
            epochs=epochs,
            batch_size=batch_size,
            plateau=watched(self.plateau, task, data),
            seed=self.seed,
            optimizer_kwargs=kwargs,
        )._with_steps(self.steps)

    def _with_steps(self, steps: int | None) -> RunOptions:
        """Resolved options keep both: the epochs that hold the budget and the budget (None: whole epochs)."""
        self._set("steps", steps)
        return self

    def total_steps(self, n_train: int) -> int:
        """The run's updates (resolved options): the step budget, or epochs x steps per epoch."""
        return self.steps if self.steps is not None else int(self.epochs) * self.steps_per_epoch(n_train)

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimizer steps per epoch over n_train samples (resolved options: the last partial batch counts)."""
        return 1 if self.batch_size is None else math.ceil(n_train / self.batch_size)


def watched(plateau: Plateau | None, task: Task, data: Data) -> Plateau | None:
    """The plateau with its monitor set: the one it names, or val_loss (loss when the task has no validation
    split). The monitor must be a column of the run's history, and the mode must fit it (Plateau checks)."""
    if plateau is None:
        return None
    has_val = len(data.val) > 0
    columns = [c for c in history_columns(task.metrics, has_val) if c not in ("epoch", "step", "lr")]
    monitor = plateau.monitor or ("val_loss" if has_val else "loss")
    if monitor not in columns:
        raise ValueError(
            f"plateau: monitor must be a column of task {task.name!r}'s history ({', '.join(columns)}), "
            f"got {monitor!r}"
        )
    try:
        return Plateau(**{**plateau.settings(), "monitor": monitor})
    except ValueError as exc:
        hint = ""
        if plateau.monitor is None:
            other = [c for c in columns if monitor_mode(c) in (None, plateau.mode)]
            hint = f"; {monitor} is watched by default" + (f", pass monitor={other[0]!r} to watch it" if other else "")
        raise ValueError(f"plateau: {str(exc).removeprefix('Plateau: ')}{hint}") from None

