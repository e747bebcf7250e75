"""Checkpoints of a run in training: its complete state after some update (model, optimizer state, data order and
position in the epoch, plateau, the history so far) as plain data, so a run resumes exactly as if never stopped
and many runs can branch from one (the WSD cooldowns, lrlab.lab.cooldowns).

A checkpoint is a dict of numbers, strings, lists, numpy arrays and CPU torch tensors (`save`/`load` keep it in a
file with torch.save). Taken at step s it holds the state after update s, and, when s ends an epoch, after that
epoch's history row and plateau report (the next epoch's data order is not drawn yet). A run resumed from it
(`train.execute(plan, start=...)` or `stacked.execute_stack(plans, starts=[...])`) must train the same task, with
the same optimizer and options, batch size, dtype and seed; its schedule and step budget may differ (a branch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 1
_SAME = ("task", "optimizer", "optimizer_kwargs", "batch_size", "seed", "dtype", "steps_per_epoch")
_KEYS = ("format", "config", "step", "epoch", "pos", "perm", "generator", "model", "optimizer", "plateau", "rows",
         "step_lr", "step_loss", "limit", "status")


def check_supported(config: dict[str, Any]) -> None:
    """One-line ValueError for a run whose state a checkpoint cannot hold: a schedule-free optimizer keeps its
    weights at one of two points (train or eval mode) and its state holds the other, which this format does not."""
    from .task import SCHEDULE_FREE

    if config.get("optimizer") in SCHEDULE_FREE:
        raise ValueError(f"checkpoints of runs with the schedule-free optimizer {config['optimizer']!r} are not "
                         "supported (its train/eval weights are not in this format)")


def capture(loop: Any) -> dict[str, Any]:
    """The checkpoint of a sequential trainer's loop (lrlab.lab.train's state) as it is now."""
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
        "status": loop.status,
    }


def check(state: Any, config: dict[str, Any], total_steps: int) -> dict[str, Any]:
    """`state` if a run of `config` (with `total_steps` updates) can resume from it; else a one-line ValueError."""
    check_supported(config)
    if not isinstance(state, dict) or any(k not in state for k in _KEYS):
        missing = next((k for k in _KEYS if not isinstance(state, dict) or k not in state), "")
        raise ValueError(f"start: not a checkpoint of lrlab.lab.checkpoint (no {missing!r})")
    if state["format"] != FORMAT:
        raise ValueError(f"start: checkpoint format {state['format']!r}, this lrlab reads format {FORMAT}")
    for name in _SAME:
        if state["config"].get(name) != config.get(name):
            raise ValueError(f"start: the checkpoint's {name} is {state['config'].get(name)!r} but this run's is "
                             f"{config.get(name)!r}; a run resumes only a run of the same {name}")
    if state["step"] > total_steps:
        raise ValueError(f"start: the checkpoint is at step {state['step']}, past this run's {total_steps} steps")
    if state["status"] != "ok":
        raise ValueError(f"start: the checkpoint's run has {state['status']}")
    return state


def restore(loop: Any, state: dict[str, Any]) -> None:
    """Put a checkpoint's state into a freshly set-up sequential loop (lrlab.lab.train's), its schedule kept."""
    import torch

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
    plateau = loop.sched.plateau
    if (plateau is None) != (state["plateau"] is None):
        raise ValueError("start: the checkpoint's run and this run differ in having a plateau")
    if plateau is not None:
        plateau.load_state_dict(state["plateau"])
    loop.sched.last_epoch = loop.step
    loop.sched._step_count = loop.step + 1
    loop.sched._apply()  # the rate of update step + 1 under this run's schedule (and the restored plateau)


def save(state: dict[str, Any], path: str | Path) -> Path:
    """Write a checkpoint to `path` (torch.save; a partial file never replaces a whole one)."""
    import os

    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by `save`."""
    import torch

    return torch.load(Path(path), weights_only=False)
