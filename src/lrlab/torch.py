"""PyTorch adapter: an lrlab schedule (and optionally a Plateau) as a real `torch.optim.lr_scheduler.LRScheduler`.

    sched = lrlab.torch.Scheduler(optimizer, "warmup(cosine(0.1, decay_steps=900), 100)")
    for batch in data: loss.backward(); optimizer.step(); sched.step()   # once per optimizer step
    sched.report(val_loss)                                                # once per epoch, with a plateau

Rules:
- The rate set before update number t + 1 is `schedule(t)` (`plateau.effective(schedule(t))` with a plateau);
  `report()` applies a reduction at once, so the next update already uses it.
- Several param groups: group 0 gets the schedule's value; every other group keeps its ratio to group 0's
  initial lr: `schedule(t) * group["initial_lr"] / first_group_initial_lr` (then the plateau, per group).
  With more than one group, group 0's initial lr must be > 0. The lrs the optimizer was built with only set
  these ratios: the schedule's own values replace them from the first step.
- `state_dict()` is plain data (the schedule's `to_config()`, the plateau's state, the counters), so it loads with
  `torch.load(..., weights_only=True)` (as transformers' Trainer loads it) and a resumed run continues bit for bit.
  `load_state_dict` refuses a state whose schedule or plateau settings differ from this scheduler's (ValueError);
  `Scheduler.from_state_dict(optimizer, state)` builds the saved schedule instead.
- A schedule holding a Python function that cannot be imported by name (`custom(lambda t: ...)`) has no config:
  the state records its repr, and loading requires the same object (same repr), i.e. the same process. To resume
  in a new process, pass an importable function (`custom("mypkg.mod:fn")`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from .plateau import Plateau
from .schedules import Schedule, as_schedule, from_config

_FORMAT = "lrlab.torch.Scheduler/1"


def _config(schedule: Schedule) -> dict[str, Any] | None:
    """The schedule's config, or None when it holds a function that cannot be named."""
    try:
        return schedule.to_config()
    except ValueError:
        return None


class Scheduler(LRScheduler):
    """An lrlab schedule driving a torch optimizer: `step()` per optimizer step, `report(metric)` per epoch."""

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule | str, plateau: Plateau | None = None):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"lrlab.torch.Scheduler: optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if plateau is not None and not isinstance(plateau, Plateau):
            raise ValueError(f"lrlab.torch.Scheduler: plateau must be an lrlab.Plateau or None, got {plateau!r}")
        self.schedule = as_schedule(schedule, who="lrlab.torch.Scheduler")
        self.plateau = plateau
        groups = optimizer.param_groups
        _first_initial_lr(groups, [float(g.get("initial_lr", g["lr"])) for g in groups])
        super().__init__(optimizer)

    # -- rates ------------------------------------------------------------------------------------
    def rates(self, step: int) -> list[float]:
        """The rate of each param group for update number `step + 1`, with the plateau as it is now."""
        groups = self.optimizer.param_groups
        initial = [float(g.setdefault("initial_lr", g["lr"])) for g in groups]
        first = _first_initial_lr(groups, initial)
        base = self.schedule(step)
        out = []
        for i, init in enumerate(initial):
            lr = base if i == 0 or init == first else base * init / first
            out.append(self.plateau.effective(lr) if self.plateau is not None else lr)
        return out

    def get_lr(self) -> list[float]:
        return self.rates(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self.rates(self.last_epoch)

    def _apply(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self.rates(self.last_epoch)):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    def report(self, metric: float) -> bool:
        """Feed one epoch's metric to the plateau; a reduction takes effect at once. True when it reduced."""
        if self.plateau is None:
            raise ValueError(
                "lrlab.torch.Scheduler.report: this scheduler has no plateau; pass plateau=lrlab.Plateau()"
            )
        reduced = self.plateau.step(metric)
        if reduced:
            self._apply()
        return reduced

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data only: loads with torch.load(..., weights_only=True) and json."""
        return {
            "format": _FORMAT,
            "schedule": _config(self.schedule),
            "schedule_repr": repr(self.schedule),
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "last_epoch": int(self.last_epoch),
            "step_count": int(self._step_count),
            "base_lrs": [float(x) for x in self.base_lrs],
            "last_lr": [float(x) for x in self._last_lr],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore counters and plateau; the state's schedule and plateau settings must match (ValueError)."""
        state = _check_state(state_dict)
        saved, mine = state["schedule"], _config(self.schedule)
        if saved is None or mine is None:
            if state["schedule_repr"] != repr(self.schedule):
                raise ValueError(
                    "lrlab.torch.Scheduler.load_state_dict: the checkpoint's schedule "
                    f"{state['schedule_repr']} cannot be compared with this scheduler's {self.schedule!r}: a schedule "
                    "holding an unnamed Python function resumes only with that same object; pass an importable "
                    'function (custom("pkg.mod:fn")) to resume in another process'
                )
        elif saved != mine:
            raise ValueError(
                f"lrlab.torch.Scheduler.load_state_dict: the checkpoint's schedule is {state['schedule_repr']}, "
                f"this scheduler's is {self.schedule!r}; build the scheduler with the saved schedule "
                "(Scheduler.from_state_dict) or start afresh"
            )
        if (state["plateau"] is None) != (self.plateau is None):
            has = "has a plateau" if state["plateau"] is not None else "has no plateau"
            raise ValueError(
                f"lrlab.torch.Scheduler.load_state_dict: the checkpoint {has} but this scheduler "
                f"{'has one' if self.plateau is not None else 'has none'}"
            )
        if self.plateau is not None:
            self.plateau.load_state_dict(state["plateau"])
        self.last_epoch = state["last_epoch"]
        self._step_count = state["step_count"]
        self.base_lrs = list(state["base_lrs"])
        self._apply()

    @classmethod
    def from_state_dict(cls, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> Scheduler:
        """A scheduler with the schedule and plateau saved in `state_dict` (the documented replacement)."""
        state = _check_state(state_dict)
        if state["schedule"] is None:
            raise ValueError(
                f"lrlab.torch.Scheduler.from_state_dict: the checkpoint's schedule {state['schedule_repr']} "
                "holds an unnamed Python function and cannot be rebuilt; build the scheduler with it yourself"
            )
        plateau = Plateau.from_state_dict(state["plateau"]) if state["plateau"] is not None else None
        out = cls(optimizer, from_config(state["schedule"]), plateau)
        out.load_state_dict(state)
        return out

    def __repr__(self) -> str:
        extra = f", plateau={self.plateau!r}" if self.plateau is not None else ""
        return f"lrlab.torch.Scheduler({self.schedule!r}{extra}, last_epoch={self.last_epoch})"


def _first_initial_lr(groups: list[dict[str, Any]], initial: list[float]) -> float:
    first = initial[0] if initial else 0.0
    if len(initial) > 1 and not first > 0:
        raise ValueError(
            f"lrlab.torch.Scheduler: param group 0 has initial lr {first!r}; with several param groups every group "
            "keeps its ratio to group 0's initial lr, so it must be > 0 (put a group with a nonzero lr first)"
        )
    return first


def _check_state(state: Any) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"lrlab.torch.Scheduler: not a state of this scheduler (format {got!r}, expected {_FORMAT!r})")
    for key in ("schedule", "schedule_repr", "plateau", "last_epoch", "step_count", "base_lrs"):
        if key not in state:
            raise ValueError(f"lrlab.torch.Scheduler: the state has no {key!r}")
    for key in ("last_epoch", "step_count"):
        if isinstance(state[key], bool) or not isinstance(state[key], int) or state[key] < 0:
            raise ValueError(
                f"lrlab.torch.Scheduler: the state's {key} must be a whole number >= 0, got {state[key]!r}"
            )
    return state
