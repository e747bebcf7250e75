"""`tune` on a user's training function (an `Experiment`, lrlab.lab.tasks.experiment): what differs from a built-in
task.

The study is the same (Optuna's storage, sampler, pruner, heartbeats and workers, lrlab.lab.studies.tune); what changes
is how a trial trains and what it is judged by:

- each trial is one call of the function (lrlab.lab.engines.function), one after another in a worker: a function cannot
be
  stacked. A worker asks one trial at a time (`batch` is not used), so the sampler learns from every trial before it
  samples the next;
- Optuna's pruner watches every epoch the function reports: `run.report(epoch, ...)` hands the epoch's declared
  metric to `trial.report` and, when `trial.should_prune()`, raises inside the function (caught by the lab): a pruned
  trial stops where it was pruned and is told PRUNED; the default pruner "fair" is "asha" here (its cooldowns branch
  from checkpoints, and a function cannot be branched: lrlab.lab.studies.rungs);
- the objective is the experiment's declared metric in its declared direction (`compare.target_ranking`: the final
  training loss when it declares none), read from the run's final metrics as the confirmation ranks it (no
  tie-break by the loss: lrlab.lab.studies.objective is for built-in tasks);
- a trial whose function raised is told FAIL with the error's last line (user attribute "error"); one that diverged
  is told COMPLETE with the worst value, as a built-in task's; one that reported no value of the metric is told FAIL;
- the default space needs a rate to centre on, and an experiment has none: give `space=`, or `peak_from_find=True`
  (the range test on the function, `lrlab.lab.studies.find.find_function`); either way the experiment must declare its
  steps per epoch when the space's schedules have no lengths of their own.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from ..engines.function import budget
from ..options import TASK_DEFAULT, RunOptions
from ..tasks.experiment import Experiment


def prepare(exp: Experiment, space: str | None, *, epochs: int | None, peak_from_find: bool, batch_size: Any,
            dtype: str | None, forecast: int = 0) -> dict[str, Any]:
    """What `tune` needs of an experiment before its study starts: the budget, the space and the objective.

    Nothing trains here: with peak_from_find `tune` runs the range test on the function (`find_peak`) once its
    storage is checked, and centres the default space on its valley.

    Args:
        exp: the Experiment.
        space: the search space (None: the default space around the range test's valley, with peak_from_find).
        epochs: epochs per trial (None: the experiment's budget, in epochs or steps).
        peak_from_find: centre the default space on the valley rate of the range test on the function.
        batch_size: must be left at its default (the function batches its own data).
        dtype: must be None (the function picks its own).
        forecast: tune's forecast=M (its three fitting runs need a rate: peak_from_find).

    Returns:
        {"epochs", "steps" (total updates, or 0 when unknown), "budget_steps" (the budget in steps, or None),
        "space" (the given space's text, or None: the default one, around the range test's valley), "metric",
        "direction"}.

    Raises:
        ValueError: batch_size or dtype given, no budget, no space and no peak_from_find, or a budget in steps
            without steps_per_epoch (the pruner counts epochs); one line each.

    Examples:
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> from lrlab.lab.options import TASK_DEFAULT
        >>> from lrlab.lab.studies.tune_function import prepare
        >>> @experiment(epochs=4, steps_per_epoch=10, metric="val_accuracy")
        ... def mine(run):
        ...     pass
        >>> got = prepare(mine, "cosine(loguniform(0.01, 1))", epochs=None, peak_from_find=False,
        ...               batch_size=TASK_DEFAULT, dtype=None)
        >>> got["epochs"], got["steps"], got["metric"], got["direction"]
        (4, 40, 'val_accuracy', 'maximize')
        >>> prepare(mine, None, epochs=None, peak_from_find=False, batch_size=TASK_DEFAULT, dtype=None)
        Traceback (most recent call last):
        ...
        ValueError: tune: experiment 'mine' has no default rate to centre a space on: give space= (--space) or ...
    """
    from .compare import target_ranking
    from .space import Space
    from .tune import _objective

    who = f"experiment {exp.name!r}"
    if batch_size is not TASK_DEFAULT:
        raise ValueError(f"tune: batch_size is an option of built-in tasks; {who} batches its own data, got "
                         f"batch_size={batch_size!r}")
    if dtype is not None:
        raise ValueError(f"tune: dtype is an option of built-in tasks; {who} picks its own, got dtype={dtype!r}")
    run_epochs, budget_steps, total = budget(exp, RunOptions(epochs=epochs))
    if run_epochs is None and budget_steps is None:
        raise ValueError(f"tune: {who} has no budget: declare epochs (or steps) in @experiment(...), or pass "
                         "epochs=")
    if run_epochs is None:
        raise ValueError(f"tune: {who} has a budget of {budget_steps} steps but no steps_per_epoch, and the pruner "
                         "counts epochs: declare steps_per_epoch in @experiment(...)")
    if space is None and not peak_from_find:
        raise ValueError(f"tune: {who} has no default rate to centre a space on: give space= (--space) or "
                         "peak_from_find=True (--peak-from-find)")
    if forecast and not peak_from_find:
        raise ValueError(f"tune: forecast={forecast} fits its law to runs at a rate {who} does not declare: add "
                         "peak_from_find=True (--peak-from-find)")
    if (space is None or forecast) and total is None:
        raise ValueError(f"tune: {who} declares no steps_per_epoch, so the default space and the forecast cannot "
                         "size their schedules: declare it in @experiment(...)")
    metric, direction = _objective(target_ranking(exp))
    return {"epochs": int(run_epochs), "steps": int(total or 0), "budget_steps": budget_steps,
            "space": None if space is None else Space(space).text, "metric": metric, "direction": direction}


def run_trials(study: Any, s: Any, exp: Experiment, space: Any, k: int) -> dict[str, Any]:
    """Run k trials of the experiment one after another, each asked when the one before is told.

    With a forecast (s.forecast = M) each trial is the best of M candidates by forecast final training loss (the
    others are told PRUNED, status "forecast", as for a built-in task).

    Args:
        study: the optuna Study (this worker's).
        s: the worker's settings (lrlab.lab.studies.tune._Settings).
        exp: the Experiment.
        space: the search space (lrlab.lab.studies.space.Space).
        k: trials to run.

    Returns:
        {"finished": trials told COMPLETE or PRUNED, "failed": told FAIL, "error": the last FAIL's error}.

    Examples:
        `tune` calls it in each worker; here on a study in memory, with a function whose val loss is lowest at 0.1:

        >>> import optuna
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> from lrlab.lab.studies.space import Space
        >>> from lrlab.lab.studies.tune import _Settings
        >>> from lrlab.lab.studies.tune_function import run_trials
        >>> @experiment(epochs=2, steps_per_epoch=1, metric="val_loss")
        ... def bowl(run):
        ...     for epoch in range(1, run.epochs + 1):
        ...         run.report(epoch, val_loss=abs(run.lr() - 0.1))
        >>> s = _Settings(task=bowl, space="constant(uniform(0, 0.2))", epochs=2, trials=3, batch=1, seed=0,
        ...               sampler="random", pruner="none", url="", study="demo", metric="val_loss",
        ...               direction="minimize")
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> run_trials(study, s, bowl, Space(s.space), 3)
        {'finished': 3, 'failed': 0, 'error': None}
        >>> [(t.state.name, t.user_attrs["epochs"]) for t in study.trials]
        [('COMPLETE', 2), ('COMPLETE', 2), ('COMPLETE', 2)]
    """
    out: dict[str, Any] = {"finished": 0, "failed": 0, "error": None}
    for _ in range(k):
        told = _one(study, s, exp, space)
        for key in ("finished", "failed"):
            out[key] += told[key]
        out["error"] = told["error"] or out["error"]
    return out


def _one(study: Any, s: Any, exp: Experiment, space: Any) -> dict[str, Any]:
    """Ask one trial (M candidates with a forecast), train it by calling the function, tell it. A trial left
    untold by an interruption is told FAIL, so the study never waits on it."""
    from optuna.trial import TrialState

    from ..engines.function import execute_function, plan_function
    from .compare import split_entry
    from .tune_batches import _by_forecast
    from .tune_workers import _ask_trials

    out: dict[str, Any] = {"finished": 0, "failed": 0, "error": None}
    trials: list[Any] = []
    told: set[int] = set()

    def fail(t: Any, error: str) -> None:
        t.set_user_attr("error", error)
        study.tell(t, state=TrialState.FAIL)
        told.add(t.number)
        out["failed"] += 1
        out["error"] = error

    with contextlib.ExitStack() as beats:
        try:  # asked inside: a Ctrl-C while asking leaves no RUNNING trial behind (the finally fails them)
            _ask_trials(study, s.forecast or 1, trials, beats)
            specs = {}
            for t in trials:
                specs[t.number] = space.sample(t)
                t.set_user_attr("spec", specs[t.number])
            chosen = trials
            if s.forecast:
                chosen = _by_forecast(study, s, trials, specs, 1,
                                      lambda t, exc: fail(t, str(exc).splitlines()[0]), told)
            for t in chosen:
                spec = specs[t.number]
                try:
                    sched, plat, _ = split_entry(spec)
                    options = RunOptions(optimizer=s.optimizer, epochs=None if s.budget_steps else s.epochs,
                                         steps=s.budget_steps, plateau=plat, seed=s.seed,
                                         optimizer_kwargs=s.optimizer_kwargs)
                    plan = plan_function(exp, sched, options, label=spec)
                except ValueError as exc:
                    fail(t, str(exc).splitlines()[0])
                    continue

                def report(epoch: int, row: dict[str, Any], t: Any = t) -> bool:
                    value = row.get(s.metric)
                    if value is None or not math.isfinite(value):
                        return False
                    t.report(float(value), epoch)
                    return t.should_prune()

                run = execute_function(plan, on_epoch=report)
                error = tell(study, t, run, s)
                told.add(t.number)
                if error is None:
                    out["finished"] += 1
                else:
                    out["failed"] += 1
                    out["error"] = error
        finally:
            for t in trials:
                if t.number not in told:
                    with contextlib.suppress(Exception):
                        study.tell(t, state=TrialState.FAIL)
    return out


def tell(study: Any, t: Any, run: Any, s: Any) -> str | None:
    """Tell the study how trial `t`'s run ended; returns the error of a trial told FAIL (None otherwise).

    pruned: PRUNED. failed (the function raised): FAIL, with the error's last line as user attribute "error".
    diverged: COMPLETE with the worst value (accuracy 0, loss +inf). ok: COMPLETE with the run's final value of the
    metric (`run.metrics`, what the confirmation ranks); FAIL when the function never gave a finite one.

    Args:
        study: the optuna Study.
        t: the trial.
        run: its Run (lrlab.lab.engines.function.execute_function).
        s: the settings (the objective's metric and direction).

    Examples:
        >>> import optuna, pandas as pd, numpy as np
        >>> from lrlab.lab.run import Run
        >>> from lrlab.lab.studies.tune_function import tell
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(direction="maximize")
        >>> class S:
        ...     metric, direction = "val_accuracy", "maximize"
        >>> run = Run(config={"label": "cosine(0.1)", "seed": 0}, history=pd.DataFrame({"epoch": [1]}),
        ...           step_lr=np.zeros(0), step_loss=np.zeros(0), metrics={"epochs_done": 1}, wall_s=0.1,
        ...           status="failed", error="RuntimeError: boom")
        >>> tell(study, study.ask(), run, S())
        'RuntimeError: boom'
        >>> study.trials[0].state.name, study.trials[0].user_attrs["error"]
        ('FAIL', 'RuntimeError: boom')
    """
    from optuna.trial import TrialState

    from .tune_batches import _record

    _record(t, run, s)
    if run.status == "pruned":
        study.tell(t, state=TrialState.PRUNED)
        return None
    if run.status == "failed":
        error = run.error or "failed"
        t.set_user_attr("error", error)
        study.tell(t, state=TrialState.FAIL)
        return error
    if run.status != "ok":  # diverged (or stopped): the worst value, so the sampler learns the region is bad
        study.tell(t, 0.0 if s.direction == "maximize" else math.inf)
        return None
    value = run.metrics.get(s.metric, math.nan)
    if not math.isfinite(value):
        error = f"the training function reported no finite {s.metric} (got {value})"
        t.set_user_attr("error", error)
        study.tell(t, state=TrialState.FAIL)
        return error
    study.tell(t, float(value))
    return None
