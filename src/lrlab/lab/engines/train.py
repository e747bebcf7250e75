"""The lab's trainer: a plain PyTorch loop whose learning rate comes from an lrlab schedule.

The rate is set before every update through `lrlab.torch.Scheduler`; a plateau controller (if any) is fed its
monitored history column (default val_loss) once per epoch. Per-step values stay on the torch side until the
epoch ends, so the loop costs about what a hand-written loop costs (see bench/train_throughput.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _check
from ...schedules import Schedule
from ..options import TASK_DEFAULT, RunOptions
from ..plan import Plan, plan
from ..run import Run, history_columns
from ..tasks.task import SCHEDULE_FREE, Task, optimizer_class, torch_dtype

DIVERGED_FACTOR = 1e6
"""A run has diverged, and ends at that epoch with NaN figures, when an epoch's training loss (any step's) or its
validation loss is NaN or infinite, or when the epoch's mean training loss or its validation loss exceeds the run's
`loss_limit`: DIVERGED_FACTOR times the best training loss so far, the loss before training (the initial evaluation
on the training split) included, and never less than that starting loss. As the range test does, the reference is the
best loss seen, not the first epoch's (which has itself exploded under a rate like constant(1000)): no schedule worth
ranking makes a loss a million times worse than its best, and a loss below the starting one never counts as diverged
(a run at 1e-12 that bumps to 1e-5 has not diverged). An update whose rate is past what the model's float type holds
(constant(1e300), or 3.5e38 in float32: torch refuses the step, or the optimizer's own float arithmetic overflows)
diverges the run too, at that update: it is stored and ranked last like any diverged run, never a traceback (the
stacked engine's rates overflow to inf, with the same outcome)."""

START = "start_"
"""The prefix of a run's figures before training (`Run.metrics`): start_loss (the training split's loss, the
divergence reference), start_val_loss and start_val_<metric> where the task has them, and chance_val_accuracy (the
share of the validation split's most common class: what a model that learned nothing scores) for a classifier.
`lrlab.lab.ranking.no_progress` reads them."""


def loss_limit(start: float, best: float) -> float:
    """The training or validation loss past which a run has diverged (DIVERGED_FACTOR's rule): DIVERGED_FACTOR times
    `best` (the lowest training loss so far, `start` included), but never below `start` (the loss before training);
    infinite when neither is a positive finite number.

    Examples:
        >>> from lrlab.lab.engines.train import loss_limit
        >>> loss_limit(0.69, 0.69), loss_limit(0.69, 1e-3), loss_limit(0.69, 1e-12)
        (690000.0, 1000.0, 0.69)
        >>> loss_limit(float("nan"), float("nan"))
        inf
    """
    ref = min((v for v in (start, best) if math.isfinite(v) and v > 0), default=math.inf)
    if not math.isfinite(ref):
        return math.inf
    return max(DIVERGED_FACTOR * ref, start if math.isfinite(start) else 0.0)


def start_figures(train: dict[str, float], val: dict[str, float], chance: float | None) -> dict[str, float]:
    """A run's figures before training, as `Run.metrics` keeps them (START): start_loss from the training split's
    figures, start_val_* from the validation split's, and chance_val_accuracy when `chance` is given."""
    out = {f"{START}loss": float(train.get("loss", math.nan))}
    out.update({f"{START}val_{k}": float(v) for k, v in val.items()})
    if chance is not None and val:
        out["chance_val_accuracy"] = float(chance)
    return out


def chance_accuracy(loss: str, metrics: tuple[str, ...], y: Any) -> float | None:
    """What a model that learned nothing scores on targets `y` of a classifier (the share of the most common class,
    for "ce" and "bce"); None for a task without accuracy, or no targets."""
    if "accuracy" not in metrics or loss not in ("ce", "bce"):
        return None
    values = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y).reshape(-1)
    if values.size == 0:
        return None
    return float(np.unique(values, return_counts=True)[1].max() / values.size)


def train(
    task: Task | str,
    schedule: Schedule | str | float,
    *,
    optimizer: str | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: Any = TASK_DEFAULT,
    plateau: Any = None,
    seed: int = 0,
    callback: Callable[[int, Any, float, float], Any] | None = None,
    progress: Any = None,
    device: str = "cpu",
    dtype: str | None = None,
    **optimizer_kwargs: Any,
) -> Run:
    """Train `task`'s model under `schedule` and return the Run.

    optimizer: "sgd", "adam", "adamw", or the schedule-free "sgd_sf", "adamw_sf" (None: the task's);
    optimizer_kwargs (momentum, warmup_steps, ...) go to the optimizer.
    epochs: None takes the task's; steps: a budget of optimizer steps instead (exclusive with epochs).
    batch_size: TASK_DEFAULT takes the task's; None is full batch.
    plateau: a Plateau, a dict of its kwargs or "factor=0.5, patience=10, monitor='val_accuracy', mode='max'";
    fed its monitor (default val_loss) once per epoch.
    callback(step, model, loss, lr) runs after every optimizer step (step counts from 1);
    progress.update(epoch=, loss=, lr=) after every epoch. (See `RunOptions` for the options' rules.)
    device: "cpu", "cuda" or "auto" (CUDA when there is one); dtype: None (the task's), "float32" or "float64".
    """
    options = RunOptions(optimizer=optimizer, epochs=epochs, steps=steps, batch_size=batch_size, plateau=plateau,
                         seed=seed, optimizer_kwargs=optimizer_kwargs)
    return execute(plan(task, schedule, options, dtype=dtype), callback=callback, progress=progress, device=device)


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for a device option: "auto" is CUDA when there is one; "cuda" without CUDA is a ValueError."""
    import torch

    name = _check.choice("", "device", device, DEVICES)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device must be 'cpu' or 'auto' here: device='cuda' was asked but torch sees no CUDA device")
    return name


# -- the loss and the evaluation ----------------------------------------------------------------
class Loss:
    """The task's loss and accuracy on torch tensors (targets shaped like the outputs for mse/bce; for "lm" logits
    (B, T, V) against next tokens (B, T), the mean over every position)."""

    def __init__(self, kind: str) -> None:
        import torch.nn.functional as F

        self.kind = kind
        self.fn = {"mse": F.mse_loss, "bce": F.binary_cross_entropy_with_logits, "ce": F.cross_entropy,
                   "lm": F.cross_entropy}[kind]

    def __call__(self, out: Any, y: Any) -> Any:
        if self.kind == "lm":
            return self.fn(out.flatten(0, -2), y.flatten())
        if self.kind != "ce" and out.shape != y.shape:
            out = out.reshape(y.shape)
        return self.fn(out, y)

    def correct(self, out: Any, y: Any) -> Any:
        if self.kind == "ce":
            return (out.argmax(dim=-1) == y).sum()
        return ((out.reshape(y.shape) > 0).to(y.dtype) == y).sum()

    # The same two for K members at once (the stacked engine): outputs (K, B, ...), targets (K, B, ...) -> (K,).
    def per_member(self, out: Any, y: Any) -> Any:
        """Each member's mean loss over its batch."""
        import torch.nn.functional as F

        if self.kind == "ce":
            return F.cross_entropy(out.flatten(0, 1), y.flatten(0, 1), reduction="none").view(y.shape[:2]).mean(1)
        if self.kind == "lm":  # (K, B, T, V) against (K, B, T): the mean over each member's B * T positions
            return F.cross_entropy(out.flatten(0, -2), y.flatten(), reduction="none").view(y.shape).flatten(1).mean(1)
        fn = {"mse": F.mse_loss, "bce": F.binary_cross_entropy_with_logits}[self.kind]
        return fn(out.reshape(y.shape), y, reduction="none").flatten(1).mean(1)

    def correct_per_member(self, out: Any, y: Any) -> Any:
        """Each member's count of right answers."""
        if self.kind == "ce":
            return (out.argmax(dim=-1) == y).sum(1)
        return ((out.reshape(y.shape) > 0).to(y.dtype) == y).flatten(1).sum(1)


def input_dtype(loss: str, dtype: Any) -> Any:
    """The torch dtype of a task's inputs: `dtype`, except a language model's token ids (long for "lm")."""
    import torch

    return torch.long if loss == "lm" else dtype


def tensors(split: Any, dtype: Any, loss: str, device: Any = "cpu") -> tuple[Any, Any]:
    """A split's (x, y) as torch tensors: x in `dtype` (token ids long for "lm"), y in `dtype` too (class ids and
    next tokens long for "ce" and "lm")."""
    import torch

    x = torch.as_tensor(np.asarray(split.x), dtype=input_dtype(loss, dtype), device=device)
    y = torch.as_tensor(np.asarray(split.y), dtype=torch.long if loss in ("ce", "lm") else dtype, device=device)
    return x, y


def figures(loss: float, correct: int, n: int, metrics: tuple[str, ...]) -> dict[str, float]:
    """A split's figures from its mean loss and count of right answers over n samples: loss, and the task's
    metrics (accuracy = correct / n; bpb = loss / ln 2, the loss in bits). Both engines report through this."""
    out = {"loss": loss}
    if "accuracy" in metrics:
        out["accuracy"] = correct / n
    if "bpb" in metrics:
        out["bpb"] = loss / math.log(2)
    return out


def eval_rows(lossf: Loss, y: Any, chunk: int) -> int:
    """Samples per evaluation pass: `chunk`, or for a language model as many windows as hold `chunk` targets (a
    window of T positions holds T: its logits are T times a classifier's)."""
    return max(1, chunk // int(y.shape[-1])) if lossf.kind == "lm" else chunk


def evaluate(
    model: Any, lossf: Loss, x: Any, y: Any, metrics: tuple[str, ...], chunk: int = 8192
) -> dict[str, float]:
    """Mean loss (and accuracy) of `model` on (x, y), in eval mode without gradients."""
    import torch

    n = len(x)
    chunk = eval_rows(lossf, y, chunk)
    if n == 0:
        return {}
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    with torch.no_grad():
        for i in range(0, n, chunk):
            xb, yb = x[i : i + chunk], y[i : i + chunk]
            out = model(xb)
            total += lossf(out, yb).double() * len(xb)
            if "accuracy" in metrics:
                correct += lossf.correct(out, yb)
    return figures(float(total) / n, int(correct), n, metrics)


# -- the loop -----------------------------------------------------------------------------------
@contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic kernels, without filling every new tensor with NaN first (that costs ~8% on a small MLP);
    torch's settings are restored afterwards."""
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = was_fill


@dataclass
class _Loop:
    """The state of one run's training loop: model, optimizer, scheduler, tensors and what was recorded."""

    p: Plan
    model: Any
    opt: Any
    sched: Any
    lossf: Loss
    splits: dict[str, tuple[Any, Any]]
    gen: Any
    step_lr: list[float] = field(default_factory=list)
    step_loss: list[Any] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    overflow: bool = False  # an update's rate was past the float type (lrlab.torch._step_fits): the run diverged
    step: int = 0
    limit: float = math.inf  # the loss past which the run has diverged (`loss_limit`), set before training
    start: dict[str, float] = field(default_factory=dict)  # the figures before training (START)
    epoch: int = 0  # the epochs begun
    pos: int = 0  # the updates done in the current epoch (0: between epochs)
    perm: Any = None  # the current epoch's data order (None: full batch, or between epochs)
    epoch_first: int = 0  # the index in step_loss of the current epoch's first update

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.p.task.metrics)


def _setup(p: Plan, device: str = "cpu") -> _Loop:
    """Seed, build the model, the tensors, the optimizer and the scheduler (in this order: the numbers depend on
    it)."""
    import torch

    from ...torch import Scheduler

    task, opts = p.task, p.options
    dtype = torch_dtype(p.config["dtype"])
    torch.manual_seed(opts.seed)
    model = task.model(opts.seed).to(device=device, dtype=dtype)
    splits = {name: tensors(getattr(p.data, name), dtype, task.loss, device) for name in ("train", "val", "test")}
    try:
        opt = optimizer_class(opts.optimizer)(model.parameters(), lr=float(p.schedule(0)), **opts.optimizer_kwargs)
    except TypeError as exc:
        raise ValueError(f"optimizer {opts.optimizer}: {exc}") from None
    sched = Scheduler(opt, p.schedule, plateau=p.make_plateau())
    gen = torch.Generator().manual_seed(opts.seed)
    return _Loop(p=p, model=model, opt=opt, sched=sched, lossf=Loss(task.loss), splits=splits, gen=gen)


def _mode(loop: _Loop, training: bool) -> None:
    """The model, and a schedule-free optimizer, in training or evaluation mode: the one place the trainer switches.
    A schedule-free optimizer steps at one point (y) and is evaluated at another (x, the average); its README asks
    for optimizer.train() before training steps and optimizer.eval() before every evaluation and checkpoint."""
    loop.model.train(training)
    if loop.p.options.optimizer in SCHEDULE_FREE:
        (loop.opt.train if training else loop.opt.eval)()


def _batches(loop: _Loop) -> Iterator[tuple[Any, Any]]:
    """The epoch's remaining batches: the whole training split, or the epoch's shuffle (drawn when the epoch
    begins) gathered batch by batch from the current position (a batch stays in cache from the gather to the
    forward pass)."""
    import torch

    xtr, ytr = loop.splits["train"]
    bs = loop.p.options.batch_size
    if bs is None:
        yield xtr, ytr
        return
    if loop.pos == 0:
        loop.perm = torch.randperm(len(xtr), generator=loop.gen)
    for idx in loop.perm[loop.pos * bs :].split(bs):
        yield xtr[idx], ytr[idx]


def _train_epoch(loop: _Loop, callback: Callable[..., Any] | None, total: float, save: Callable[[], None]) -> Any:
    """The epoch's updates (from where it stands, to its end or the run's `total` updates); returns the epoch's
    batch losses (float64 tensor). save() runs after every update (it checkpoints the steps asked)."""
    import torch

    from ...torch import _step_fits

    _mode(loop, True)
    group = loop.opt.param_groups[0]
    if loop.pos == 0:
        loop.epoch += 1
        loop.epoch_first = len(loop.step_loss)
    spe = loop.p.config["steps_per_epoch"]
    for xb, yb in _batches(loop):
        if loop.step >= total:
            break
        lr = group["lr"]
        loop.opt.zero_grad(set_to_none=True)
        loss = loop.lossf(loop.model(xb), yb)
        loss.backward()
        loop.overflow = not _step_fits(loop.opt)
        loop.sched.step()
        loop.step += 1
        loop.step_lr.append(lr)
        loop.step_loss.append(loss.detach())
        loop.pos += 1
        if loop.overflow:  # the run diverged at this update (DIVERGED_FACTOR): the epoch's row ends it
            break
        if callback is not None:
            callback(loop.step, loop.model, loss.item(), lr)
        if loop.pos < spe:  # a checkpoint at an epoch's end waits for its row
            save()
    return torch.stack(loop.step_loss[loop.epoch_first :]).double()


def diverged(loop: Any, steps_finite: bool, row: dict[str, Any]) -> bool:
    """The DIVERGED_FACTOR rule for this epoch. `loop`: any run's state with `rows` (this epoch's row last),
    `start` (the figures before training) and `limit` (`loss_limit` so far; lowered here when the epoch's training
    loss is a new best); steps_finite: whether every batch loss of the epoch was finite."""
    losses = [row["loss"], *([row["val_loss"]] if "val_loss" in row else [])]
    if not (steps_finite and all(math.isfinite(v) for v in losses)):
        return True
    if any(v > loop.limit for v in losses):
        return True
    start = loop.start.get(f"{START}loss", math.nan)
    best = min([row["loss"], *(r["loss"] for r in loop.rows[:-1])])
    loop.limit = min(loop.limit, loss_limit(start if math.isfinite(start) else best, best))
    return False


def begin(loop: Any, train: dict[str, float], val: dict[str, float], chance: float | None) -> None:
    """Set a fresh run's figures before training (`start_figures`) and its first `loss_limit`."""
    loop.start = start_figures(train, val, chance)
    start = loop.start[f"{START}loss"]
    loop.limit = loss_limit(start, start)


def mark_diverged(row: dict[str, Any]) -> None:
    """A diverged epoch's row: its model is broken, so its accuracies are not figures (losses, in nats or bits,
    stay as seen)."""
    row.update({k: math.nan for k in row if k.startswith("val_") and k not in ("val_loss", "val_bpb")})


def _epoch(loop: _Loop, callback: Callable[..., Any] | None, progress: Any, total: float = math.inf,
           save: Callable[[], None] = lambda: None,
           on_epoch: Callable[[int, dict[str, Any]], bool] | None = None) -> bool:
    """Train (the rest of) one epoch, up to `total` updates in all, validate, record its history row (a partial
    epoch's when the budget ends in it), feed the plateau; False when the run diverged."""
    import torch

    epoch_losses = _train_epoch(loop, callback, total, save)
    if loop.pos >= loop.p.config["steps_per_epoch"]:
        loop.pos, loop.perm = 0, None
    first, epoch = loop.epoch_first, loop.epoch
    train_loss = float(epoch_losses.mean())
    _mode(loop, False)
    val = evaluate(loop.model, loop.lossf, *loop.splits["val"], loop.metrics)
    row = {"epoch": epoch, "step": loop.step, "lr": loop.step_lr[first], "loss": train_loss}
    row.update({f"val_{k}": v for k, v in val.items()})
    loop.rows.append(row)
    if progress is not None:
        progress.update(epoch=epoch, loss=train_loss, lr=loop.step_lr[first])
    if diverged(loop, not loop.overflow and bool(torch.isfinite(epoch_losses).all()), row):
        loop.status = "diverged"
        mark_diverged(row)
        return False
    if on_epoch is not None and on_epoch(epoch, row):
        loop.status = "pruned"
        return False
    plateau = loop.p.options.plateau
    if plateau is not None:
        loop.sched.report(row[plateau.monitor])
    if loop.pos == 0:
        save()
    return True


def final_metrics(
    status: str, metrics: tuple[str, ...], sizes: dict[str, int], figures: Callable[[str], dict[str, float]],
    epochs_done: int, steps: int, start: dict[str, float] | None = None,
) -> dict[str, float]:
    """Loss (and accuracy) on every split after training (`figures(split name)`, never called for a diverged
    run: NaN then, a NaN model's "accuracy" would be made up; `sizes`: each split's length); plus epochs_done and
    steps, and the figures before training (`start`: START's keys)."""
    final: dict[str, float] = {}
    for prefix, name in (("", "train"), ("val_", "val"), ("test_", "test")):
        if status == "diverged":
            names = ("loss", *metrics) if sizes[name] else ()
            final.update({f"{prefix}{k}": math.nan for k in names})
        else:
            final.update({f"{prefix}{k}": v for k, v in figures(name).items()})
    final["epochs_done"] = epochs_done
    final["steps"] = steps
    final.update(start or {})
    return final


def _begin(loop: _Loop) -> None:
    """The initial evaluation of a fresh run (`begin`): its figures on the training and validation splits before any
    update (the model alone in eval mode: at step 0 a schedule-free optimizer's two points are one)."""
    loop.model.train(False)
    train_figures = evaluate(loop.model, loop.lossf, *loop.splits["train"], ())
    val = evaluate(loop.model, loop.lossf, *loop.splits["val"], loop.metrics)
    begin(loop, train_figures, val, chance_accuracy(loop.lossf.kind, loop.metrics, loop.splits["val"][1]))


def _final_metrics(loop: _Loop) -> dict[str, float]:
    _mode(loop, False)  # also the state of the returned model
    sizes = {name: len(x) for name, (x, _) in loop.splits.items()}
    return final_metrics(loop.status, loop.metrics, sizes,
                         lambda name: evaluate(loop.model, loop.lossf, *loop.splits[name], loop.metrics),
                         len(loop.rows), loop.step, loop.start)


def execute(
    p: Plan, *, callback: Callable[..., Any] | None = None, progress: Any = None, device: str = "cpu",
    start: dict[str, Any] | None = None, save_at: Iterable[int] = (), on_save: Callable[[dict[str, Any]], Any] | None
    = None, on_epoch: Callable[[int, dict[str, Any]], bool] | None = None,
) -> Run:
    """Run a plan: the training loop proper, on `device` ("cpu", "cuda", "auto") in the plan's dtype
    (config["dtype"]), for the plan's steps (its step budget, or its epochs).

    start: a checkpoint (lrlab.lab.engines.checkpoint) to resume from: the run continues from its step as if never
    stopped (the checkpoint's history rows and per-step arrays are the run's first ones; wall_s counts this call's
    training alone). save_at: steps (0 to the run's total) at which on_save(checkpoint) is called with the state
    after that update (after the epoch's row when it ends an epoch); checkpoint.save writes one to a file.
    on_epoch(epoch, row) after every epoch that did not diverge, with its history row: True stops the run there
    (status "pruned"), as `execute_stack`'s on_epoch does for a member."""
    import pandas as pd
    import torch

    from . import checkpoint

    device = resolve_device(device)
    total = p.options.total_steps(len(p.data.train))
    saves = sorted({_check.whole("execute", "save_at", s, 0, total) for s in save_at})
    if saves and on_save is None:
        raise ValueError("execute: save_at needs on_save (what to do with each checkpoint)")
    if saves:
        checkpoint.check_supported(p.config)
    with deterministic():
        loop = _setup(p, device)
        if start is not None:
            checkpoint.restore(loop, checkpoint.check(start, p.config, total))

        def save() -> None:
            if loop.step in saves and on_save is not None:
                on_save(checkpoint.capture(loop))

        if start is None:
            _begin(loop)
            save()  # step 0, when asked
        begin = time.perf_counter()
        while loop.step < total or loop.pos > 0:  # (a run resumed at its budget's end still owes that row)
            if not _epoch(loop, callback, progress, total, save, on_epoch) or loop.step >= total:
                break
        wall = time.perf_counter() - begin
        final = _final_metrics(loop)

    losses = torch.stack(loop.step_loss).double().cpu().numpy() if loop.step_loss else np.zeros(0)
    columns = history_columns(loop.metrics, len(loop.splits["val"][0]) > 0)
    return Run(
        config=dict(p.config),
        history=pd.DataFrame(loop.rows, columns=columns),
        step_lr=np.asarray(loop.step_lr, dtype=np.float64),
        step_loss=np.asarray(losses, dtype=np.float64),
        metrics=final,
        wall_s=wall,
        status=loop.status,
        model=loop.model,
    )
