"""The training of a built-in task's trials in a tune search: a batch asked, cut to its best by the forecast
(forecast=M, the law from `fit_forecast`), trained as one stack with the pruner watching, and told; moved out of
lrlab.lab.studies.tune, which sets the search up and hands a worker `_run_batch`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import TYPE_CHECKING, Any

from . import objective
from .tune_workers import _ask_trials

if TYPE_CHECKING:
    from pathlib import Path

    from ..tasks.task import Task
    from .space import Space
    from .tune import _Settings


def _run_batch(study: Any, s: _Settings, task: Task, data: Any, space: Space, k: int) -> dict[str, Any]:
    """Ask k trials, train them (one stack where the model allows), tell them. Trials left untold by an
    interruption are told FAIL, so the study never waits on them."""
    from optuna.trial import TrialState

    from ..engines.auto import choose
    from ..plan import plan
    from .compare import split_entry

    out: dict[str, Any] = {"finished": 0, "failed": 0, "error": None}
    trials: list[Any] = []
    told: set[int] = set()

    def fail(t: Any, exc: ValueError) -> None:
        t.set_user_attr("error", str(exc).splitlines()[0])
        study.tell(t, state=TrialState.FAIL)
        told.add(t.number)
        out["failed"] += 1
        out["error"] = str(exc).splitlines()[0]

    with contextlib.ExitStack() as beats:
        try:  # asked inside: a Ctrl-C while asking leaves no RUNNING trial behind (the finally fails them)
            _ask_trials(study, k * (s.forecast or 1), trials, beats)
            todo, plans = [], []
            specs = {}
            for t in trials:
                specs[t.number] = space.sample(t)
                t.set_user_attr("spec", specs[t.number])
            chosen = _by_forecast(study, s, trials, specs, k, fail, told) if s.forecast else trials
            for t in chosen:
                spec = specs[t.number]
                try:
                    sched, plat, _ = split_entry(spec)
                    plans.append(plan(task, sched, s.options().replace(plateau=plat), data=data, dtype=s.dtype,
                                      label=spec))
                except ValueError as exc:
                    fail(t, exc)
                    continue
                todo.append(t)
            if not todo:
                return out

            stacked = choose(plans, s.device) == "stacked"
            runs = _train_trials(s, plans, todo, stacked)
            for t, run in zip(todo, runs):
                _tell(study, t, run, s)
                told.add(t.number)
                out["finished"] += 1
        finally:
            for t in trials:
                if t.number not in told:
                    with contextlib.suppress(Exception):
                        study.tell(t, state=TrialState.FAIL)
    return out


def _train_trials(s: _Settings, plans: list[Any], todo: list[Any], stacked: bool) -> list[Any]:
    """Train a batch's plans (one stack, or one by one), the pruner told each epoch's objective; with pruner
    "fair", each rung's value is a cooldown's (lrlab.lab.studies.rungs)."""
    from ..engines.stacked import execute_stack
    from ..engines.train import execute
    from .rungs import branchable

    def judged(row: dict[str, Any]) -> float | None:
        return objective.value(row, s.metric, s.n_val)

    if s.pruner == "fair" and branchable(plans[0]):
        from .rungs import FairRungs

        def branches(ps: list[Any], starts: list[Any]) -> list[Any]:
            if stacked:
                return execute_stack(ps, device=s.device, starts=starts)
            return [execute(p, device=s.device, start=c) for p, c in zip(ps, starts)]

        fair = FairRungs(plans, todo, s.epochs, judged, 0.0 if s.direction == "maximize" else math.inf, branches)
        if stacked:
            return execute_stack(plans, device=s.device, save_at=fair.save_at, on_save=fair.on_save,
                                 on_epoch=fair.on_epoch)
        return [execute(p, device=s.device, save_at=fair.save_at[i], on_save=lambda c, i=i: fair.on_save(i, c),
                        on_epoch=lambda epoch, row, i=i: fair.on_epoch(i, epoch, row)) for i, p in enumerate(plans)]

    def report(t: Any, epoch: int, row: dict[str, Any]) -> bool:
        value = judged(row)
        if value is None:
            return False
        t.report(value, epoch)
        return t.should_prune()

    if stacked:
        return execute_stack(plans, device=s.device, on_epoch=lambda i, epoch, row: report(todo[i], epoch, row))
    return [execute(p, device=s.device, on_epoch=lambda epoch, row, t=t: report(t, epoch, row))
            for p, t in zip(plans, todo)]


def _by_forecast(study: Any, s: _Settings, trials: list[Any], specs: dict[int, str], k: int, fail: Any,
                 told: set[int]) -> list[Any]:
    """The k trials whose schedules have the lowest forecast final training loss over s.steps updates (a plateau
    branch by its schedule alone); the others are told PRUNED with status "forecast" without training
    (lrlab.lab.studies.tune's docstring), a spec that cannot be forecast FAIL. Every forecast is kept as user
    attribute "forecast"."""
    from optuna.trial import TrialState

    from .compare import split_entry

    scored = []
    for t in trials:
        try:
            final = s.fc.predict(split_entry(specs[t.number])[0], s.steps).final
        except ValueError as exc:
            fail(t, exc)
            continue
        t.set_user_attr("forecast", final if math.isfinite(final) else None)
        scored.append(((not math.isfinite(final), final, t.number), t))  # the order of forecast.rank
    scored.sort(key=lambda item: item[0])
    for _, t in scored[k:]:
        t.set_user_attr("status", "forecast")
        study.tell(t, state=TrialState.PRUNED)
        told.add(t.number)
    return [t for _, t in scored[:k]]


def fit_forecast(task: Task, peak: float, steps: int, *, seed: int = 0, db: str | Path | None = None,
                 progress: bool = False, **options: Any) -> Any:
    """The multi-power law fitted to three runs at the rate `peak`: what tune's forecast=M ranks candidates with.

    The runs are constant(peak), cosine(peak) and wsd(peak, decay_steps=steps // 5), trained for `steps` updates on
    `seed` through `compare` (reused from the run store `db`). Its `warning` says when the law does not hold on the
    task (tune then falls back to the plain search); the UserWarning of `fit` is silenced here.

    Args:
        task: the Task.
        peak: the rate of the three runs (the space's centre rate).
        steps: the runs' length in optimizer steps (the forecasts' horizon).
        seed: the runs' seed.
        db: the run store (a path or URL), None to store nothing.
        progress: rich bars while the runs train.
        **options: compare's optimizer, epochs, batch_size, dtype, device and optimizer options.

    Examples:
        Training and fitting take a few seconds, so this is shown, not run:

            fc = fit_forecast(get_task("mnist1d"), 0.05, 2000, db="lrlab-runs/tune.db")
            print(fc.summary(), fc.warning)

        A bad rate fails before anything trains:

        >>> from lrlab.lab.tasks.task import get_task
        >>> from lrlab.lab.studies.tune import fit_forecast
        >>> fit_forecast(get_task("or3"), -1.0, 20)
        Traceback (most recent call last):
        ...
        ValueError: constant: lr must be a finite number >= 0, got -1.0...
    """
    from .compare import compare
    from .forecast import fit

    specs = [f"constant({peak!r})", f"cosine({peak!r})", f"wsd({peak!r}, decay_steps={max(1, steps // 5)})"]
    runs = compare(task, specs, seeds=[seed], db=db, progress=progress, **options).runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the caller shows fc.warning
        return fit([r for r in runs if r.status == "ok"], "multi_power")


def _record(t: Any, run: Any, s: Any) -> None:
    """What every trial keeps of its run, whatever the target: status, epochs, and the test figure beside the
    objective where it is finite (the trials table shows it; it is never the objective)."""
    t.set_user_attr("status", run.status)
    t.set_user_attr("epochs", len(run.history))
    last = {} if run.history.empty else run.history.iloc[-1]
    for name in dict.fromkeys([s.metric, objective.LOSS]):  # the objective's parts, apart (the trials table)
        if name in last and math.isfinite(float(last[name])):
            t.set_user_attr(name, float(last[name]))
    test = f"test_{s.metric.removeprefix('val_')}"
    if test in run.metrics and math.isfinite(run.metrics[test]):
        t.set_user_attr(test, float(run.metrics[test]))


def _tell(study: Any, t: Any, run: Any, s: _Settings) -> None:
    from optuna.trial import TrialState

    _record(t, run, s)
    if run.status == "pruned":
        study.tell(t, state=TrialState.PRUNED)
    else:
        value = None if run.history.empty else objective.value(run.history.iloc[-1], s.metric, s.n_val)
        worst = 0.0 if s.direction == "maximize" else math.inf  # diverged: the worst value
        study.tell(t, worst if run.status == "diverged" or value is None else value)
