"""The transformers Trainer in the lab with one line: `experiment(model_init, args, train, eval, metric=...)` makes a
Trainer's training a target of `compare`, `tune` and `find_lr`, with the run's schedule and no Trainer subclass.

Layering: as `lrlab.lightning`, this module sits above the adapters and below the lab (tests/test_layers.py): it
drives the Trainer's optimizer with `lrlab.torch.Scheduler` and hands the lab a training function with a
declaration (`__lrlab_experiment__`, plain data). Importing it imports torch and transformers; `import lrlab`
alone never does.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import transformers

from . import _check
from .torch import Scheduler

__all__ = ["experiment"]

_WHO = "lrlab.transformers.experiment"
_TIMING = ("_runtime", "_per_second")  # evaluation timings: not figures of the model


def experiment(
    model_init: Callable[..., Any],
    args: transformers.TrainingArguments,
    train_dataset: Any,
    eval_dataset: Any = None,
    *,
    metric: str | None,
    compute_metrics: Callable[[Any], dict[str, float]] | None = None,
    optimizer: Callable[[Any], torch.optim.Optimizer] | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    mode: str | None = None,
    version: str | int = "1",
    name: str | None = None,
) -> Callable[[Any], Any]:
    """A `transformers.Trainer` as a target of the lab's studies, in one line.

    Every run builds the model (`model_init()`, or `model_init(seed)` when it takes an argument), a Trainer with
    a copy of `args` whose `seed` is the run's (the Trainer reseeds every generator with it) and whose epochs or
    max_steps are the run's budget, the Trainer's own optimizer (from `args`: AdamW by default, weight decay
    groups included) or `optimizer(model)`, and the run's schedule as its scheduler, stepped every update
    (`lrlab.torch.Scheduler(opt, run.schedule, plateau=run.plateau)`): what `optimizers=` would pass, built per run,
    so a search needs no Trainer subclass. A callback logs each update's loss (the sum of what `training_step`
    returned over its micro-batches: the Trainer's own training loss) and reports every evaluation (eval_* figures
    reported as val_*, the lab's name for validation figures; timings left out); a pruned or diverged run stops there,
    inside `train`. The Trainer's console log (`PrinterCallback`) is removed. The Trainer's count of updates
    (`state.max_steps`) must equal the run's: a mismatch is a ValueError naming both.

    Args:
        model_init: () -> model, or seed -> model (a fresh model per run).
        args: the TrainingArguments (copied per run; eval_strategy decides when the run reports).
        train_dataset: the training data, as the Trainer takes it (with a length).
        eval_dataset: the validation data (its figures are reported and ranked).
        metric: the figure ranked, e.g. "val_accuracy" or the Trainer's "eval_accuracy" (the same figure);
            None ranks by the final training loss.
        compute_metrics: as the Trainer takes it.
        optimizer: model -> a torch optimizer, instead of the Trainer's own from args.
        trainer_kwargs: more Trainer arguments (data_collator, processing_class, callbacks, ...).
        mode: "max" or "min" (default: from the metric's name).
        version: bump it when the model or data change (runs of another version are not reused).
        name: how runs are stored (default: model_init's name).

    Returns:
        The training function, fn(run), carrying its declaration (`fn.__lrlab_experiment__`).

    Raises:
        ValueError: a bad setting, a dataset without a length, or a fractional num_train_epochs.

    Examples:
        >>> import transformers
        >>> import lrlab.transformers
        >>> args = transformers.TrainingArguments("out", num_train_epochs=2, per_device_train_batch_size=8,
        ...                                       use_cpu=True, report_to=[])
        >>> fn = lrlab.transformers.experiment(lambda: None, args, list(range(20)), metric=None, name="tiny")
        >>> fn.__lrlab_experiment__["epochs"], fn.__lrlab_experiment__["steps_per_epoch"]
        (2, 3)
    """
    if not callable(model_init):
        raise _check.fail(_WHO, "model_init", "a function () -> model or seed -> model", model_init)
    if not isinstance(args, transformers.TrainingArguments):
        raise _check.fail(_WHO, "args", "a transformers.TrainingArguments", args)
    if trainer_kwargs is not None and not isinstance(trainer_kwargs, dict):
        raise _check.fail(_WHO, "trainer_kwargs", "a dict of Trainer arguments", trainer_kwargs)
    kwargs = dict(trainer_kwargs or {})
    for taken in ("model", "model_init", "args", "optimizers", "train_dataset", "eval_dataset"):
        if taken in kwargs:
            raise ValueError(f"{_WHO}: trainer_kwargs must not hold {taken!r} (the builder sets it)")
    user_callbacks = list(kwargs.pop("callbacks", []) or [])
    try:
        samples = len(train_dataset)
    except TypeError:
        raise _check.fail(_WHO, "train_dataset", "a dataset with a length", train_dataset) from None
    batches = samples // args.train_batch_size if args.dataloader_drop_last else math.ceil(
        samples / args.train_batch_size)
    ga = args.gradient_accumulation_steps
    spe = max(batches // ga + int(batches % ga > 0), 1)
    epochs: int | None = None
    steps: int | None = None
    if args.max_steps > 0:
        steps = args.max_steps
    elif float(args.num_train_epochs).is_integer() and args.num_train_epochs >= 1:
        epochs = int(args.num_train_epochs)
    else:
        raise _check.fail(_WHO, "args.num_train_epochs", "a whole number of epochs >= 1 (or set max_steps)",
                          args.num_train_epochs)
    if metric is not None and isinstance(metric, str) and metric.startswith("eval_"):
        metric = "val_" + metric.removeprefix("eval_")
    takes_seed = _takes_argument(model_init)

    def train(run: Any) -> dict[str, float]:
        model = model_init(run.seed) if takes_seed else model_init()
        run_args = copy.copy(args)
        run_args.seed = run.seed  # the Trainer seeds every generator with args.seed: the run's
        if run.config.get("steps") is not None:
            run_args.max_steps = run.steps
        else:
            run_args.num_train_epochs, run_args.max_steps = run.epochs, -1
        lab = _LabCallback(run)
        trainer = transformers.Trainer(model=model, args=run_args, train_dataset=train_dataset,
                                       eval_dataset=eval_dataset, compute_metrics=compute_metrics,
                                       callbacks=[*user_callbacks, lab], **kwargs)
        trainer.remove_callback(transformers.PrinterCallback)  # a printed dict per log: the lab reports instead
        opt = optimizer(trainer.model) if optimizer is not None else trainer.create_optimizer()
        trainer.optimizer = opt
        trainer.lr_scheduler = lab.scheduler = Scheduler(opt, run.schedule, plateau=run.plateau)
        step = trainer.training_step

        def training_step(*a: Any, **k: Any) -> Any:  # each micro-batch's loss, as the Trainer sums it
            loss = step(*a, **k)
            lab.pending += float(loss)
            return loss

        trainer.training_step = training_step  # type: ignore[method-assign]
        result = trainer.train()
        return {"train_loss": float(result.training_loss)}

    train.__lrlab_experiment__ = {  # type: ignore[attr-defined]
        "epochs": epochs, "steps": steps, "steps_per_epoch": spe, "metric": metric, "mode": mode,
        "version": version, "name": name if name is not None else getattr(model_init, "__name__", None),
        "module": getattr(model_init, "__module__", None)}
    return train


def _takes_argument(fn: Callable[..., Any]) -> bool:
    """Whether fn takes the seed (one positional argument) rather than nothing."""
    try:
        inspect.signature(fn).bind()
        return False
    except TypeError:
        return True
    except ValueError:  # no signature (a builtin): call it with nothing
        return False


class _LabCallback(transformers.TrainerCallback):
    """Each update's loss to `run.log_step`, each evaluation's figures to `run.report` (then a plateau's reduction
    applied to the optimizer at once); the Trainer's count of updates checked against the run's."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.pending = 0.0
        self.evaluations = 0
        self.scheduler: Scheduler | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run.steps is not None and state.max_steps != self.run.steps:
            raise ValueError(f"{_WHO}: the Trainer counts {state.max_steps} updates but the run's schedule is bound "
                             f"to {self.run.steps}")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        loss, self.pending = self.pending, 0.0
        self.run.log_step(loss)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    **kwargs: Any) -> None:
        self.evaluations += 1
        figures = {("val_" + k.removeprefix("eval_") if k.startswith("eval_") else k): float(v)
                   for k, v in (metrics or {}).items()
                   if k != "epoch" and not k.endswith(_TIMING) and isinstance(v, (int, float))}
        self.run.report(self.evaluations, **figures)  # raises to stop train() when the study prunes the run
        if self.run.plateau is not None and self.scheduler is not None:
            self.scheduler._apply()  # the next update runs at the reduced rate
