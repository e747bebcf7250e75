"""Whether the lab's own loop can train a task, asked once before any of its runs trains: `check_task`.

Without it a task the loop cannot train fails deep inside the trainer (a transformers model returns an output
object, not a tensor) or, worse, trains quietly to chance (a Keras model ending in a softmax under the logits loss
"ce"). The check reads the task's data and runs its model once on the first training batch: forward, loss and
backward, as the loop would. Each failure is a one-line ValueError naming the task and what is wrong.

What is checked, in this order:
- the data: inputs x are numbers, finite, floats (or bools) for "mse"/"bce"/"ce" (the loop feeds them in the run's
  dtype, so integer x would be cast silently) and integer token ids for "lm"; targets y are finite, in [0, 1] for
  "bce", whole numbers >= 0 for "ce" (shape (n,)) and "lm" (shape (n, T));
- the model: `task.model(seed)` builds without error and is a `torch.nn.Module` with trainable parameters;
- the first batch (the first batch_size training rows, at most 1024): the model runs on it and returns a floating
  tensor, one row per sample, finite; its shape fits the loss ("mse"/"bce": as many outputs per sample as targets,
  "ce": (n, classes) with classes > the largest label of any split, "lm": (n, T, V) with V > the largest token);
  the loss and its backward pass run, and a gradient reaches the parameters;
- for the logits losses "bce", "ce" and "lm", that the outputs are not probabilities: refused when the autograd
  node that made them (seen through reshapes, copies and clamps) is a sigmoid or a softmax, or when every output
  lies in [0, 1] and each sample's outputs sum to 1. A log-softmax passes (cross-entropy of log-probabilities is
  the cross-entropy of the logits). The check can only guess here: a sigmoid computed by hand (1 / (1 + exp(-z)))
  is not seen, and outputs that merely lie in [0, 1] (a fresh linear model on 0/1 inputs can) are not refused.

The probe builds its own model (seed 0) and leaves every random generator training reads as it found it (torch's
CPU generator and any initialised CUDA generator, numpy's and Python's global ones), so runs train bit for bit as
without it. It runs on the CPU. A task object passes once per dtype per process: `plan` and `FindPlan` call this for
every run, and `tune` before its study starts (a refusal inside a trial would fail every trial).
"""

from __future__ import annotations

import random
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .task import Data, Split, Task, torch_dtype

PROBE_ROWS = 1024
"""The most rows of the first batch the probe runs (a full-batch task's first batch is its whole training split)."""

_PASS_THROUGH = {
    "AliasBackward", "AsStridedBackward", "ClampBackward", "ClampMaxBackward", "ClampMinBackward", "CloneBackward",
    "ExpandBackward", "IndexBackward", "PermuteBackward", "ReshapeAliasBackward", "SelectBackward", "SliceBackward",
    "SqueezeBackward", "TBackward", "ToCopyBackward", "TransposeBackward", "UnsafeViewBackward", "UnsqueezeBackward",
    "ViewBackward",
}
"""Autograd nodes that move or clamp values without changing what they are: the probabilities rule looks past them."""
_PROBABILITIES = {"SigmoidBackward": "a sigmoid", "SoftmaxBackward": "a softmax"}

_CHECKED: dict[tuple[int, str], Any] = {}  # (id(task), dtype) -> a weak reference to the task that passed


def check_task(task: Task, data: Data, dtype: str | None = None) -> None:
    """Refuse, with a one-line ValueError naming the task, a task the lab's loop cannot train (see the module
    docstring for the rules); return None when it can. data: the task's data (`task.load(seed)`); dtype: the
    run's ("float32", "float64"; None: the task's). A task object that passed is not checked again for that dtype
    in this process."""
    dtype = task.dtype if dtype is None else dtype
    key = (id(task), dtype)
    ref = _CHECKED.get(key)
    if ref is not None and ref() is task:
        return
    who = f"task {task.name!r}"
    labels = _check_data(who, task.loss, data)
    _check_model(who, task, data, dtype, labels)
    for k in [k for k, r in _CHECKED.items() if r() is None]:  # forget tasks that are gone
        del _CHECKED[k]
    try:
        _CHECKED[key] = weakref.ref(task)
    except TypeError:  # a Task subclass without weak references: keep it
        _CHECKED[key] = lambda: task


# -- the data -----------------------------------------------------------------------------------
def _check_data(who: str, loss: str, data: Data) -> int | None:
    """Check every split's x and y against the loss; the largest class id or token of any split ("ce", "lm")."""
    largest: int | None = None
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        if len(split) == 0:
            continue
        x, y = np.asarray(split.x), np.asarray(split.y)
        xs, ys = f"x of the {name} split", f"y of the {name} split"
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{who}: {xs} must hold numbers, got dtype {x.dtype}")
        if loss == "lm" and x.dtype.kind not in "iu":
            raise ValueError(f"{who}: loss 'lm' feeds token ids, so {xs} must hold integers, got dtype {x.dtype}")
        if loss != "lm" and x.dtype.kind in "iu":
            raise ValueError(
                f"{who}: {xs} holds integers ({x.dtype}), which the loop would cast to floats for the model: "
                f"give float inputs (x.astype(np.float32)), or loss 'lm' for token ids"
            )
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ValueError(f"{who}: {xs} holds NaN or inf")
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{who}: {ys} must hold numbers, got dtype {y.dtype}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"{who}: {ys} holds NaN or inf")
        if loss == "bce" and y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{who}: loss 'bce' needs targets in [0, 1], {ys} holds values in "
                             f"[{y.min():g}, {y.max():g}]")
        if loss in ("ce", "lm"):
            shape, want = (len(y),), "(n,) class ids"
            if loss == "lm":
                shape, want = x.shape, f"(n, T) next tokens shaped like x {x.shape}"
            if y.shape != shape:
                raise ValueError(f"{who}: loss {loss!r} needs y of shape {want}, {ys} has shape {y.shape}")
            if y.size and (y.min() < 0 or (y.dtype.kind == "f" and not (y == np.floor(y)).all())):
                raise ValueError(f"{who}: loss {loss!r} needs whole numbers >= 0 as targets, {ys} holds "
                                 f"{_sample(y)}")
            if y.size:
                largest = max(int(y.max()), -1 if largest is None else largest)
    return largest


def _sample(y: np.ndarray) -> str:
    """A few of y's values that are not whole numbers >= 0, for a message."""
    flat = y.reshape(-1)
    bad = flat[(flat < 0) | (flat != np.floor(flat))][:3]
    return ", ".join(f"{v:g}" for v in bad)


# -- the model on the first batch ---------------------------------------------------------------
@contextmanager
def _generators_kept() -> Iterator[None]:
    """Python's, numpy's and torch's global generators (CPU, and CUDA where initialised) as they were, after the
    block: the probe's model draws its initial weights from them."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(0)  # as the trainer seeds before building a run's model
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _last_line(exc: BaseException) -> str:
    """An exception as one line: its type and the last line of its message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return type(exc).__name__ + (f": {lines[-1]}" if lines else "")


def _origin(out: Any) -> str | None:
    """"a sigmoid" or "a softmax" when the autograd node that made `out` (looking past reshapes, copies and
    clamps) is one, else None."""
    node = out.grad_fn
    while node is not None:
        name = type(node).__name__.rstrip("0123456789")
        if name in _PROBABILITIES:
            return _PROBABILITIES[name]
        if name not in _PASS_THROUGH or not node.next_functions:
            return None
        node = node.next_functions[0][0]
    return None


def _kind(value: Any) -> str:
    """A value's type for a message ("None" for None); a Keras model's says when it is a torch module."""
    if value is None:
        return "None"
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    if kind.startswith("keras"):
        kind += " (a Keras model is a torch.nn.Module only under KERAS_BACKEND=torch)"
    return kind


def _check_model(who: str, task: Task, data: Data, dtype: str, largest: int | None) -> None:
    import torch

    from ..engines.train import Loss, tensors

    with _generators_kept():
        try:
            model = task.model(0)
        except Exception as exc:
            raise ValueError(f"{who}: model(0) fails: {_last_line(exc)}") from None
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"{who}: model(seed) must return a torch.nn.Module (the lab's loop trains torch "
                             f"modules), got {_kind(model)}")
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"{who}: the model has no trainable parameters")
        train = data.train
        rows = min(len(train), task.batch_size or len(train), PROBE_ROWS)
        first = Split(np.asarray(train.x)[:rows], np.asarray(train.y)[:rows])
        try:
            model = model.to(dtype=torch_dtype(dtype))
            x, y = tensors(first, torch_dtype(dtype), task.loss)
        except Exception as exc:
            raise ValueError(f"{who}: the model cannot be moved to {dtype}: {_last_line(exc)}") from None
        batch = f"x {str(x.dtype).removeprefix('torch.')} {tuple(x.shape)}"
        model.train()
        try:
            out = model(x)
        except Exception as exc:
            hint = " (a model for loss 'lm' takes int64 token ids, e.g. through nn.Embedding)" \
                if task.loss == "lm" else ""
            raise ValueError(f"{who}: the model fails on the first batch ({batch}): {_last_line(exc)}{hint}") \
                from None
        _check_outputs(who, task.loss, out, x, y, largest)
        try:
            Loss(task.loss)(out, y).backward()
        except Exception as exc:
            raise ValueError(f"{who}: the loss {task.loss!r} fails on the model's outputs for the first batch "
                             f"({batch}): {_last_line(exc)}") from None
        if all(p.grad is None for p in params):
            raise ValueError(f"{who}: no gradient reaches the model's parameters from its outputs")


def _check_outputs(who: str, loss: str, out: Any, x: Any, y: Any, largest: int | None) -> None:
    """The first batch's outputs against the loss: a floating tensor, a row per sample, finite, shaped for the
    loss, with a gradient, and not probabilities under a logits loss."""
    import torch

    if not isinstance(out, torch.Tensor):
        hint = ""
        if hasattr(out, "logits"):
            hint = " (it has .logits: wrap the model in a module whose forward returns model(x).logits)"
        raise ValueError(f"{who}: the model must return a tensor of outputs, got {_kind(out)}{hint}")
    shape = tuple(out.shape)
    if not out.is_floating_point():
        raise ValueError(f"{who}: the model's outputs must be floats, got {str(out.dtype).removeprefix('torch.')}")
    n = len(x)
    if not shape or shape[0] != n:
        raise ValueError(f"{who}: the model must give one row of outputs per sample, got outputs of shape {shape} "
                         f"for a batch of {n}")
    if loss in ("mse", "bce") and out[0].numel() != y[0].numel():
        per = y[0].numel()
        raise ValueError(f"{who}: loss {loss!r} needs as many outputs per sample as targets ({per}: y of shape "
                         f"{tuple(y.shape)}), got outputs of shape {shape}")
    top = -1 if largest is None else largest
    if loss == "ce" and (len(shape) != 2 or shape[1] < 2 or shape[1] <= top):
        raise ValueError(f"{who}: loss 'ce' needs class logits of shape (n, classes) with classes > the largest "
                         f"label ({top}), got outputs of shape {shape}")
    if loss == "lm" and (len(shape) != 3 or shape[:2] != tuple(y.shape) or shape[2] <= top):
        raise ValueError(f"{who}: loss 'lm' needs logits of shape (n, T, V) = ({n}, {y.shape[1]}, V) with V > the "
                         f"largest token ({top}), got outputs of shape {shape}")
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{who}: the model gives NaN or inf outputs on the first batch, before any training")
    if not out.requires_grad:
        raise ValueError(f"{who}: the model's outputs carry no gradient (they do not depend on its trainable "
                         f"parameters, or were computed outside torch)")
    if loss in ("bce", "ce", "lm"):
        last = _origin(out)
        if last is not None:
            what, fix = f"the outputs of {last} (probabilities)", f"remove the final {last.split()[-1]}"
        else:
            flat = out.detach().reshape(-1, shape[-1]) if loss == "lm" else out.detach().reshape(n, -1)
            probs = bool(((flat >= 0) & (flat <= 1)).all()) and bool(
                torch.allclose(flat.sum(1), torch.ones((), dtype=flat.dtype), rtol=0, atol=1e-4))
            if not probs:
                return
            what = "outputs in [0, 1] that sum to 1 for every sample (probabilities)"
            fix = "remove the final softmax"
        raise ValueError(f"{who}: loss {loss!r} takes logits, but the model gives {what}: {fix} (the loss applies "
                         f"it; trained as it is, the model can stall at chance)")
