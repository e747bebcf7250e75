"""Comparisons: train one task under several schedules (and seeds), keep every run in the store, rank them.

Their result, `Comparison` (leaderboard, ranking, ties, CSV files), is lrlab.lab.studies.comparison.

A schedule entry is a spec, a Schedule, or a spec with a plateau suffix, "constant(0.05)@plateau(factor=0.5,
patience=10, min_lr=1e-5)", so plateau-controlled runs sit in the same comparison as plain schedules. The
`plateau=` argument applies to every entry without its own suffix. An entry may end in an optimizer of its own,
"constant(0.003)@adamw_sf(warmup_steps=100)" or "constant(0.003)@adamw_sf" (after any plateau suffix), so
schedule-free runs sit on the leaderboard beside scheduled runs of the same budget: that entry trains with that
optimizer and those options instead of the comparison's `optimizer=` and optimizer options.

Ranking (lrlab.lab.ranking, the one rule): the leaderboard ranks by the final VALIDATION figure of each run, mean
over seeds, in its direction: val_accuracy (higher is better) for a classifier, val_bpb (bits per byte, the loss in
bits) for a language model ("lm" loss), else val_loss (lower is better). The test figure (test_accuracy, test_bpb,
test_loss) is shown beside it and never ranks: a schedule chosen on the test set would make its test figure
optimistic. A task without a validation split ranks by the final training loss (column final_train_loss) and the
board says so (`Comparison.ranking.describe()`). Schedules with diverged runs rank last; ties keep the given order.

Leaderboard target (epochs_to_target): with an accuracy metric, the first epoch whose val_accuracy reaches
`target` (default: 98% of the best val accuracy any run of the comparison reached); without one, the first epoch
whose val_loss (val_bpb for a language model) is at most `target` (default: 1.1 times the best value any run
reached). Tasks without a validation split use the training loss. A task whose unit is "steps" (Task.unit) counts
the way there in optimizer steps instead: steps_to_target, the step count of that epoch's history row.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ... import _check
from ...plateau import Plateau
from ...schedules import Schedule
from ..engines import ENGINES
from ..engines.function import plan_function
from ..engines.train import resolve_device
from ..options import TASK_DEFAULT, RunOptions, resolve_task
from ..plan import as_schedule, plan
from ..progress import RichBars  # noqa: F401  (lrlab.lab.studies.compare.RichBars: where users found it)
from ..progress import bars as _bars
from ..ranking import Ranking
from ..run import Run
from ..store import DEFAULT_DB, Store
from ..tasks.experiment import Experiment
from ..tasks.task import OPTIMIZERS, Task
from .comparison import Comparison, check_target  # compare's result, in its own module (also importable from here)


# -- entries ----------------------------------------------------------------------------------
def entry_optimizer(entry: Any) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
    """Split an optimizer suffix off a comparison entry: (the entry without it, (optimizer, its options)).

    A string entry ending in "@NAME" or "@NAME(k=v, ...)" with NAME one of OPTIMIZERS (sgd, adam, adamw, sgd_sf,
    adamw_sf) trains with that optimizer instead of the comparison's; the options are checked by RunOptions.
    Anything else (a plain spec, a plateau suffix, a Schedule, a pair) comes back as (entry, None).

    Args:
        entry: a comparison entry (spec string, Schedule or (schedule, plateau) pair).

    Returns:
        (entry without the suffix, (name, kwargs)), or (entry, None) when it has no optimizer suffix.

    Raises:
        ValueError: options that do not parse or that RunOptions rejects.

    Examples:
        >>> from lrlab.lab.studies.compare import entry_optimizer
        >>> entry_optimizer("constant(0.003)@adamw_sf(warmup_steps=60)")
        ('constant(0.003)', ('adamw_sf', {'warmup_steps': 60}))
        >>> entry_optimizer("cosine(0.1)")
        ('cosine(0.1)', None)
    """
    from ...schedules.spec import parse_call

    if not isinstance(entry, str) or "@" not in entry:
        return entry, None
    at = entry.rfind("@")
    suffix = entry[at + 1 :].strip()
    name = suffix.split("(", 1)[0].strip().lower()
    if name not in OPTIMIZERS:
        return entry, None
    try:
        kwargs = parse_call(suffix, suffix.split("(", 1)[0].strip()) if "(" in suffix else {}
    except ValueError as exc:
        raise ValueError(f"optimizer options in {_check.shown(entry)}: {str(exc).splitlines()[0]}") from None
    RunOptions(optimizer=name, optimizer_kwargs=kwargs)  # checks them (lr is the schedule's)
    return entry[:at], (name, kwargs)


def optimizer_suffix(name: str, kwargs: dict[str, Any]) -> str:
    """The suffix an entry's own optimizer adds to its label, e.g. "@adamw_sf(warmup_steps=100)".

    The options are sorted by name and shown with repr, so equal options give equal labels; without options the
    suffix is just "@NAME". It is the inverse of what `entry_optimizer` reads.

    Args:
        name: the optimizer's name (one of OPTIMIZERS).
        kwargs: its options (without lr: that is the schedule's).

    Examples:
        >>> from lrlab.lab.studies.compare import optimizer_suffix
        >>> optimizer_suffix("adamw_sf", {"warmup_steps": 60, "betas": (0.9, 0.99)})
        '@adamw_sf(betas=(0.9, 0.99), warmup_steps=60)'
        >>> optimizer_suffix("sgd_sf", {})
        '@sgd_sf'
    """
    return f"@{name}" + (f"({', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))})" if kwargs else "")


def split_entry(entry: Any) -> tuple[Schedule, Plateau | None, bool]:
    """(schedule, plateau, has its own plateau) of one comparison entry.

    An entry is a spec, a Schedule, "SPEC@plateau(k=v, ...)", or a (schedule, plateau) pair; an optimizer suffix is
    dropped first (`entry_optimizer` reads it). The third item says whether the entry brought its own plateau, so
    `compare`'s `plateau=` applies only to the entries without one.

    Args:
        entry: the comparison entry.

    Raises:
        ValueError: a bad spec, a pair that is not (schedule, plateau), or "@" followed by neither plateau(...) nor
            an optimizer.

    Examples:
        >>> from lrlab.lab.studies.compare import split_entry
        >>> split_entry("cosine(0.1)")
        (cosine(0.1), None, False)
        >>> sched, plateau, own = split_entry("constant(0.05)@plateau(factor=0.5, patience=3)")
        >>> sched, plateau.factor, plateau.patience, own
        (constant(0.05), 0.5, 3, True)
    """
    entry = entry_optimizer(entry)[0]
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ValueError(f"a comparison entry pair is (schedule, plateau), got {entry!r}")
        return as_schedule(entry[0]), Plateau.from_options(entry[1]), entry[1] is not None
    if isinstance(entry, str):
        at = entry.rfind("@")
        if at >= 0:
            suffix = entry[at + 1 :].strip()
            if not suffix.startswith("plateau"):
                raise ValueError(f"after '@' a spec takes plateau(...) or an optimizer ({', '.join(OPTIMIZERS)}), "
                                 f"got {suffix!r} in {entry!r}")
            return as_schedule(entry[:at]), Plateau.parse(suffix), True
    return as_schedule(entry), None, False


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    """The seeds of a comparison: a count n (seeds 0..n-1) or a non-empty list of whole numbers."""
    if _check.is_real(seeds):
        return list(range(_check.whole("compare", "seeds", seeds, 1, what="a count >= 1 or a list of seeds")))
    out = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes)) else []
    if not out:
        raise _check.fail("compare", "seeds", "a count >= 1 or a non-empty list of seeds", seeds)
    return [RunOptions(seed=s).seed for s in out]


def compare(
    task: Task | str,
    schedules: Sequence[Any],
    *,
    seeds: int | Iterable[int] = (0,),
    optimizer: str | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: Any = TASK_DEFAULT,
    plateau: Any = None,
    db: str | Path | None = DEFAULT_DB,
    fresh: bool = False,
    progress: Any = True,
    target: float | None = None,
    callback: Any = None,
    engine: str = "auto",
    device: str = "auto",
    dtype: str | None = None,
    max_stack: int | None = None,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    **optimizer_kwargs: Any,
) -> Comparison:
    """Train `task` under every schedule for every seed and rank them, reusing runs stored in `db`.

    Every finished run is committed to `db` (None: keep nothing) before the next starts (a stack's runs when the
    stack ends), so an interrupted comparison loses no finished run (only the stack in training). Schedules without
    lengths are stretched to the run's budget (epochs x steps per epoch, or `steps`).

    Args:
        task: a Task or a task name ("or3", "line", "mnist1d", ...), or a user's training function declared with
            `lrlab.lab.tasks.experiment` (or its reference, "path/to/train.py:name"): it is called once per run with the
            run's schedule, seed and options (lrlab.lab.engines.function), in this process or in `workers` processes.
        schedules: the entries: specs, Schedules, "SPEC@plateau(...)", "SPEC@OPTIMIZER(...)" or (schedule, plateau)
            pairs (a single spec or Schedule is one entry); a label listed twice is a ValueError.
        seeds: a count n (seeds 0..n-1) or a list of seeds.
        optimizer: sgd, adam, adamw, sgd_sf or adamw_sf (None: the task's).
        epochs: epochs per run (None: the task's); exclusive with `steps`.
        steps: a budget in optimizer steps per run instead of epochs (the last epoch may be partial).
        batch_size: a batch size, None for full batch (default: the task's).
        plateau: reduce-on-plateau options for every entry without its own (a Plateau, dict or options string).
        db: the run store, a path (an SQLite file) or a database URL, e.g. postgresql://USER@HOST:PORT/NAME (see
            lrlab.lab.store); None: train everything and store nothing.
        fresh: train again even when a stored run matches.
        progress: True for rich bars on stderr, False for none, or a progress object like RichBars.
        target: the leaderboard target (an accuracy in (0, 1], else a loss > 0); None: the default.
        callback: callback(step, model, loss, lr) after every optimizer step of every trained run (sequential only).
        engine: "sequential" trains one run after another (lrlab.lab.engines.train); "stacked" trains them as stacks of
            one model (lrlab.lab.engines.stacked: in float64 equal to the sequential trainer's to 1e-9; in float32 the
            sums run in another order, so a member's numbers, and a plateau's reductions, may differ by rounding; one
            progress bar per stack); "auto" stacks when more than one run is to be trained, no callback is given,
            the model can be stacked (no BatchNorm, no dropout, no tied weights, vmap can run it:
            `lrlab.lab.engines.stacked.why_sequential`) and stacking was timed faster (a few steps of each engine,
            once per task, stack size bucket and device, kept in the store: `lrlab.lab.engines.auto`); otherwise
            the runs train one after another. One line on stderr says why.
        device: "auto" (CUDA when there is one), "cpu" or "cuda".
        dtype: None (the task's), "float32" or "float64" (kept in each run's config).
        max_stack: at most this many runs per stack (None: as many as fit in half the free memory of the device).
        workers: worker processes on this machine for a training function's runs (each takes the next run no one
            holds; needs `db`). Processes on other machines join by running the same comparison on the same
            database; entries that bind to the same run train once and are shown once.
        devices: GPU ids for the workers, handed out round robin (each worker's CUDA_VISIBLE_DEVICES).
        **optimizer_kwargs: optimizer options (momentum, weight_decay, ...), as RunOptions takes them; for a
            training function, any options it reads from `run.options`.

    Returns:
        The Comparison of every run (stored or trained).

    Raises:
        ValueError: a bad option, spec or target, before anything trains.

    Examples:
        Two schedules on the tiny `or3` task, nothing stored:

        >>> from lrlab.lab.studies.compare import compare
        >>> c = compare("or3", ["constant(0.5)", "cosine(0.5)"], epochs=2, db=None, progress=False)
        >>> [(r.label, r.config["epochs"], r.metrics["steps"]) for r in c.runs]
        [('constant(0.5)', 2, 2), ('cosine(0.5)', 2, 2)]
        >>> c.leaderboard["schedule"].tolist()
        ['constant(0.5)', 'cosine(0.5)']

        With a store and seeds (kept in lrlab-runs/runs.db; a second call reuses the runs):

            compare("mnist1d", ["one_cycle(0.05)", "wsd(0.05)@plateau(factor=0.5)"], seeds=3, target=0.6)
    """
    task = resolve_target(task)
    function = isinstance(task, Experiment)
    if isinstance(schedules, (str, Schedule)):
        schedules = [schedules]
    if not schedules:
        raise ValueError("compare needs at least one schedule")
    seed_list = _seeds(seeds)
    target = check_target(task, target)
    engine = _check.choice("compare", "engine", engine, ENGINES)
    max_stack = _check.whole("compare", "max_stack", max_stack, 1, optional=True)
    if engine == "stacked" and callback is not None:
        raise ValueError("compare: callback needs engine='sequential' or 'auto' (the stacked engine calls none)")
    device = resolve_device(device)
    base = RunOptions(optimizer=optimizer, epochs=epochs, steps=steps, batch_size=batch_size, plateau=plateau,
                      optimizer_kwargs=optimizer_kwargs)
    entries = []
    for item in schedules:
        sched, own, has_own = split_entry(item)
        entries.append((sched, own if has_own else base.plateau, entry_optimizer(item)[1]))
    # Check every option before training anything (plan raises ValueError on bad ones).
    data_cache: dict[int, Any] = {}

    def make_plan(sched: Schedule, plat: Plateau | None, opt: Any, seed: int) -> Any:
        options = base.replace(plateau=plat, seed=seed)
        label = None
        if opt is not None:  # the entry's own optimizer, named in its label
            options = options.replace(optimizer=opt[0], optimizer_kwargs=opt[1])
            label = repr(sched) + (f"@{plat.spec()}" if plat is not None else "") + optimizer_suffix(*opt)
        if function:
            return plan_function(task, sched, options, label=label)
        if seed not in data_cache:
            data_cache[seed] = task.load(seed)
        return plan(task, sched, options, label=label, data=data_cache[seed], dtype=dtype)

    first = [make_plan(s, p, o, seed_list[0]) for s, p, o in entries]
    labels = [p.config["label"] for p in first]
    dupes = sorted({label for label in labels if labels.count(label) > 1})
    if dupes:
        raise ValueError(f"schedule {dupes[0]!r} is listed twice")
    same = _same_runs(first)
    if same:  # entries that bind to one run train once and are shown once
        for later, earlier in same.items():
            bound = first[later].config["schedule"]
            print(f"lrlab: {labels[later]!r} is the same run as {labels[earlier]!r} ({bound}); shown once",
                  file=sys.stderr)
        entries = [e for i, e in enumerate(entries) if i not in same]
        first = [p for i, p in enumerate(first) if i not in same]
        labels = [p.config["label"] for p in first]

    plans = [first[i] if seed == seed_list[0] else make_plan(sched, plat, opt, seed)
             for seed in seed_list for i, (sched, plat, opt) in enumerate(entries)]
    runs = train_plans(plans, db=db, fresh=fresh, progress=progress, callback=callback, engine=engine,
                       device=device, max_stack=max_stack, workers=workers, devices=devices)
    return Comparison(task=task, runs=runs, target=target, labels=labels, rank_by=target_ranking(task))


def target_ranking(target: Any) -> Ranking | None:
    """What a target's leaderboard ranks by: an experiment's declared metric in its declared direction (its final
    training loss when it declares none); None for a Task (`Comparison` uses `task_ranking`).

    Args:
        target: a Task or an Experiment.

    Examples:
        >>> from lrlab.lab.studies.compare import target_ranking
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> target_ranking(experiment(lambda run: None, metric="val_f1", mode="max"))
        Ranking(metric='val_f1', higher_is_better=True, test='test_f1', note='')
        >>> target_ranking(experiment(lambda run: None, name="mine")).note
        "experiment 'mine' declares no metric"
    """
    from ..ranking import ranking

    if not isinstance(target, Experiment):
        return None
    if target.metric is None:
        return ranking("loss", False, note=f"experiment {target.name!r} declares no metric")
    return ranking(target.metric, target.mode == "max")


def resolve_target(target: Any) -> Any:
    """What a study trains: a Task (itself or its registered name), or an Experiment (itself, or its reference).

    A reference is "path/to/train.py:name" or "package.module:name"; it is imported here, the only code a study
    imports (nothing stored names code).

    Args:
        target: a Task, a task name, an Experiment, an experiment's reference, or a builder's training function
            (`lrlab.keras.experiment(...)`, `lrlab.lightning.experiment(...)`, ...).

    Raises:
        ValueError: an unknown task name, or a reference that does not import (one line).

    Examples:
        >>> from lrlab.lab.studies.compare import resolve_target
        >>> resolve_target("or3").name
        'or3'
        >>> resolve_target("no_such_module:train")
        Traceback (most recent call last):
        ...
        ValueError: experiment module 'no_such_module' failed to import: ModuleNotFoundError: No module named ...
    """
    from ..tasks.experiment import DECLARATION, Experiment, experiment, is_reference, load

    if isinstance(target, Experiment):
        return target
    if callable(target) and isinstance(getattr(target, DECLARATION, None), dict):  # lrlab.keras.experiment(...)
        return experiment(target)
    if is_reference(target):
        return load(target)
    return resolve_task(target)


def _same_runs(plans: list[Any]) -> dict[int, int]:
    """{later entry: earlier entry} for the entries whose runs are the same run (equal store keys)."""
    from ..store import config_key

    seen: dict[str, int] = {}
    out = {}
    for i, p in enumerate(plans):
        key = config_key(p.config)
        if key is None:
            continue
        if key in seen:
            out[i] = seen[key]
        else:
            seen[key] = i
    return out


def train_plans(plans: Sequence[Any], *, db: str | Path | None = DEFAULT_DB, fresh: bool = False,
                progress: Any = True, callback: Any = None, engine: str = "auto", device: str = "auto",
                max_stack: int | None = None, starts: Sequence[dict[str, Any] | None] | None = None,
                workers: int = 1, devices: Sequence[str] | None = None) -> list[Run]:
    """Train plans of one target (any schedules, budgets, seeds) as `compare` does, returning their runs in plan order.

    The stored twins are reused, plans with equal configs train once, and the rest train on the engine
    (`lrlab.lab.engines.make_engine`), each run saved as it (or its stack) ends. Runs are claimed in the store
    while they train, and shared with other processes by the work loop (`lrlab.lab.work`): a run another process
    trains is left to it and reused once stored. `compare` and `lrlab.lab.studies.cooldowns` call it with plans from
    `lrlab.lab.plan.plan`.

    Args:
        plans: the plans (lrlab.lab.plan.plan, or lrlab.lab.engines.function.plan_function), all of one target.
        db: the run store (a path or URL), None to store nothing.
        fresh: train again even when a stored run matches.
        progress: True for rich bars, False for none, or a progress object.
        callback: callback(step, model, loss, lr) for every trained run (forces the sequential engine).
        engine: "auto", "stacked" or "sequential" (see `compare`).
        device: "auto", "cpu" or "cuda".
        max_stack: at most this many runs per stack (None: as fits in half the free memory).
        starts: per plan a checkpoint to resume from (lrlab.lab.engines.checkpoint), or None; None: no checkpoints.
        workers: worker processes on this machine (an experiment's runs only; needs a store).
        devices: GPU ids given to the workers round robin (their CUDA_VISIBLE_DEVICES).

    Examples:
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.plan import plan
        >>> from lrlab.lab.studies.compare import train_plans
        >>> from lrlab.lab.tasks.task import get_task
        >>> task = get_task("or3")
        >>> plans = [plan(task, "constant(0.5)", RunOptions(epochs=e)) for e in (1, 2)]
        >>> [run.metrics["epochs_done"] for run in train_plans(plans, db=None, progress=False)]
        [1, 2]
    """
    from ..engines import make_engine
    from ..tasks.experiment import Experiment
    from ..work import run_plans, run_workers

    if not plans:
        return []
    device = resolve_device(device)
    workers = _check.whole("compare", "workers", workers, 1, 512)
    if workers > 1 and (db is None or not isinstance(plans[0].task, Experiment)):
        raise ValueError("compare: workers > 1 needs a run store (db) and a training function as target "
                         "(a built-in task's runs share a process through the stacked engine)")
    store = Store(db) if db is not None else None
    try:
        mark = store.last_id() if store is not None else None
        ours = frozenset()
        if workers > 1:
            ours = run_workers(plans[0].task, plans, db=str(db), workers=workers, mark=int(mark or 0),
                               devices=devices, fresh=fresh)
        with _bars(progress) as bars:
            eng = make_engine(plans, engine, bars=bars, device=device, callback=callback, max_stack=max_stack,
                              starts=starts, store=store)

            def on_wait(message: str) -> None:
                print(f"lrlab: some runs are trained by another process; {message}", file=sys.stderr, flush=True)

            return run_plans(plans, store=store, groups=eng.groups, train=eng.train, fresh=fresh,
                             retry_failed_before=mark, on_wait=on_wait, ours=ours)
    finally:
        if store is not None:
            store.close()
