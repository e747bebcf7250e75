"""The lab's trainer: a plain PyTorch loop whose learning rate comes from an lrlab schedule.

The rate is set before every update through `lrlab.torch.Scheduler`; a plateau controller (if any) is fed the
validation loss once per epoch. Per-step values stay on the torch side until the epoch ends, so the loop costs
about what a hand-written loop costs (see bench/train_throughput.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..schedules import Schedule, parse
from .run import Run
from .task import Data, Task, get_task

OPTIMIZERS = ("sgd", "adam", "adamw")

# Plateau keyword -> the type its value is read as (strings: the allowed values).
PLATEAU_KEYS: dict[str, Any] = {
    "factor": float,
    "patience": int,
    "mode": ("min", "max"),
    "threshold": float,
    "threshold_mode": ("rel", "abs"),
    "cooldown": int,
    "min_lr": float,
    "eps": float,
    "convention": ("torch", "keras"),
}


# -- options -----------------------------------------------------------------------------------
def resolve_task(task: Task | str) -> Task:
    """A Task given itself or by its registered name."""
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return get_task(task)
    raise ValueError(f"task must be a Task or a task name, got {task!r}")


def parse_plateau(value: Any) -> dict[str, Any] | None:
    """Plateau options as a dict of keyword arguments, from None, a dict, a Plateau, or a string such as
    "factor=0.5,patience=10,min_lr=1e-5" (also "plateau(factor=0.5, ...)"). Unknown keys and bad values raise."""
    if value is None or value is False:
        return None
    if isinstance(value, str):
        return _parse_plateau_text(value)
    if isinstance(value, Mapping):
        return _check_plateau(dict(value), repr(dict(value)))
    return _check_plateau(_plateau_kwargs(value), repr(value))


def _parse_plateau_text(text: str) -> dict[str, Any]:
    """The kwargs of "factor=0.5, patience=10" or "plateau(factor=0.5, ...)" (a bare "plateau": the defaults),
    read with the spec grammar: numbers, quoted strings (mode='max'), True/False/None."""
    from ..schedules.spec import parse_call

    body = "plateau()" if text.strip() == "plateau" else text
    try:
        kwargs = parse_call(body, "plateau")
    except ValueError as exc:  # keep the parser's column and caret lines under the first line
        first, _, rest = str(exc).partition("\n")
        hint = " (strings are quoted: mode='max')" if "schedule kind" in first else ""
        raise ValueError(f"plateau: {first}{hint}" + (f"\n{rest}" if rest else "")) from None
    return _check_plateau(kwargs, repr(text))


def _check_plateau(kwargs: dict[str, Any], shown: str) -> dict[str, Any]:
    """Only known keys; choices among their strings; numbers (not bools, not strings), integral where an int is
    due, finite and >= 0; then Plateau's own checks."""
    out: dict[str, Any] = {}
    for key, raw in kwargs.items():
        if key not in PLATEAU_KEYS:
            raise ValueError(f"plateau: unknown option {key!r} in {shown}; known: {', '.join(PLATEAU_KEYS)}")
        kind = PLATEAU_KEYS[key]
        if isinstance(kind, tuple):
            if not isinstance(raw, str) or raw not in kind:
                raise ValueError(f"plateau: {key} must be one of {', '.join(repr(k) for k in kind)}, got {raw!r}")
            out[key] = raw
            continue
        what = "an integer" if kind is int else "a number"
        if isinstance(raw, bool) or not isinstance(raw, (int, float, np.integer, np.floating)):
            raise ValueError(f"plateau: {key} must be {what}, got {raw!r}")
        number: Any = float(raw)
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"plateau: {key} must be a finite number >= 0, got {raw!r}")
        if kind is int:
            if number != int(number):
                raise ValueError(f"plateau: {key} must be {what}, got {raw!r}")
            number = int(number)
        out[key] = number
    from ..plateau import Plateau

    Plateau(**out)  # its own checks (factor < 1, threshold with mode, ...): ValueError naming the setting
    return out


def _plateau_kwargs(plateau: Any) -> dict[str, Any]:
    """The constructor arguments of a Plateau object."""
    settings = getattr(plateau, "settings", None)
    if not callable(settings):
        raise ValueError(f"plateau must be a Plateau, a dict or a 'key=value,...' string, got {plateau!r}")
    return dict(settings())


def canonical_plateau(kwargs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """All settings of the Plateau these kwargs build (so equal plateaus give equal configs); checks values."""
    if kwargs is None:
        return None
    from ..plateau import Plateau

    return dict(Plateau(**kwargs).settings())


def plateau_spec(kwargs: Mapping[str, Any] | None) -> str:
    """ "plateau(factor=0.5, patience=10)": the settings that differ from Plateau's defaults ("" for None)."""
    if kwargs is None:
        return ""
    from ..plateau import Plateau

    defaults = Plateau().settings()
    full = canonical_plateau(kwargs) or {}
    shown = {k: v for k, v in full.items() if v != defaults.get(k)}
    return "plateau(" + ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}" for k, v in shown.items()) + ")"


def make_plateau(kwargs: Mapping[str, Any] | None) -> Any:
    """A fresh lrlab.plateau.Plateau for these kwargs (each run gets its own: a plateau has state)."""
    if kwargs is None:
        return None
    from ..plateau import Plateau

    return Plateau(**kwargs)


def _check_optimizer(name: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if "lr" in kwargs:
        raise ValueError("optimizer option lr is not allowed: the learning rate comes from the schedule")
    clean: dict[str, Any] = {}
    for key, value in sorted(kwargs.items()):
        if isinstance(value, tuple):
            value = list(value)
        clean[key] = value
    if clean:  # unknown or bad options fail here, before any training
        import torch

        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name.lower()]
        try:
            cls([torch.zeros(1, requires_grad=True)], lr=0.1, **clean)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"optimizer {name.lower()}: {exc}") from None
    return name.lower(), clean


# -- the plan of one run ----------------------------------------------------------------------
@dataclass
class Plan:
    """Everything a run needs, decided before training: the task, its data, the bound schedule, the config."""

    task: Task
    data: Data
    schedule: Schedule
    config: dict[str, Any]


def plan(
    task: Task | str,
    schedule: Schedule | str | float,
    *,
    optimizer: str | None = None,
    epochs: int | None = None,
    batch_size: Any = ...,
    plateau: Any = None,
    seed: int = 0,
    label: str | None = None,
    data: Data | None = None,
    **optimizer_kwargs: Any,
) -> Plan:
    """Check the options and fix the run's config (binding left-out schedule lengths to the run's steps)."""
    task = resolve_task(task)
    is_number = isinstance(schedule, (int, float)) and not isinstance(schedule, bool)
    sched = parse(str(schedule)) if is_number else parse(schedule)
    opt, opt_kwargs = _check_optimizer(task.optimizer if optimizer is None else optimizer, optimizer_kwargs)
    epochs = task.epochs if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if batch_size is ...:
        batch_size = task.batch_size
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be an integer >= 1 or None (full batch), got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    plateau_kwargs = parse_plateau(plateau)
    data = task.load(int(seed)) if data is None else data
    n_train = len(data.train)
    if n_train == 0:
        raise ValueError(f"task {task.name!r} has no training data")
    if batch_size is not None and batch_size >= n_train:
        batch_size = None
    steps_per_epoch = 1 if batch_size is None else math.ceil(n_train / batch_size)
    given = sched
    if not sched.is_bound:
        sched = sched.stretch(int(epochs) * steps_per_epoch)
    try:
        sched_config = sched.to_config()
    except (ValueError, TypeError):  # e.g. custom(fn) with a function that cannot be named
        sched_config = None
    if label is None:
        label = repr(given) + (f"@{plateau_spec(plateau_kwargs)}" if plateau_kwargs is not None else "")
    config = {
        "task": task.name,
        "label": label,
        "schedule": repr(sched),
        "schedule_config": sched_config,
        "optimizer": opt,
        "optimizer_kwargs": opt_kwargs,
        "epochs": int(epochs),
        "batch_size": None if batch_size is None else int(batch_size),
        "steps_per_epoch": steps_per_epoch,
        "seed": int(seed),
        "plateau": canonical_plateau(plateau_kwargs),
        "dtype": task.dtype,
    }
    return Plan(task=task, data=data, schedule=sched, config=config)


# -- training ---------------------------------------------------------------------------------
def train(
    task: Task | str,
    schedule: Schedule | str | float,
    *,
    optimizer: str | None = None,
    epochs: int | None = None,
    batch_size: Any = ...,
    plateau: Any = None,
    seed: int = 0,
    callback: Callable[[int, Any, float, float], Any] | None = None,
    progress: Any = None,
    **optimizer_kwargs: Any,
) -> Run:
    """Train `task`'s model under `schedule` and return the Run.

    optimizer: "sgd", "adam" or "adamw" (None: the task's); optimizer_kwargs (momentum, ...) go to torch.optim.
    epochs: None takes the task's. batch_size: ... (the default) takes the task's; None is full batch.
    plateau: a Plateau, a dict of its kwargs or "factor=0.5,patience=10,min_lr=1e-5"; fed the val loss per epoch.
    callback(step, model, loss, lr) runs after every optimizer step (step counts from 1);
    progress.update(epoch=, loss=, lr=) after every epoch.
    """
    p = plan(
        task, schedule, optimizer=optimizer, epochs=epochs, batch_size=batch_size, plateau=plateau, seed=seed,
        **optimizer_kwargs,
    )
    return execute(p, callback=callback, progress=progress)


def _torch_dtype(torch: Any, name: str) -> Any:
    try:
        return {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
                "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise ValueError(f"task dtype must be float32 or float64, got {name!r}") from None


class _Loss:
    """The task's loss and accuracy on torch tensors (targets shaped like the outputs for mse/bce)."""

    def __init__(self, torch: Any, kind: str) -> None:
        import torch.nn.functional as F

        if kind not in ("mse", "bce", "ce"):
            raise ValueError(f"task loss must be mse, bce or ce, got {kind!r}")
        self.torch, self.kind = torch, kind
        self.fn = {"mse": F.mse_loss, "bce": F.binary_cross_entropy_with_logits, "ce": F.cross_entropy}[kind]

    def __call__(self, out: Any, y: Any) -> Any:
        if self.kind != "ce" and out.shape != y.shape:
            out = out.reshape(y.shape)
        return self.fn(out, y)

    def correct(self, out: Any, y: Any) -> Any:
        if self.kind == "ce":
            return (out.argmax(dim=-1) == y).sum()
        return ((out.reshape(y.shape) > 0).to(y.dtype) == y).sum()


def _tensors(torch: Any, split: Any, dtype: Any, loss: str) -> tuple[Any, Any]:
    x = torch.as_tensor(np.asarray(split.x), dtype=dtype)
    if loss == "ce":
        y = torch.as_tensor(np.asarray(split.y), dtype=torch.long)
    else:
        y = torch.as_tensor(np.asarray(split.y), dtype=dtype)
    return x, y


def _evaluate(torch: Any, model: Any, lossf: _Loss, x: Any, y: Any, metrics: tuple[str, ...],
              chunk: int = 8192) -> dict[str, float]:
    """Mean loss (and accuracy) of `model` on (x, y), in eval mode without gradients."""
    n = len(x)
    if n == 0:
        return {}
    total = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.long)
    with torch.no_grad():
        for i in range(0, n, chunk):
            xb, yb = x[i : i + chunk], y[i : i + chunk]
            out = model(xb)
            total += lossf(out, yb).double() * len(xb)
            if metrics:
                correct += lossf.correct(out, yb)
    out = {"loss": float(total) / n}
    if "accuracy" in metrics:
        out["accuracy"] = int(correct) / n
    return out


def execute(p: Plan, *, callback: Callable[..., Any] | None = None, progress: Any = None) -> Run:
    """Run a plan: the training loop proper."""
    import pandas as pd
    import torch

    from ..torch import Scheduler

    task, cfg = p.task, p.config
    dtype = _torch_dtype(torch, task.dtype)
    lossf = _Loss(torch, task.loss)
    metrics_names = tuple(task.metrics)
    seed, epochs, bs = cfg["seed"], cfg["epochs"], cfg["batch_size"]

    # Deterministic kernels, without filling every new tensor with NaN first (that costs ~8% on a small MLP).
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        torch.manual_seed(seed)
        model = task.model(seed)
        model = model.to(dtype)
        xtr, ytr = _tensors(torch, p.data.train, dtype, task.loss)
        xva, yva = _tensors(torch, p.data.val, dtype, task.loss)
        xte, yte = _tensors(torch, p.data.test, dtype, task.loss)
        opt_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg["optimizer"]]
        try:
            opt = opt_cls(model.parameters(), lr=float(p.schedule(0)), **cfg["optimizer_kwargs"])
        except TypeError as exc:
            raise ValueError(f"optimizer {cfg['optimizer']}: {exc}") from None
        sched = Scheduler(opt, p.schedule, plateau=make_plateau(cfg["plateau"]))
        gen = torch.Generator().manual_seed(seed)
        n = len(xtr)

        step_lr: list[float] = []
        step_loss: list[Any] = []
        rows: list[dict[str, Any]] = []
        status = "ok"
        step = 0
        group = opt.param_groups[0]
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            model.train()
            if bs is None:
                batches: Any = [(xtr, ytr)]
            else:  # gather batch by batch: a batch stays in cache from the gather to the forward pass
                perm = torch.randperm(n, generator=gen)
                batches = ((xtr[idx], ytr[idx]) for idx in perm.split(bs))
            first = len(step_lr)
            for xb, yb in batches:
                lr = group["lr"]
                opt.zero_grad(set_to_none=True)
                loss = lossf(model(xb), yb)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                step_lr.append(lr)
                step_loss.append(loss.detach())
                if callback is not None:
                    callback(step, model, loss.item(), lr)
            epoch_losses = torch.stack(step_loss[first:]).double()
            train_loss = float(epoch_losses.mean())
            model.eval()
            val = _evaluate(torch, model, lossf, xva, yva, metrics_names)
            row = {"epoch": epoch, "step": step, "lr": step_lr[first], "loss": train_loss}
            row.update({f"val_{k}": v for k, v in val.items()})
            rows.append(row)
            if progress is not None:
                progress.update(epoch=epoch, loss=train_loss, lr=step_lr[first])
            monitored = val.get("loss", train_loss)
            if not (torch.isfinite(epoch_losses).all() and math.isfinite(monitored)):
                status = "diverged"  # the model is broken: its accuracies are not figures (losses stay as seen)
                row.update({f"val_{k}": math.nan for k in val if k != "loss"})
                break
            if cfg["plateau"] is not None:
                sched.report(monitored)
        wall = time.perf_counter() - start

        model.eval()
        final: dict[str, float] = {}
        for prefix, (x, y) in (("", (xtr, ytr)), ("val_", (xva, yva)), ("test_", (xte, yte))):
            if status == "diverged":  # no evaluation of a NaN model: its "accuracy" would be made up
                names = ("loss", *metrics_names) if len(x) else ()
                final.update({f"{prefix}{k}": math.nan for k in names})
            else:
                figures = _evaluate(torch, model, lossf, x, y, metrics_names)
                final.update({f"{prefix}{k}": v for k, v in figures.items()})
        final["epochs_done"] = len(rows)
        final["steps"] = step
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = was_fill

    losses = torch.stack(step_loss).double().numpy() if step_loss else np.zeros(0)
    history = pd.DataFrame(rows, columns=_history_columns(rows, metrics_names, len(xva) > 0))
    return Run(
        config=dict(cfg),
        history=history,
        step_lr=np.asarray(step_lr, dtype=np.float64),
        step_loss=np.asarray(losses, dtype=np.float64),
        metrics=final,
        wall_s=wall,
        status=status,
        model=model,
    )


def _history_columns(rows: list[dict[str, Any]], metrics: tuple[str, ...], has_val: bool) -> list[str]:
    cols = ["epoch", "step", "lr", "loss"]
    if has_val:
        cols += ["val_loss", *(f"val_{m}" for m in metrics)]
    return cols
