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
- One schedule per param group: `Scheduler(optimizer, [s0, s1, ...])` (like LambdaLR's list form, one per group):
  group i gets `s_i(t)` (then the plateau); no ratio rule.
- `momentum=` (a schedule, spec or config; or a list, one per group) drives each group's `betas[0]` where the group
  has `betas` (Adam and friends; `betas[1]` is kept), else its `momentum` (SGD, RMSprop), set before every update
  like the rate: the value at update t + 1 is `momentum(t)`. torch's OneCycleLR(cycle_momentum=True) does the same
  with its own curve. A group with neither is refused at construction.
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

from . import _check
from .plateau import Plateau
from .rangetest import BETA, DIVERGE
from .schedules import Schedule, as_schedule, from_config

_FORMAT = "lrlab.torch.Scheduler/1"
_WHO = "lrlab.torch.Scheduler"
_KEYS = ("schedule", "schedule_repr", "plateau", "last_epoch", "step_count", "base_lrs", "last_lr")


def _config(schedule: Schedule) -> dict[str, Any] | None:
    """The schedule's config, or None when it holds a function that cannot be named."""
    try:
        return schedule.to_config()
    except ValueError:
        return None


def _schedules(value: Any, groups: int, name: str, total_steps: int | None = None) -> tuple[list[Schedule], bool]:
    """One schedule per param group, and whether they were given as a list (else one for all groups); lengths left
    out span total_steps when it is given."""

    def one(v: Any, who: str) -> Schedule:
        if total_steps is None:
            return as_schedule(v, who=who)
        return as_schedule(v, who=who, bound=False).stretch(total_steps)

    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(
                f"{_WHO}: {name} is a list of {len(value)} schedules but the optimizer has {groups} param groups; "
                "give one schedule per group, or a single schedule"
            )
        return [one(v, f"{_WHO}: {name}[{i}]") for i, v in enumerate(value)], True
    return [one(value, _WHO)], False


def _set(group: dict[str, Any], key: str, value: float) -> None:
    """group[key] = value, filling a tensor in place (as torch's schedulers do)."""
    if isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _momentum_key(group: dict[str, Any], index: int, optimizer: torch.optim.Optimizer) -> str:
    """'betas' (its first entry is driven) or 'momentum'; ValueError naming the group when it has neither."""
    if "betas" in group:
        return "betas"
    if "momentum" in group:
        return "momentum"
    raise ValueError(
        f"{_WHO}: momentum: param group {index} has neither 'momentum' nor 'betas' "
        f"({type(optimizer).__name__} takes no momentum); drop momentum= or use an optimizer that has one"
    )


class Scheduler(LRScheduler):
    """An lrlab schedule driving a torch optimizer: `step()` per optimizer step, `report(metric)` per epoch.

    A real `torch.optim.lr_scheduler.LRScheduler`, so it works wherever torch's schedulers do (a training loop,
    transformers' Trainer, ChainedScheduler). Time is counted in optimizer steps: the rate set before update
    t + 1 is `schedule(t)` (times the plateau's reduction when there is one), and `step()` moves t on by one.
    The constructor sets the rate (and momentum) of the first update. See the module docstring for several
    param groups, momentum and checkpoints (`state_dict` is plain data; `Scheduler.from_state_dict(optimizer,
    state)` rebuilds the saved schedule; a state with another schedule or plateau is refused by
    `load_state_dict`).

    Args:
        optimizer: the torch optimizer whose param groups' "lr" (and momentum) it sets.
        schedule: an lrlab Schedule, a spec string ("cosine(0.1, decay_steps=1000)"), a config dict, or a list
            of those, one per param group. A single schedule gives group 0 its value and every other group its
            ratio of group 0's initial lr.
        plateau: an `lrlab.Plateau` fed by `report(metric)` once per epoch, or None. A plateau fed elsewhere
            (`plateau.step(metric)`, as lrlab.lab's `run.report` does) takes effect before the next update.
        momentum: a schedule (spec, config, or a list, one per group) for each group's momentum, or its
            `betas[0]` for Adam-like optimizers; None leaves momentum alone. The value at update t + 1 is
            `momentum(t)`.
        total_steps: the run's length in optimizer steps, where the framework knows it (Lightning's
            `trainer.estimated_stepping_batches`, the Trainer's `max_steps`): lengths the specs leave out
            ("cosine(0.1)") span it, as `.stretch(total_steps)`; lengths they set stay.

    Raises:
        ValueError: not an optimizer or a Plateau, a bad schedule, a list of the wrong length, a group with no
            momentum while momentum= is given, or group 0 with initial lr 0 among several groups.

    Reference:
        Rates equal torch's StepLR and OneCycleLR (to 1e-12 relative) for step_decay and one_cycle
        (tests/test_torch_adapter.py, test_same_rates_as_torch_own_schedulers); with a plateau on a constant
        schedule, training equals ReduceLROnPlateau's exactly
        (test_plateau_on_constant_schedule_trains_exactly_like_reduce_lr_on_plateau); momentum= equals
        OneCycleLR(cycle_momentum=True) (test_momentum_equals_one_cycle_lr_cycle_momentum).

    Examples:
        >>> import torch
        >>> from lrlab.torch import Scheduler
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([w], lr=1.0)         # the schedule replaces this lr
        >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
        >>> opt.param_groups[0]["lr"]                   # the rate of update 1: schedule(0)
        0.1
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> sched.get_last_lr()                         # the rate of update 3: schedule(2)
        [0.05]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule | str | list[Any],
        plateau: Plateau | None = None,
        *,
        momentum: Schedule | str | list[Any] | None = None,
        total_steps: int | None = None,
    ):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"{_WHO}: optimizer must be a torch.optim.Optimizer, got {_check.shown(optimizer)}")
        if plateau is not None and not isinstance(plateau, Plateau):
            raise ValueError(f"{_WHO}: plateau must be an lrlab.Plateau or None, got {_check.shown(plateau)}")
        groups = optimizer.param_groups
        if total_steps is not None:  # lengths the spec left out span the run, as .stretch(total_steps)
            total_steps = _check.steps(_WHO, "total_steps", total_steps)
        self._lr, self._lr_listed = _schedules(schedule, len(groups), "schedule", total_steps)
        self.schedule: Schedule | list[Schedule] = self._lr if self._lr_listed else self._lr[0]
        self.plateau = plateau
        self._momentum: list[Schedule] = []
        self._momentum_listed = False
        self.momentum: Schedule | list[Schedule] | None = None
        if momentum is not None:
            self._momentum, self._momentum_listed = _schedules(momentum, len(groups), "momentum", total_steps)
            self.momentum = self._momentum if self._momentum_listed else self._momentum[0]
            for i, group in enumerate(groups):
                _momentum_key(group, i, optimizer)
        self._last_momentum: list[float] = []
        if not self._lr_listed:
            _first_initial_lr(groups, [float(g.get("initial_lr", g["lr"])) for g in groups])
        self._scale = 1.0  # the plateau's scale in the rates last set
        super().__init__(optimizer)
        if plateau is not None:  # a plateau fed elsewhere (lrlab.lab's run.report): its reduction, before the update
            optimizer.register_step_pre_hook(self._follow_plateau)

    def _follow_plateau(self, *_: Any) -> None:
        if self.plateau is not None and self.plateau.scale != self._scale:
            self._apply()

    # -- rates ------------------------------------------------------------------------------------
    def rates(self, step: int) -> list[float]:
        """The rate of each param group for update number `step + 1`, with the plateau as it is now.

        What `step()` would set at that point, without changing anything: useful to inspect or plot the rates
        ahead (the plateau's future reductions are unknown, so its current scale is used).

        Args:
            step: the optimizer step t (0-based; an integer >= 0); the rate is the one of update t + 1.

        Returns:
            One rate per param group.

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> w, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
            >>> opt = torch.optim.SGD([{"params": [w], "lr": 1.0}, {"params": [b], "lr": 0.5}])
            >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
            >>> sched.rates(2)                  # group 1 keeps its ratio 0.5 to group 0
            [0.05, 0.025]
        """
        groups = self.optimizer.param_groups
        if self._lr_listed:
            lrs = [s(step) for s in self._lr]
        else:
            initial = [float(g.setdefault("initial_lr", g["lr"])) for g in groups]
            first = _first_initial_lr(groups, initial)
            base = self._lr[0](step)
            lrs = [base if i == 0 or init == first else base * init / first for i, init in enumerate(initial)]
        if self.plateau is None:
            return lrs
        return [self.plateau.effective(lr) for lr in lrs]

    def momenta(self, step: int) -> list[float]:
        """The momentum (or beta1) of each param group for update number `step + 1` ([] without momentum=).

        What `step()` would set as momentum (SGD, RMSprop) or `betas[0]` (Adam and friends) at that point.

        Args:
            step: the optimizer step t (0-based; an integer >= 0).

        Returns:
            One value per param group, or [] when the scheduler has no momentum schedule.

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
            >>> sched = Scheduler(opt, "constant(0.1)", momentum="linear(0.85, 0.95, steps=4)")
            >>> [round(m, 6) for m in sched.momenta(2)], opt.param_groups[0]["momentum"]
            ([0.9], 0.85)
        """
        if not self._momentum_listed:
            return [self._momentum[0](step)] * len(self.optimizer.param_groups) if self._momentum else []
        return [s(step) for s in self._momentum]

    def get_lr(self) -> list[float]:
        """torch's hook: the rates for the current `last_epoch` (`rates(last_epoch)`); use `get_last_lr()`."""
        return self.rates(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self.rates(self.last_epoch)

    def step(self, epoch: int | None = None) -> None:
        """torch's step (the rates), then the momenta for the same update.

        Call it once per optimizer step, after `optimizer.step()`: it moves t on by one and sets the rate (and
        momentum) of the next update, `schedule(t)`.

        Args:
            epoch: torch's deprecated explicit step number; leave it None.

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
            >>> opt.step()
            >>> sched.step()
            >>> sched.last_epoch, round(opt.param_groups[0]["lr"], 6)
            (1, 0.075)
        """
        super().step(epoch)
        if self.plateau is not None:
            self._scale = self.plateau.scale
        self._apply_momenta()

    def _apply_momenta(self) -> None:
        if not self._momentum:
            return
        groups = self.optimizer.param_groups
        for i, (group, m) in enumerate(zip(groups, self.momenta(self.last_epoch))):
            if _momentum_key(group, i, self.optimizer) == "betas":
                betas = group["betas"]
                if isinstance(betas[0], torch.Tensor):
                    betas[0].fill_(m)
                else:
                    group["betas"] = (m, *betas[1:])
            else:
                _set(group, "momentum", m)
        self._last_momentum = self.momenta(self.last_epoch)

    def get_last_momentum(self) -> list[float]:
        """The momentum (or beta1) last set in each param group ([] without momentum=).

        The momentum counterpart of torch's `get_last_lr()`: the values the next update uses.

        Returns:
            One value per param group, or [] when the scheduler has no momentum schedule.

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "constant(0.1)", momentum="linear(0.85, 0.95, steps=4)")
            >>> opt.step()
            >>> sched.step()
            >>> [round(m, 6) for m in sched.get_last_momentum()], round(opt.param_groups[0]["betas"][0], 6)
            ([0.875], 0.875)
        """
        return list(self._last_momentum)

    def _apply(self) -> None:
        if self.plateau is not None:
            self._scale = self.plateau.scale
        for group, lr in zip(self.optimizer.param_groups, self.rates(self.last_epoch)):
            _set(group, "lr", lr)
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
        self._apply_momenta()

    def report(self, metric: float) -> bool:
        """Feed one epoch's metric to the plateau; a reduction takes effect at once. True when it reduced.

        Call it once per epoch, after validation (as torch's `ReduceLROnPlateau.step(metric)`); the next update
        already runs at the reduced rate. It does not advance the schedule: `step()` still does that per
        optimizer step.

        Args:
            metric: the epoch's monitored value (a number or a 0-d tensor), e.g. the validation loss.

        Returns:
            True when the plateau reduced the rate.

        Raises:
            ValueError: the scheduler has no plateau, or the metric is NaN or not a number.

        Examples:
            >>> import torch
            >>> from lrlab import Plateau
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "constant(0.1)", Plateau(factor=0.5, patience=0))
            >>> sched.report(1.0), sched.report(1.0), sched.get_last_lr()
            (False, True, [0.05])
        """
        if self.plateau is None:
            raise ValueError(f"{_WHO}.report: this scheduler has no plateau; pass plateau=lrlab.Plateau()")
        reduced = self.plateau.step(metric)
        if reduced:
            self._apply()
        return reduced

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data only: loads with torch.load(..., weights_only=True) and json.

        Holds the schedule's config and repr (and the momentum's), the plateau's `state_dict()`, the counters
        (last_epoch, step_count) and the last rates; save it with the optimizer's state in a checkpoint.

        Returns:
            A dict of plain numbers, strings, lists and dicts, with "format": "lrlab.torch.Scheduler/1".

        Examples:
            >>> import json, torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
            >>> state = sched.state_dict()
            >>> state["schedule"], state["last_epoch"], json.loads(json.dumps(state)) == state
            ({'kind': 'linear', 'start_lr': 0.1, 'end_lr': 0.0, 'steps': 4}, 0, True)
        """
        return {
            "format": _FORMAT,
            "schedule": _saved(self._lr, self._lr_listed, _config),
            "schedule_repr": _saved(self._lr, self._lr_listed, repr),
            "momentum": _saved(self._momentum, self._momentum_listed, _config) if self._momentum else None,
            "momentum_repr": _saved(self._momentum, self._momentum_listed, repr) if self._momentum else None,
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "last_epoch": int(self.last_epoch),
            "step_count": int(self._step_count),
            "base_lrs": [float(x) for x in self.base_lrs],
            "last_lr": [float(x) for x in self._last_lr],
            "last_momentum": [float(x) for x in self._last_momentum],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore counters and plateau; the state's schedules and plateau settings must match (ValueError).

        Every field is checked first (ValueError naming the key); nothing changes unless all are valid.
        The optimizer's rates are set for the next update at once, so a resumed run continues bit for bit.

        Args:
            state_dict: a dict from `state_dict()`.

        Raises:
            ValueError: not such a state, a bad field, or another schedule, momentum or plateau than this
                scheduler's (build it with `Scheduler.from_state_dict` instead).

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
            >>> opt.step()
            >>> sched.step()
            >>> opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> resumed = Scheduler(opt2, "linear(0.1, 0.0, steps=4)")
            >>> resumed.load_state_dict(sched.state_dict())
            >>> resumed.last_epoch, round(opt2.param_groups[0]["lr"], 6)
            (1, 0.075)
            >>> Scheduler(opt2, "constant(0.1)").load_state_dict(sched.state_dict())
            Traceback (most recent call last):
            ...
            ValueError: lrlab.torch.Scheduler.load_state_dict: the checkpoint's schedule is linear(0.1, steps=4), ...
        """
        state = _check_state(state_dict)
        groups = len(self.optimizer.param_groups)
        for key in ("base_lrs", "last_lr"):
            if len(state[key]) != groups:
                raise _check.fail(_WHO, f"the state's {key}", f"a list of {groups} rates (one per param group)",
                                  state_dict[key])
        _same_schedules("schedule", state, self._lr, self._lr_listed)
        if state["momentum"] is None and state["momentum_repr"] is None:
            if self._momentum:
                raise ValueError(f"{_WHO}.load_state_dict: the checkpoint has no momentum schedule but this "
                                 f"scheduler has one ({self.momentum!r})")
        elif not self._momentum:
            raise ValueError(f"{_WHO}.load_state_dict: the checkpoint has a momentum schedule "
                             f"({_check.shown(state['momentum_repr'])}) but this scheduler has none")
        else:
            _same_schedules("momentum", state, self._momentum, self._momentum_listed)
        if (state["plateau"] is None) != (self.plateau is None):
            has = "has a plateau" if state["plateau"] is not None else "has no plateau"
            raise ValueError(
                f"{_WHO}.load_state_dict: the checkpoint {has} but this scheduler "
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
        """A scheduler with the schedules and plateau saved in `state_dict` (the documented replacement).

        Resumes from a checkpoint without writing the schedule again: the schedule, momentum and plateau are
        rebuilt from their saved configs, then the counters loaded.

        Args:
            optimizer: the optimizer to drive (with the same param groups as when saved).
            state_dict: a dict from `state_dict()`.

        Returns:
            A new Scheduler in the saved state.

        Raises:
            ValueError: not such a state, or a schedule holding an unnamed Python function (it has no config).

        Examples:
            >>> import torch
            >>> from lrlab.torch import Scheduler
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            >>> sched = Scheduler(opt, "linear(0.1, 0.0, steps=4)")
            >>> opt.step()
            >>> sched.step()
            >>> Scheduler.from_state_dict(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]), sched.state_dict())
            lrlab.torch.Scheduler(linear(0.1, steps=4), last_epoch=1)
        """
        state = _check_state(state_dict)
        schedule = _rebuilt("schedule", state)
        momentum = _rebuilt("momentum", state) if state["momentum_repr"] is not None else None
        plateau = Plateau.from_state_dict(state["plateau"]) if state["plateau"] is not None else None
        out = cls(optimizer, schedule, plateau, momentum=momentum)
        out.load_state_dict(state)
        return out

    def __repr__(self) -> str:
        extra = f", plateau={self.plateau!r}" if self.plateau is not None else ""
        extra += f", momentum={self.momentum!r}" if self.momentum is not None else ""
        return f"{_WHO}({self.schedule!r}{extra}, last_epoch={self.last_epoch})"


def _first_initial_lr(groups: list[dict[str, Any]], initial: list[float]) -> float:
    first = initial[0] if initial else 0.0
    if len(initial) > 1 and not first > 0:
        raise ValueError(
            f"{_WHO}: param group 0 has initial lr {first!r}; with several param groups every group "
            "keeps its ratio to group 0's initial lr, so it must be > 0 (put a group with a nonzero lr first, "
            "or give one schedule per group as a list)"
        )
    return first


def _saved(schedules: list[Schedule], listed: bool, fn: Any) -> Any:
    """fn of the schedule, or a list of fn of each when they were given as a list."""
    return [fn(s) for s in schedules] if listed else fn(schedules[0])


def _same_schedules(key: str, state: dict[str, Any], mine: list[Schedule], listed: bool) -> None:
    """ValueError unless the state's schedules (under `key`) are this scheduler's."""
    saved, saved_repr = state[key], state[f"{key}_repr"]
    if isinstance(saved_repr, list) != listed or (listed and len(saved_repr) != len(mine)):
        raise ValueError(
            f"{_WHO}.load_state_dict: the checkpoint's {key} is {_check.shown(saved_repr)}, this scheduler's is "
            f"{_saved(mine, listed, repr)}; build the scheduler with the saved schedules "
            "(Scheduler.from_state_dict) or start afresh"
        )
    pairs = zip(saved, saved_repr, mine) if listed else [(saved, saved_repr, mine[0])]
    for config, text, schedule in pairs:
        own = _config(schedule)
        if config is None or own is None:
            if text != repr(schedule):
                raise ValueError(
                    f"{_WHO}.load_state_dict: the checkpoint's {key} {text} cannot be compared with this "
                    f"scheduler's {schedule!r}: a schedule holding an unnamed Python function resumes only with "
                    'that same object; pass an importable function (custom("pkg.mod:fn")) to resume in another '
                    "process"
                )
        elif config != own:
            raise ValueError(
                f"{_WHO}.load_state_dict: the checkpoint's {key} is {text}, this scheduler's is {schedule!r}; "
                "build the scheduler with the saved schedule (Scheduler.from_state_dict) or start afresh"
            )


def _rebuilt(key: str, state: dict[str, Any]) -> Schedule | list[Schedule]:
    """The schedule(s) saved under `key`, rebuilt from their configs."""
    configs, texts = state[key], state[f"{key}_repr"]
    listed = isinstance(texts, list)
    out = []
    for config, text in zip(configs, texts) if listed else [(configs, texts)]:
        if config is None:
            raise ValueError(
                f"{_WHO}.from_state_dict: the checkpoint's {key} {text} holds an unnamed Python function and "
                "cannot be rebuilt; build the scheduler with it yourself"
            )
        try:
            out.append(from_config(config))
        except (ValueError, TypeError) as exc:  # TypeError: from_config on an unhashable "kind" (see notes)
            raise ValueError(
                f"{_WHO}.from_state_dict: the state's {key} is not a schedule config: {exc}"
            ) from None
    return out if listed else out[0]


def _check_schedule_field(state: dict[str, Any], key: str, *, optional: bool) -> None:
    """`key` holds a config dict (or None) and `key_repr` its repr string, or both are lists of those."""
    configs, texts = state.get(key), state.get(f"{key}_repr")
    if optional and configs is None and texts is None:
        return
    what = "a schedule config (a dict, or None for an unnamed function) or a list of them"
    if isinstance(texts, list):
        if not isinstance(configs, list) or len(configs) != len(texts) or not texts:
            raise _check.fail(_WHO, f"the state's {key}", f"a list of {len(texts)} configs (as {key}_repr)", configs)
        if not all(c is None or isinstance(c, dict) for c in configs):
            raise _check.fail(_WHO, f"the state's {key}", what, configs)
        if not all(isinstance(t, str) for t in texts):
            raise _check.fail(_WHO, f"the state's {key}_repr", "a list of strings", texts)
        return
    if not isinstance(texts, str):
        raise _check.fail(_WHO, f"the state's {key}_repr", "a string or a list of strings", texts)
    if configs is not None and not isinstance(configs, dict):
        raise _check.fail(_WHO, f"the state's {key}", what, configs)


def _check_state(state: Any) -> dict[str, Any]:
    """The state, with every field checked (ValueError naming the key); momentum fields default to None."""
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{_WHO}: not a state of this scheduler (format {_check.shown(got)}, expected {_FORMAT!r})")
    for key in _KEYS:
        if key not in state:
            raise ValueError(f"{_WHO}: the state has no {key!r}")
    out = {"momentum": None, "momentum_repr": None, "last_momentum": [], **state}
    _check_schedule_field(out, "schedule", optional=False)
    _check_schedule_field(out, "momentum", optional=True)
    if out["plateau"] is not None and not isinstance(out["plateau"], dict):
        raise _check.fail(_WHO, "the state's plateau", "a Plateau state (a dict) or None", out["plateau"])
    out["last_epoch"] = _check.whole(_WHO, "the state's last_epoch", out["last_epoch"], 0, _check.MAX_STEPS)
    out["step_count"] = _check.whole(_WHO, "the state's step_count", out["step_count"], 0, _check.MAX_STEPS + 1)
    for key in ("base_lrs", "last_lr", "last_momentum"):
        out[key] = _check.rates(_WHO, f"the state's {key}", out[key])
    return out


# -- the range test -----------------------------------------------------------------------------
class _Snapshot:
    """Everything a range test touches, copied so it can be put back exactly: parameters and buffers (values and
    the tensor objects themselves), gradients, train/eval mode of every module, the optimizer's param groups and
    state (step counters, moments, rates), and the RNG states of torch (CPU, and CUDA when it is initialised),
    numpy and random, plus the loader's own torch.Generator (and its sampler's) when it has one."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: Any) -> None:
        import copy
        import random

        import numpy as np

        self.model, self.optimizer = model, optimizer
        self.tensors: list[tuple[dict[str, Any], str, Any, torch.Tensor]] = []
        self.grads: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        for module in model.modules():
            for table in (module._parameters, module._buffers):
                for name, t in table.items():
                    if t is not None:
                        self.tensors.append((table, name, t, t.detach().clone()))
        for p in model.parameters():
            self.grads.append((p, None if p.grad is None else p.grad.detach().clone()))
        self.modes = [(m, m.training) for m in model.modules()]
        self.groups = [(g, {k: (v, copy.deepcopy(v)) for k, v in g.items() if k != "params"})
                       for g in optimizer.param_groups]
        self.state = {p: (s, {k: (v, copy.deepcopy(v)) for k, v in s.items()}) for p, s in optimizer.state.items()}
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.np_rng = np.random.get_state()
        self.py_rng = random.getstate()
        self.generators = [g for g in (getattr(loader, "generator", None),
                                       getattr(getattr(loader, "sampler", None), "generator", None))
                           if isinstance(g, torch.Generator)]
        self.generator_states = [g.get_state() for g in self.generators]

    @staticmethod
    def _put(original: Any, saved: Any) -> Any:
        """The saved value, written into the original tensor (same object) where it was one."""
        if isinstance(original, torch.Tensor) and isinstance(saved, torch.Tensor) and original.shape == saved.shape:
            with torch.no_grad():
                original.copy_(saved)
            return original
        return saved

    def restore(self) -> None:
        import random

        import numpy as np

        with torch.no_grad():
            for table, name, original, saved in self.tensors:
                original.copy_(saved)
                table[name] = original
        for p, grad in self.grads:
            if grad is None:
                p.grad = None
            elif p.grad is not None and p.grad.shape == grad.shape:
                p.grad.copy_(grad)
            else:
                p.grad = grad
        for module, training in self.modes:
            module.training = training
        for group, saved in self.groups:
            params = group["params"]
            group.clear()
            group["params"] = params
            group.update({k: self._put(original, value) for k, (original, value) in saved.items()})
        state = self.optimizer.state
        state.clear()
        for p, (table, saved) in self.state.items():
            table.clear()
            table.update({k: self._put(original, value) for k, (original, value) in saved.items()})
            state[p] = table
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        np.random.set_state(self.np_rng)
        random.setstate(self.py_rng)
        for g, s in zip(self.generators, self.generator_states):
            g.set_state(s)


def _step_fits(optimizer: torch.optim.Optimizer) -> bool:
    """optimizer.step(); False when the rate (or what the optimizer derives from it, e.g. Adam's lr / (1 - beta1),
    schedule-free's lr ** 2) is past what the parameters' float type holds: torch then refuses the step ("value
    cannot be converted to type float without overflow") or Python's float arithmetic overflows. Such a step is a
    divergence, which the range test and the lab's trainer record as one, not a traceback."""
    try:
        optimizer.step()
    except OverflowError:
        return False
    except RuntimeError as exc:
        if "overflow" not in str(exc):
            raise
        return False
    return True


def _scalar_loss(loss: Any) -> Any:
    """The loss_fn's result when it is one number (a tensor of one element), else find_lr's one-line ValueError."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else _check.shown(loss)
        raise ValueError(f"find_lr: loss_fn must return the loss as one number (a tensor of one element, e.g. a "
                         f"mean), got {got}")
    return loss


def _batches_forever(loader: Any) -> Any:
    """The loader's batches, starting it again when it ends; ValueError when a pass yields nothing."""
    seen = 0
    while True:
        before = seen
        for batch in loader:
            seen += 1
            yield batch
        if seen == before:
            if seen == 0:
                raise ValueError("find_lr: loader yielded no batches; give it at least one (inputs, targets) batch")
            raise ValueError(
                f"find_lr: loader ran out after {seen} batches and yields nothing when started again (an iterator, "
                "not a re-iterable loader); pass a DataLoader or a list of batches, or fewer steps"
            )


def find_lr(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Any,
    loader: Any,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = BETA,
    diverge: float | None = DIVERGE,
    restore: bool = True,
    seed: int | None = None,
) -> Any:
    """The learning-rate range test on your own model: an `lrlab.rangetest.RangeTest` (rates, losses, smoothed
    losses, every rule's suggestion, `plot()`, `to_frame()`).

    Update t + 1 runs at `lrlab.rangetest.sweep(start_lr, end_lr, steps, mode)(t)` (exponential or linear, an lrlab
    schedule) on the next batch of `loader` (any iterable of (inputs, targets); started again when it ends):
    `loss_fn(model(inputs), targets)`, backward, `optimizer.step()`. The loss is smoothed (bias-corrected, beta)
    and the test stops after the update whose smoothed loss exceeds `diverge` times its best or is not finite (or
    whose rate is past what the parameters' float type holds: stopped "not finite").
    Several param groups keep their ratio to group 0's rate (as `Scheduler`); the suggestions are group 0's.

    restore=True (the default) puts everything back afterwards, exactly: weights, buffers, gradients, train/eval
    modes, the optimizer's groups and state, and the RNG states of torch, numpy and random (and the loader's own
    generator), so training after `find_lr` equals training without it, bit for bit. The model is in train mode
    during the test.

    Args:
        model: the torch module to train.
        optimizer: its optimizer (any torch optimizer; its rates are overwritten during the test).
        loss_fn: `loss_fn(model(inputs), targets)` gives a scalar loss tensor.
        loader: an iterable of (inputs, targets) batches (a DataLoader, a list), restarted when it ends.
        start_lr: the rate of the first update (> 0).
        end_lr: the rate of the last planned update (> start_lr).
        steps: the number of updates (optimizer steps) planned, an integer >= 2.
        mode: "exp" or "linear" rise.
        beta: the smoothing of the loss, in [0, 1).
        diverge: stop after the smoothed loss exceeds this many times its best (> 1), or None (only on a loss
            that is not finite).
        restore: put the model, optimizer, RNGs and loader generator back afterwards (True) or leave them as the
            test left them (False).
        seed: a label stored in the result (it seeds nothing; seed the model and loader yourself).

    Returns:
        An `lrlab.rangetest.RangeTest` (wrap several in `FindResult` for a spread over seeds).

    Raises:
        ValueError: a bad setting, model, optimizer or loss_fn (one whose result is not one number), a loader
            that yields no batches, or a loss that was never finite (`RangeTest.from_tracker`).

    Reference:
        The raw curve equals torch-lr-finder's `LRFinder.range_test` update by update (rates and losses
        exactly), and the gradient rule its `plot(suggest_lr=True)` suggestion (tests/test_torch_find_lr.py,
        test_raw_curve_equals_torch_lr_finders, test_gradient_rule_equals_torch_lr_finders_suggestion).

    Examples:
        >>> import torch
        >>> from lrlab.torch import find_lr
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(1, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.linspace(-1, 1, 8).unsqueeze(1)
        >>> before = model.weight.item()
        >>> rt = find_lr(model, opt, torch.nn.functional.mse_loss, [(x, 3 * x)], start_lr=1e-3, end_lr=10.0,
        ...              steps=20)
        >>> len(rt.lrs), rt.stopped, round(rt.suggestions["valley"], 6)
        (20, None, 0.029764)
        >>> model.weight.item() == before, opt.param_groups[0]["lr"]    # restored
        (True, 0.1)
    """
    from .rangetest import RangeTest, Settings, Tracker

    settings = Settings(start_lr, end_lr, steps, mode, beta, diverge)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"find_lr: model must be a torch.nn.Module, got {_check.shown(model)}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"find_lr: optimizer must be a torch.optim.Optimizer, got {_check.shown(optimizer)}")
    if not callable(loss_fn):
        raise ValueError(f"find_lr: loss_fn must be callable, got {_check.shown(loss_fn)}")
    schedule = settings.schedule
    groups = optimizer.param_groups
    first = float(groups[0]["lr"])
    ratios = [float(g["lr"]) / first if first > 0 else 1.0 for g in groups]
    snapshot = _Snapshot(model, optimizer, loader) if restore else None
    tracker = Tracker(settings.beta, settings.diverge)
    lrs: list[float] = []
    try:
        model.train()
        batches = _batches_forever(loader)
        for t in range(settings.steps):
            x, y = next(batches)
            lr = schedule(t)
            for group, ratio in zip(groups, ratios):
                _set(group, "lr", lr * ratio if ratio != 1.0 else lr)
            optimizer.zero_grad(set_to_none=True)
            loss = _scalar_loss(loss_fn(model(x), y))
            loss.backward()
            fits = _step_fits(optimizer)
            lrs.append(lr)
            if tracker.add(loss.item()) or not fits:
                tracker.stopped = tracker.stopped or "not finite"
                break
    finally:
        if snapshot is not None:
            snapshot.restore()
    return RangeTest.from_tracker(lrs, tracker, settings, seed=seed)
