"""Checkpoints of a run in training: its complete state after some update (model, optimizer state, data order and
position in the epoch, plateau, the history so far) as plain data, so a run resumes exactly as if never stopped and
many runs can branch from one (the WSD cooldowns, lrlab.lab.studies.cooldowns).

A checkpoint is a dict of numbers, strings, lists, numpy arrays and CPU torch tensors. In a file (`save`/`load`,
torch.save's format) it is plain data only (numpy arrays kept as tensors), so `load` reads it with
`torch.load(weights_only=True)`: a file is data, never code, whoever wrote it (a planted pickle that would run a
command is refused in one line, the command never run); what it holds is checked (`check`, and the weights' names
and shapes against the model when a run resumes) before any of it reaches a trainer. Taken at step s it holds the
state after update s, and, when s ends an epoch, after that epoch's history row and plateau report (the next epoch's
data order is not drawn yet). A run resumed from it (`train.execute(plan, start=...)` or
`stacked.execute_stack(plans, starts=[...])`) must train the same task, with the same optimizer and options, batch
size, dtype and seed; its schedule and step budget may differ (a branch).
"""

from __future__ import annotations

import numbers
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ... import _check

FORMAT = 1
_SAME = ("task", "optimizer", "optimizer_kwargs", "batch_size", "seed", "dtype", "steps_per_epoch")
_KEYS = ("format", "config", "step", "epoch", "pos", "perm", "generator", "model", "optimizer", "plateau", "rows",
         "step_lr", "step_loss", "limit", "status")


def check_supported(config: dict[str, Any]) -> None:
    """One-line ValueError for a run whose state a checkpoint cannot hold: a schedule-free optimizer keeps its
    weights at one of two points (train or eval mode) and its state holds the other, which this format does not."""
    from ..tasks.task import SCHEDULE_FREE

    if config.get("optimizer") in SCHEDULE_FREE:
        raise ValueError(f"checkpoints of runs with the schedule-free optimizer {config['optimizer']!r} are not "
                         "supported (its train/eval weights are not in this format)")


def capture(loop: Any) -> dict[str, Any]:
    """The checkpoint of a sequential trainer's loop (lrlab.lab.engines.train's state) as it is now."""
    import torch

    def cpu(t: Any) -> Any:
        return t.detach().to("cpu", copy=True) if isinstance(t, torch.Tensor) else t

    opt_state = loop.opt.state_dict()["state"]
    plateau = loop.sched.plateau
    losses = torch.stack(loop.step_loss).double().cpu().numpy() if loop.step_loss else np.zeros(0)
    return {
        "format": FORMAT,
        "config": dict(loop.p.config),
        "step": int(loop.step),
        "epoch": int(loop.epoch),
        "pos": int(loop.pos),
        "perm": None if loop.perm is None else cpu(loop.perm),
        "generator": loop.gen.get_state(),
        "model": {name: cpu(t) for name, t in loop.model.named_parameters()},
        "optimizer": {int(i): {k: cpu(v) for k, v in s.items()} for i, s in opt_state.items()},
        "plateau": None if plateau is None else plateau.state_dict(),
        "rows": [dict(r) for r in loop.rows],
        "step_lr": np.asarray(loop.step_lr, dtype=np.float64),
        "step_loss": np.asarray(losses, dtype=np.float64),
        "limit": float(loop.limit),
        "start": {k: float(v) for k, v in loop.start.items()},
        "status": loop.status,
    }


def check(state: Any, config: dict[str, Any], total_steps: int) -> dict[str, Any]:
    """`state` if a run of `config` (with `total_steps` updates) can resume from it; else a one-line ValueError."""
    check_supported(config)
    try:
        _check_form(state)
    except ValueError as exc:
        raise ValueError(f"start: {str(exc).removeprefix('start: ')}") from None
    for name in _SAME:
        if state["config"].get(name) != config.get(name):
            raise ValueError(f"start: the checkpoint's {name} is {state['config'].get(name)!r} but this run's is "
                             f"{config.get(name)!r}; a run resumes only a run of the same {name}")
    if state["step"] > total_steps:
        raise ValueError(f"start: the checkpoint is at step {state['step']}, past this run's {total_steps} steps")
    if state["status"] != "ok":
        raise ValueError(f"start: the checkpoint's run has {state['status']}")
    return state


def _check_form(state: Any) -> None:
    """A ValueError unless `state` is a dict with every key of a checkpoint, this FORMAT and well-formed contents."""
    if not isinstance(state, dict) or any(k not in state for k in _KEYS):
        missing = next((k for k in _KEYS if not isinstance(state, dict) or k not in state), "")
        raise ValueError(f"not a checkpoint of lrlab.lab.engines.checkpoint (no {missing!r})")
    if state["format"] != FORMAT:
        raise ValueError(f"checkpoint format {_check.shown(state['format'])}, this lrlab reads format {FORMAT}")
    _check_contents(state)


def _check_contents(state: dict[str, Any]) -> None:
    """One-line ValueError unless every entry of a checkpoint has the type and form `capture` gives it (a file's
    checkpoint is anyone's data: nothing malformed may reach a trainer and fail there with a traceback)."""
    import torch

    def bad(key: str, what: str) -> ValueError:
        return ValueError(f"start: not a checkpoint of lrlab.lab.engines.checkpoint (its {key} is not {what})")

    def whole(value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0

    def tensor(value: Any, dtypes: tuple[Any, ...], ndim: int | None = None) -> bool:
        return (isinstance(value, torch.Tensor) and value.dtype in dtypes and value.device.type == "cpu"
                and (ndim is None or value.ndim == ndim))

    floats = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
    if not isinstance(state["config"], dict):
        raise bad("config", "a dict")
    for key in ("step", "epoch", "pos"):
        if not whole(state[key]):
            raise bad(key, "a whole number >= 0")
    perm = state["perm"]
    if perm is not None and not (tensor(perm, (torch.int64,), 1) and torch.equal(
            perm.sort().values, torch.arange(len(perm)))):
        raise bad("perm", "None or a permutation (a 1-D int64 tensor)")
    try:
        torch.Generator().set_state(state["generator"])
    except (RuntimeError, TypeError, ValueError):
        raise bad("generator", "a CPU generator's state") from None
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and tensor(v, floats) for k, v in model.items()):
        raise bad("model", "a dict of names to floating-point tensors")
    opt = state["optimizer"]
    if not isinstance(opt, dict) or not all(
            whole(i) and isinstance(s, dict) and all(isinstance(k, str) and (tensor(v, floats) or _check.is_real(v)
                                                                              or v is None) for k, v in s.items())
            for i, s in opt.items()):
        raise bad("optimizer", "a dict of parameter indices to states of tensors and numbers")
    if state["plateau"] is not None and not isinstance(state["plateau"], dict):
        raise bad("plateau", "None or a dict")
    rows = state["rows"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise bad("rows", "a list of dicts")
    for key in ("step_lr", "step_loss"):
        value = state[key]
        if not (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.ndim == 1):
            raise bad(key, "a 1-D float64 array")
    if len(state["step_lr"]) != state["step"] or len(state["step_loss"]) != state["step"]:
        raise bad("step_lr", f"one rate per update (step {state['step']})")
    if not _check.is_real(state["limit"]) or not isinstance(state["status"], str):
        raise bad("limit", "a number (or its status not a string)")
    start = state.get("start", {})  # the figures before training (absent from checkpoints of earlier lrlabs)
    if not isinstance(start, dict) or not all(isinstance(k, str) and _check.is_real(v) for k, v in start.items()):
        raise bad("start", "a dict of figures")


def check_shapes(state: dict[str, Any], shapes: dict[str, tuple[int, ...]], n_train: int) -> None:
    """One-line ValueError unless the checkpoint's weights, optimizer state and data order fit the model (its
    parameters' names and shapes, in order) and the training set (`n_train` samples) of the run resuming it.

    Args:
        state: a checkpoint (checked by `check`).
        shapes: the resuming model's parameter shapes by name, in its parameters' order.
        n_train: the number of training samples (a mid-epoch data order is a permutation of them).

    Examples:
        >>> import torch
        >>> from lrlab.lab.engines.checkpoint import check_shapes
        >>> state = {"model": {"w": torch.zeros(3, 2)}, "optimizer": {}, "perm": None}
        >>> check_shapes(state, {"w": (3, 2)}, 8)
        >>> check_shapes(state, {"w": (4, 2)}, 8)
        Traceback (most recent call last):
        ...
        ValueError: start: the checkpoint's weight 'w' has shape (3, 2), this run's model (4, 2)
    """
    model, names = state["model"], list(shapes)
    if set(model) != set(shapes):
        odd = sorted(set(model) ^ set(shapes))
        raise ValueError(f"start: the checkpoint's weights differ from this run's model (in {', '.join(odd[:3])}"
                         f"{', ...' if len(odd) > 3 else ''})")
    for name, shape in shapes.items():
        if tuple(model[name].shape) != tuple(shape):
            raise ValueError(f"start: the checkpoint's weight {name!r} has shape {tuple(model[name].shape)}, this "
                             f"run's model {tuple(shape)}")
    for i, entry in state["optimizer"].items():
        if i >= len(names):
            raise ValueError(f"start: the checkpoint's optimizer state has parameter {i}, this run's model "
                             f"{len(names)} parameters")
        for key, value in entry.items():
            if getattr(value, "ndim", 0) and tuple(value.shape) != tuple(shapes[names[i]]):
                raise ValueError(f"start: the checkpoint's optimizer {key} of {names[i]!r} has shape "
                                 f"{tuple(value.shape)}, the weight {tuple(shapes[names[i]])}")
    if state["perm"] is not None and len(state["perm"]) != n_train:
        raise ValueError(f"start: the checkpoint's data order has {len(state['perm'])} samples, this run's "
                         f"training set {n_train}")


def restore(loop: Any, state: dict[str, Any]) -> None:
    """Put a checkpoint's state into a freshly set-up sequential loop (lrlab.lab.engines.train's), its schedule kept."""
    import torch

    check_shapes(state, {name: tuple(t.shape) for name, t in loop.model.named_parameters()}, len(loop.p.data.train))
    device = next(loop.model.parameters()).device
    with torch.no_grad():
        own = dict(loop.model.named_parameters())
        for name, value in state["model"].items():
            own[name].copy_(value)
    groups = loop.opt.state_dict()["param_groups"]  # this run's own options and rates, the saved state (copied:
    # torch's load_state_dict keeps tensors that need no cast, and the optimizer updates its state in place)
    opt_state = {i: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
                 for i, s in state["optimizer"].items()}
    loop.opt.load_state_dict({"state": opt_state, "param_groups": groups})
    loop.gen.set_state(state["generator"])
    loop.perm = None if state["perm"] is None else state["perm"].clone()
    loop.step, loop.epoch, loop.pos = int(state["step"]), int(state["epoch"]), int(state["pos"])
    loop.rows = [dict(r) for r in state["rows"]]
    loop.step_lr = [float(v) for v in state["step_lr"]]
    dtype = next(loop.model.parameters()).dtype
    loop.step_loss = list(torch.as_tensor(np.asarray(state["step_loss"]), dtype=dtype, device=device))
    loop.epoch_first = loop.step - loop.pos
    loop.limit, loop.status = float(state["limit"]), state["status"]
    loop.start = {k: float(v) for k, v in state.get("start", {}).items()}
    plateau = loop.sched.plateau
    if (plateau is None) != (state["plateau"] is None):
        raise ValueError("start: the checkpoint's run and this run differ in having a plateau")
    if plateau is not None:
        plateau.load_state_dict(state["plateau"])
    loop.sched.last_epoch = loop.step
    loop.sched._step_count = loop.step + 1
    loop.sched._apply()  # the rate of update step + 1 under this run's schedule (and the restored plateau)


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint to `path` as plain data (torch.save; numpy arrays as tensors, numpy numbers as Python
    numbers, so `load` reads it with weights_only=True); a partial file never replaces a whole one."""
    import os

    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    torch.save(_plain(state), tmp)
    os.replace(tmp, path)
    return path


def plain(value: Any) -> Any:
    """`value` as `save` writes it (numpy arrays as tensors, numpy numbers as Python numbers): for a file that holds
    several checkpoints (lrlab.lab.studies.pbt_state), read back with `read` and each checked with `checked`."""
    return _plain(value)


def _plain(value: Any) -> Any:
    """`value` with numpy arrays as CPU tensors and numpy scalars as Python numbers (what weights_only loads)."""
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by `save`, read as data only (torch.load with weights_only=True) and checked.

    A file is never trusted: it must be a regular file (a FIFO would block), torch's restricted unpickler reads it
    (a pickle that would call a function, e.g. one planted to run a command, is refused before anything runs), and
    its contents must have a checkpoint's form (`check`'s rules).

    Args:
        path: the file.

    Raises:
        ValueError: one line naming the file: not a regular file, not a checkpoint (empty, text, a pickle of other
            objects, another format), or a checkpoint whose contents are malformed.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.engines.checkpoint import load
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     (Path(folder) / "text.pt").write_text("not a checkpoint")
        ...     load(Path(folder) / "text.pt")
        Traceback (most recent call last):
        ...
        ValueError: checkpoint '.../text.pt': not a checkpoint of lrlab.lab.engines.checkpoint (...)...
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    return checked(read(path, where), where)


def checked(state: Any, where: str) -> dict[str, Any]:
    """A checkpoint as `read` gives it (its per-step arrays as tensors) made what `capture` gives (numpy arrays)
    and checked (`check`'s rules on its form); else a one-line ValueError starting with `where`."""
    import torch

    if isinstance(state, dict):
        for key in ("step_lr", "step_loss"):  # kept as tensors in the file; numpy arrays as capture gives them
            if isinstance(state.get(key), torch.Tensor) and state[key].dtype == torch.float64:
                state[key] = state[key].numpy()
    try:
        _check_form(state)
    except ValueError as exc:
        raise ValueError(f"{where}: {str(exc).removeprefix('start: ')}") from None
    return state


def read(path: str | Path, where: str) -> Any:
    """The plain data in a file `save` wrote (torch.load with weights_only=True, on the CPU), unchecked: `load`'s
    first half, for files holding several checkpoints (lrlab.lab.studies.pbt's population). A file that is not a
    regular file or not such data is a one-line ValueError starting with `where`."""
    import torch

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ValueError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{where}: not a regular file")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the one line below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to read an untrusted file: it is not a checkpoint this lrlab wrote
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported global" in line or "WeightsUnpickler" in line),
                      lines[0] if lines else type(exc).__name__).split(" Please use ")[0][:160]
        raise ValueError(f"{where}: not a checkpoint of lrlab.lab.engines.checkpoint ({type(exc).__name__}: {reason}); "
                         "remove it, or train afresh (fresh=True, --fresh)") from None
    return state
