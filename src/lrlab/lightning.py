"""Lightning in the lab with one line: `experiment(Module, datamodule, ...)` makes a LightningModule's own training a
target of `compare`, `tune` and `find_lr`.

Layering: this module sits above the adapters and below the lab (tests/test_layers.py): it drives the module's
optimizer with `lrlab.torch.Scheduler`, so it builds on the torch adapter, and it hands the lab a training function
with a declaration (`__lrlab_experiment__`, plain data) instead of importing the lab's Experiment, so data still flows
one way. Importing this module imports torch and lightning; `import lrlab` alone never does.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from . import _check
from .torch import Scheduler

__all__ = ["experiment"]

_WHO = "lrlab.lightning.experiment"
_QUIET = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
          "enable_model_summary": False}


def experiment(
    module: Callable[..., Any],
    datamodule: Any = None,
    *,
    max_epochs: int,
    monitor: str | None,
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    trainer_kwargs: dict[str, Any] | None = None,
    steps_per_epoch: int | None = None,
    mode: str | None = None,
    version: str | int = "1",
    name: str | None = None,
) -> Callable[[Any], Any]:
    """A LightningModule trained by a `lightning.Trainer`, as a target of the lab's studies, in one line.

    Every run builds the module (a LightningModule class: `module()`; any other callable: `module(run.seed)`),
    keeps the optimizer its own `configure_optimizers` returns and drives it with the run's schedule, stepped every
    update (`lrlab.torch.Scheduler(opt, run.schedule, plateau=run.plateau)`, "interval": "step"), and fits a Trainer
    for the run's epochs with a callback that logs each update's loss (what `training_step` returned) and reports
    `trainer.callback_metrics` after each validation epoch (after each training epoch when there is no validation).
    A pruned or diverged run stops there, inside `fit`; a plateau's reduction reaches the optimizer at once. The
    Trainer's own count of updates (`trainer.estimated_stepping_batches`) must equal the run's: a mismatch is a
    ValueError naming both. Ctrl-C stops the study (Lightning's `sys.exit(1)` is turned back into
    KeyboardInterrupt, and its ignoring of further Ctrl-C is undone). A run trains in one process: a Trainer of
    several processes (devices=2 with DDP) is refused in one line; run several runs side by side with the lab's
    workers instead.

    Args:
        module: a LightningModule class (built with no arguments) or a function seed -> LightningModule. Its
            `configure_optimizers` returns one optimizer (alone, in a list, or as {"optimizer": opt}); its rate is
            the schedule's.
        datamodule: a LightningDataModule, or a function seed -> LightningDataModule (a fresh one per run).
        max_epochs: the epochs of a run (a study may ask another budget).
        monitor: the logged metric ranked, e.g. "val_accuracy" (None: the final training loss).
        train_dataloaders: instead of a datamodule, the training DataLoader (reused by every run).
        val_dataloaders: with train_dataloaders, the validation DataLoader(s).
        trainer_kwargs: more `Trainer` arguments (default: no logger, checkpoints, progress bar or summary; callbacks
            are added to the lab's).
        steps_per_epoch: updates per epoch (default: the training DataLoader's length over accumulate_grad_batches;
            a datamodule is set up once here, `setup("fit")`, to count its batches).
        mode: "max" or "min" (default: from the metric's name).
        version: bump it when the module or data change (runs of another version are not reused).
        name: how runs are stored (default: the module's name).

    Returns:
        The training function, fn(run), carrying its declaration (`fn.__lrlab_experiment__`).

    Raises:
        ValueError: a bad setting, no data, or data whose length is unknown without steps_per_epoch.

    Examples:
        >>> import lightning as L, torch
        >>> import lrlab.lightning
        >>> class Net(L.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layer = torch.nn.Linear(2, 1)
        ...     def training_step(self, batch, i):
        ...         return torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        ...     def configure_optimizers(self):
        ...         return torch.optim.SGD(self.parameters(), lr=0.0)
        >>> data = torch.utils.data.TensorDataset(torch.zeros(40, 2), torch.zeros(40, 1))
        >>> fn = lrlab.lightning.experiment(Net, max_epochs=2, monitor=None,
        ...                                 train_dataloaders=torch.utils.data.DataLoader(data, batch_size=8))
        >>> fn.__lrlab_experiment__["steps_per_epoch"], fn.__lrlab_experiment__["name"]
        (5, 'Net')
    """
    if not callable(module):
        raise _check.fail(_WHO, "module", "a LightningModule class or a function seed -> LightningModule", module)
    _check.whole(_WHO, "max_epochs", max_epochs, 1)
    _check.whole(_WHO, "steps_per_epoch", steps_per_epoch, 1, optional=True)
    if (datamodule is None) == (train_dataloaders is None):
        raise ValueError(f"{_WHO}: give a datamodule or train_dataloaders (one of them), got datamodule="
                         f"{_check.shown(datamodule)} and train_dataloaders={_check.shown(train_dataloaders)}")
    if trainer_kwargs is not None and not isinstance(trainer_kwargs, dict):
        raise _check.fail(_WHO, "trainer_kwargs", "a dict of Trainer arguments", trainer_kwargs)
    kwargs = dict(trainer_kwargs or {})
    for taken in ("max_epochs", "max_steps"):
        if taken in kwargs:
            raise ValueError(f"{_WHO}: trainer_kwargs must not hold {taken!r}, got {kwargs[taken]!r} (the run sets it)")
    user_callbacks = list(kwargs.pop("callbacks", []) or [])
    make_data = datamodule if callable(datamodule) and not isinstance(datamodule, L.LightningDataModule) else None
    spe = steps_per_epoch if steps_per_epoch is not None else _steps_per_epoch(
        make_data(0) if make_data is not None else datamodule, train_dataloaders, kwargs)

    def train(run: Any) -> None:
        model = module() if isinstance(module, type) else module(run.seed)
        if not isinstance(model, L.LightningModule):
            raise _check.fail(_WHO, "module", "a LightningModule class or a function seed -> LightningModule", model)
        lab = _LabCallback(run)
        _drive(model, run, lab)
        trainer = L.Trainer(**{**_QUIET, **kwargs}, max_epochs=run.epochs,
                            max_steps=run.steps if run.config.get("steps") is not None else -1,
                            callbacks=[*user_callbacks, lab])
        if trainer.world_size > 1:  # the other processes' reports would not reach the run
            raise ValueError(f"{_WHO}: a run trains in one process; got a Trainer of {trainer.world_size} processes "
                             "(devices/num_nodes in trainer_kwargs): use workers= to train runs side by side")
        if train_dataloaders is None:
            data = {"datamodule": make_data(run.seed) if make_data is not None else datamodule}
        else:
            data = {"train_dataloaders": train_dataloaders, "val_dataloaders": val_dataloaders}
        ignored = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(model, **data)
        except SystemExit:
            if trainer.interrupted:  # Lightning turned Ctrl-C into sys.exit(1): the study stops, runs kept
                raise KeyboardInterrupt from None
            raise
        finally:
            signal.signal(signal.SIGINT, ignored)  # Lightning ignores Ctrl-C after catching one

    train.__lrlab_experiment__ = {  # type: ignore[attr-defined]
        "epochs": max_epochs, "steps_per_epoch": spe, "metric": monitor, "mode": mode, "version": version,
        "name": name if name is not None else getattr(module, "__name__", None),
        "module": getattr(module, "__module__", None)}
    return train


def _steps_per_epoch(datamodule: Any, loader: Any, kwargs: dict[str, Any]) -> int:
    """Optimizer updates per epoch as Lightning counts them: ceil(batches / accumulate_grad_batches)."""
    if loader is None:
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
    try:
        batches = len(loader)
    except TypeError:
        raise ValueError(f"{_WHO}: steps_per_epoch is needed: the training DataLoader has no length "
                         f"({_check.shown(loader)})") from None
    limit = kwargs.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = int(batches * limit)
    return max(1, math.ceil(batches / int(kwargs.get("accumulate_grad_batches", 1))))


def _optimizer(got: Any) -> torch.optim.Optimizer | None:
    """The one optimizer a configure_optimizers result holds, or None."""
    if isinstance(got, (list, tuple)) and len(got) == 1:
        got = got[0]
    if isinstance(got, dict) and set(got) == {"optimizer"}:
        got = got["optimizer"]
    return got if isinstance(got, torch.optim.Optimizer) else None


def _drive(model: L.LightningModule, run: Any, lab: _LabCallback) -> None:
    """Make the module's configure_optimizers return its own optimizer driven by the run's schedule per update."""
    original = model.configure_optimizers

    def configure_optimizers() -> dict[str, Any]:
        got = original()
        opt = _optimizer(got)
        if opt is None:
            raise ValueError(f"{_WHO}: configure_optimizers must return one optimizer (the run's schedule drives "
                             f"it; no scheduler of its own), got {_check.shown(got)}")
        expected = model.trainer.estimated_stepping_batches
        if run.steps is not None and expected != run.steps:
            raise ValueError(f"{_WHO}: the Trainer counts {expected} updates but the run's schedule is bound to "
                             f"{run.steps}: pass steps_per_epoch= (updates per epoch as the Trainer counts them)")
        lab.scheduler = Scheduler(opt, run.schedule, plateau=run.plateau)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": lab.scheduler, "interval": "step", "frequency": 1}}

    model.configure_optimizers = configure_optimizers  # type: ignore[method-assign]


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.detach().cpu()) if value.numel() == 1 else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _LabCallback(L.Callback):
    """Each update's loss to `run.log_step`; each epoch's logged metrics to `run.report` (after validation, else
    after the training epoch), then a plateau's reduction applied to the optimizer at once."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.scheduler: Scheduler | None = None
        self.reported = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.run.log_step(loss)

    def _report(self, trainer: L.Trainer) -> None:
        epoch = trainer.current_epoch + 1
        if epoch == self.reported:
            return
        self.reported = epoch
        metrics = {k: v for k, v in ((k, _number(v)) for k, v in trainer.callback_metrics.items()) if v is not None}
        self.run.report(epoch, **metrics)  # raises to stop fit when the study prunes the run
        if self.run.plateau is not None and self.scheduler is not None:
            self.scheduler._apply()  # the next update runs at the reduced rate (its step() already set the old one)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if not trainer.sanity_checking:  # Lightning's check before training is no epoch
            self._report(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self._report(trainer)
