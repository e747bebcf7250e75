"""Pruning fair to late decays (tune's pruner "fair", the default): each rung judges a trial by what it reaches
when its rate is brought down now, not by its metric at the rung.

Successive halving (Optuna's SuccessiveHalvingPruner, the rungs of "asha": epochs E/4, 3E/4, ...) compares trials
at equal epochs. A schedule that keeps a high rate until a late decay (wsd, a step decay near the end, a long
cosine) has a poor metric at the rung, and is pruned before the decay that makes it good. With "fair" every live
trial is checkpointed at the end of the epoch before each rung epoch r (lrlab.lab.engines.checkpoint); a short
cooldown branches from that state (its schedule up to step S = (r - 1) x steps per epoch, then linear from its rate
at S to its final rate over `cooldown_epochs(E)` epochs, a tenth of the budget; a plateau keeps acting on it) and
the objective at the cooldown's end is what the trial reports to the pruner at step r. A constant schedule's
cooldown is more of the same rate, so every trial is judged after the same number of extra epochs. The branches of
one rung train as one stack while the trials train their epoch r (the trials go on unchanged: a branch never
touches its trial's state), and the verdict comes at the end of epoch r, as ASHA's does: a pruned trial stops at its
rung. Branching one epoch before the rung, not at it, is what lets the verdict come there: the engine takes an
epoch's checkpoint after it has asked whether to stop.

Cost: every trial alive at a rung trains `cooldown_epochs(E)` more epochs (at E=20, 2 epochs at the rung of epoch 5
for all, and at epoch 15 for the third promoted). A user's training function cannot be branched, nor a run of a
schedule-free optimizer (a checkpoint cannot hold its state): "fair" is "asha" there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

REDUCTION = 3
"""Successive halving's reduction factor: a third of the trials at a rung go on to the next."""
COOLDOWN = 0.1
"""The share of the budget a rung's cooldown takes (at least one epoch)."""


def min_resource(epochs: int) -> int:
    """The first rung's epoch: a quarter of the budget (at least 1).

    Later than Optuna's default (epoch 1): a rung at a quarter already lets most schedules find their footing.

    Args:
        epochs: the trials' budget in epochs.

    Examples:
        >>> from lrlab.lab.studies.rungs import min_resource
        >>> min_resource(20), min_resource(3)
        (5, 1)
    """
    return max(1, int(epochs) // 4)


def rung_epochs(epochs: int) -> list[int]:
    """The epochs of successive halving's rungs within a budget of `epochs` (before its last epoch).

    The first at `min_resource(epochs)`, each next REDUCTION times later; a rung at the last epoch would judge
    nothing, so none is placed there.

    Args:
        epochs: the trials' budget in epochs.

    Examples:
        >>> from lrlab.lab.studies.rungs import rung_epochs
        >>> rung_epochs(20), rung_epochs(50), rung_epochs(2)
        ([5, 15], [12, 36], [1])
    """
    first = min_resource(epochs)
    out, rung = [], first
    while rung < epochs:
        out.append(rung)
        rung *= REDUCTION
    return out


def cooldown_epochs(epochs: int) -> int:
    """The epochs of a rung's cooldown: COOLDOWN of the budget, at least 1.

    Short enough to cost little (every live trial trains it at every rung), long enough to bring the rate down as
    a cooldown does (a tenth to a fifth of the budget in the WSD literature, lrlab.lab.studies.cooldowns).

    Args:
        epochs: the trials' budget in epochs.

    Examples:
        >>> from lrlab.lab.studies.rungs import cooldown_epochs
        >>> cooldown_epochs(20), cooldown_epochs(5)
        (2, 1)
    """
    return max(1, round(COOLDOWN * int(epochs)))


def branchable(p: Any) -> bool:
    """Whether a cooldown can branch from plan p's runs: its checkpoints hold its whole state.

    Not so for a schedule-free optimizer (lrlab.lab.engines.checkpoint.check_supported); its trials are judged at
    equal epochs ("fair" is "asha" there).

    Args:
        p: a trial's Plan.

    Examples:
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.plan import plan
        >>> from lrlab.lab.studies.rungs import branchable
        >>> free = RunOptions(optimizer="sgd_sf")
        >>> branchable(plan("or3", "constant(0.1)")), branchable(plan("or3", "constant(0.1)", free))
        (True, False)
    """
    from ..engines.checkpoint import check_supported

    try:
        check_supported(p.config)
    except ValueError:
        return False
    return True


def cooldown_plan(p: Any, at_step: int, steps: int) -> Any:
    """The branch of plan `p` from its state after update `at_step`: p's schedule until there, then `steps` updates
    whose rates fall linearly from its rate at `at_step` to its final rate (its rate at its last update), the last
    update at the final rate; a budget of at_step + steps updates, the rest of p's options (plateau, seed,
    optimizer) unchanged.

    Args:
        p: the trial's Plan (lrlab.lab.plan).
        at_step: where the branch leaves the trial (a checkpoint's step).
        steps: the cooldown's length in updates (>= 1).

    Examples:
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.plan import plan
        >>> from lrlab.lab.studies.rungs import cooldown_plan
        >>> p = plan("or3", "wsd(0.5, decay_steps=2)", RunOptions(epochs=10))  # 10 updates, the last at 0.25
        >>> b = cooldown_plan(p, 4, 3)
        >>> [round(b.schedule(t), 4) for t in range(3, 8)], b.options.total_steps(8)
        ([0.5, 0.4167, 0.3333, 0.25, 0.25], 7)
    """
    from ...schedules import constant, join, linear
    from ..plan import plan

    sched = p.schedule
    total = p.options.total_steps(len(p.data.train))
    start, end = float(sched(at_step)), float(sched(total - 1))
    tail = constant(end) if steps == 1 else linear(start + (end - start) / steps, end, steps - 1)
    branch = join([sched, tail], [at_step])
    options = p.options.replace(epochs=None, steps=at_step + steps)
    return plan(p.task, branch, options, data=p.data, dtype=p.config.get("dtype"),
                label=f"{p.config.get('label', repr(sched))} cooled at step {at_step}")


class FairRungs:
    """The rungs of one batch of trials (plans[i] is trials[i]'s run): `save_at` for the engine, and its `on_save`
    and `on_epoch` callbacks (module docstring).

    tune's worker builds one per batch and hands `save_at`, `on_save` and `on_epoch` to the stacked engine (or to the
    sequential trainer, member by member); the trials' runs are not changed by it, only stopped where pruned.

    Args:
        plans: the trials' plans (one stack, or trained one by one).
        trials: the optuna trials, in the same order.
        epochs: the trials' budget in epochs.
        objective: a history row -> the value reported (None: nothing to report).
        worst: the value of a diverged cooldown (0 for an accuracy, inf for a loss).
        train: trains branch plans from their checkpoints: (plans, starts) -> runs.

    Examples:
        Three trials on or3 (8 epochs of one update: rungs at epochs 2 and 6, a cooldown of 1 epoch), judged by
        validation loss (a minimising study):

        >>> import optuna
        >>> from lrlab.lab.engines.stacked import execute_stack
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.plan import plan
        >>> from lrlab.lab.studies.rungs import FairRungs
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=2))
        >>> specs = ("constant(0.3)", "wsd(3.0, decay_steps=2)", "constant(0.05)")
        >>> plans = [plan("or3", spec, RunOptions(epochs=8), dtype="float64") for spec in specs]
        >>> trials = [study.ask() for _ in plans]
        >>> fair = FairRungs(plans, trials, 8, lambda row: float(row["val_loss"]), float("inf"),
        ...                  lambda ps, starts: execute_stack(ps, starts=starts))
        >>> fair.save_at    # the ends of epochs 1 and 5: the cooldowns branch there
        [[1, 5], [1, 5], [1, 5]]
        >>> runs = execute_stack(plans, save_at=fair.save_at, on_save=fair.on_save, on_epoch=fair.on_epoch)
        >>> [(run.status, len(run.history)) for run in runs]    # the third pruned at its rung
        [('ok', 8), ('ok', 8), ('pruned', 2)]
        >>> # the wsd's own value at its first rung, and its cooldown's (the one the pruner was told)
        >>> [round(float(runs[1].history.val_loss[1]), 4), round(trials[1].user_attrs["rung_2"], 4)]
        [0.2516, 0.258]
    """

    def __init__(self, plans: Sequence[Any], trials: Sequence[Any], epochs: int,
                 objective: Callable[[Any], float | None], worst: float,
                 train: Callable[[list[Any], list[dict[str, Any]]], list[Any]]) -> None:
        self.plans, self.trials, self.objective, self.worst, self.train = list(plans), list(trials), objective, \
            worst, train
        self.rungs = set(rung_epochs(epochs))
        self.pending: dict[int, dict[str, Any]] = {}
        self.verdict: dict[int, bool] = {}
        self.save_at = []
        self.cool = []
        for p in self.plans:
            n = len(p.data.train)
            spe, total = p.options.steps_per_epoch(n), p.options.total_steps(n)
            self.save_at.append([(r - 1) * spe for r in sorted(self.rungs) if r * spe < total])
            self.cool.append(cooldown_epochs(epochs) * spe)

    def on_save(self, k: int, state: dict[str, Any]) -> None:
        """Keep member k's checkpoint of the epoch before a rung: its cooldown trains when the rung epoch ends.

        The cooldowns of a rung train together (one stack), once every member's checkpoint of that epoch is kept.

        Args:
            k: the member (the index of its plan).
            state: its checkpoint (lrlab.lab.engines.checkpoint) at the end of the epoch before a rung.

        Examples:
            >>> from lrlab.lab.studies.rungs import FairRungs
            >>> fair = FairRungs([], [], 8, lambda row: None, 0.0, lambda plans, starts: [])
            >>> fair.on_save(0, {"step": 1, "epoch": 1})
            >>> fair.pending
            {0: {'step': 1, 'epoch': 1}}
        """
        self.pending[k] = state

    def on_epoch(self, k: int, epoch: int, row: dict[str, Any]) -> bool:
        """After member k's epoch: True where the pruner, told the cooldown of k's last rung, prunes it.

        Epochs that are not rungs report the trial's own value (for the record; the pruner decides only at rungs);
        at a rung the cooldowns branched from the epoch before train first (all the rung's members as one call of
        `train`), and each trial is told its cooldown's value instead.

        Args:
            k: the member.
            epoch: the epoch that ended.
            row: its history row.

        Examples:
            >>> from lrlab.lab.studies.rungs import FairRungs
            >>> class Trial:
            ...     def report(self, value, step):
            ...         print("reported", value, "at", step)
            >>> fair = FairRungs([], [Trial()], 8, lambda row: row["val_loss"], 0.0, lambda plans, starts: [])
            >>> fair.on_epoch(0, 1, {"val_loss": 0.5})       # not a rung (rungs: 2, 6)
            reported 0.5 at 1
            False
            >>> fair.on_epoch(0, 2, {"val_loss": 0.4})       # a rung: told its cooldown's (none kept here)
            False
        """
        if any(int(state["epoch"]) < epoch for state in self.pending.values()):  # an earlier epoch's: in a stack,
            self._judge()  # a member's checkpoint is taken before the next member's epoch is told
        if self.verdict.pop(k, False):
            return True
        if epoch not in self.rungs:
            got = self.objective(row)
            if got is not None:
                self.trials[k].report(got, epoch)
        return False

    def _judge(self) -> None:
        """Train the pending cooldowns (one call of `train`), report each to its trial at its rung epoch, ask the
        pruner."""
        ks = sorted(self.pending)
        starts = [self.pending[k] for k in ks]
        branches = [cooldown_plan(self.plans[k], int(s["step"]), self.cool[k]) for k, s in zip(ks, starts)]
        self.pending.clear()
        runs = self.train(branches, starts)
        for k, state, run in zip(ks, starts, runs):
            got = self.objective(run.history.iloc[-1]) if run.status == "ok" and not run.history.empty else None
            got = self.worst if got is None else float(got)
            t = self.trials[k]
            rung = int(state["epoch"]) + 1
            t.set_user_attr(f"rung_{rung}", got if math.isfinite(got) else None)
            t.report(got, rung)
            self.verdict[k] = t.should_prune()
