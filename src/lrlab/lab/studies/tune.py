"""Schedule search on Optuna: `tune(task)` searches a space of schedule shapes (lrlab.lab.studies.space), trains the
trials in batches on the stacked engine with Optuna's pruner watching every epoch, and confirms the best trials on
fresh seeds. Optuna does the searching, pruning, storage and the coordination of workers; lrlab adds the space,
the batching of trials into stacks and the confirmation.

How a worker runs: it counts the study's finished trials (COMPLETE and PRUNED; FAIL does not count) and the
running ones, asks for at most `batch` trials so that the study ends with `trials` finished ones (a few more only
where workers asked at the same moment), samples a spec for each, trains them as one stack and reports each
member's validation metric every epoch (`trial.report`); a member whose `trial.should_prune()` is true leaves the
stack (told PRUNED). When the study is full but trials of other workers still run, it waits for them: a worker
killed with kill -9 stops beating (Optuna's heartbeat), the others mark its trials FAIL, and asks again in their
place, so the study still ends with `trials` finished ones. That loop, the worker processes with their Ctrl-C and the
live view are lrlab.lab.studies.tune_workers; the training of a batch (and the forecast's fit and ranking) is
lrlab.lab.studies.tune_batches; this module sets the search up.

The objective is the figure every leaderboard ranks by (lrlab.lab.ranking.task_ranking): the final epoch's
validation accuracy (maximised) where the task has accuracy, else its validation bits per byte (a language model) or
loss (minimised; the training loss for a task without a validation split). An accuracy on n validation samples moves
in steps of 1/n and saturates, so many trials tie on it: a built-in task's accuracy objective breaks ties with the
validation loss, as one number, accuracy - g(val_loss)/n with g(l) = l/(1+l) in [0, 1) (lrlab.lab.studies.objective:
a higher accuracy always wins, equal accuracies go to the lower loss). The pruner, the sampler and the best trials
see that value; the trials table keeps accuracy and loss apart. A diverged trial is told COMPLETE with
the worst value (accuracy 0, loss +inf) and user attribute status="diverged": the sampler learns that the region is
bad, and the trial counts (a FAIL would be ignored by the sampler and retried without end in a space that
diverges often). A spec the schedule refuses (possible for values the space check did not probe) is told FAIL.

Pruning at equal epochs is biased against schedules that decay late (WSD, a long cosine keep a high rate and a
poor metric until their decay): Optuna's ASHA (pruner "asha") prunes them before the decay that makes them good.
The default pruner, "fair" (lrlab.lab.studies.rungs), keeps ASHA's rungs but judges a trial at each rung by a short
cooldown branched from its checkpoint of the epoch before: what it reaches if it decays now
(tests/lab/test_fair_pruning.py shows ASHA pruning a late wsd that ends best and "fair" keeping it). The best single
trial is still partly luck (one seed), so the answer is the confirmation: the `confirm` best trials (distinct
specs, their numbers rounded to 4 significant digits by `lrlab.schedules.spec.rounded`: the spec handed out is the
one confirmed and stored, so it reproduces; trials.csv keeps the exact ones) train again on `seeds` fresh seeds with
the full budget through `compare` (stored in the run store), ranked as `compare` ranks (the mean final validation
figure, `Comparison.ranking`), with its spread (std and the worst seed) and the test figure beside it (mean, std,
worst seed), which does not rank.

With forecast=M (`--forecast M`) a loss law (lrlab.lab.studies.forecast, multi-power) is first fitted to three runs at
the space's centre rate (constant, cosine, wsd with a 20% cooldown; trained through `compare`, reused from the run
store); each batch then asks M x batch candidates, ranks their schedules by forecast final training loss, trains
only the best `batch` and tells the others PRUNED with user attribute status="forecast" (never trained). PRUNED,
not FAIL: TPE counts a pruned trial without reported values as worse than every trained one, so the sampler
learns that the region was judged poor (a FAIL would be ignored and the region proposed again); forecast-pruned
trials do not count towards `trials`, which stays the number of trained ones. The forecast is of the training
loss, a proxy for the validation metric; a plateau branch is forecast by its schedule alone; and the law knows
nothing of divergence, so it favours more rate area (higher peaks) beyond the fitting runs' rate. When the fit
carries a warning (the law does not hold on the task) it is printed and the search falls back to the plain one.

A user's training function (`lrlab.lab.tasks.experiment`, or its reference "path/to/train.py:name") is searched the same
way, its trials one call of the function after another, pruned inside the function at `run.report`, judged by its
declared metric: lrlab.lab.studies.tune_function says what differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import pickle
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import _check
from ..._paths import DEFAULT_STORAGE
from ..engines.train import resolve_device
from ..options import TASK_DEFAULT, RunOptions, resolve_task
from ..ranking import Ranking, task_ranking
from ..tasks.experiment import Experiment
from ..tasks.task import Task
from ..tasks.task_check import check_task
from . import objective
from .space import Space, default_space

# the batches' part (tune_batches) and the workers' (tune_workers): what tune uses, and the rest importable from
# here as before (`X as X`: a re-export)
from .tune_batches import _by_forecast as _by_forecast
from .tune_batches import _record as _record
from .tune_batches import _run_batch, fit_forecast
from .tune_batches import _tell as _tell
from .tune_batches import _train_trials as _train_trials
from .tune_trials import best_trials, confirm_best, handed_out, trials_frame
from .tune_workers import (
    GRACE_S,
    HEARTBEAT_S,
    _LiveView,
    _picklable,
    _run_processes,
    _storage,
    quiet,
    run_worker,
)
from .tune_workers import POLL_S as POLL_S
from .tune_workers import STOP_S as STOP_S
from .tune_workers import WORKER_ID as WORKER_ID
from .tune_workers import _ask_trials as _ask_trials
from .tune_workers import _counts as _counts
from .tune_workers import _fail_stale as _fail_stale
from .tune_workers import _sigint_deferred as _sigint_deferred
from .tune_workers import _stop as _stop
from .tune_workers import _worker_loop as _worker_loop
from .tune_workers import _worker_main as _worker_main
from .tune_workers import status_line as status_line

SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("fair", "asha", "hyperband", "median", "none")
MAX_ASK = 1024
"""The most trials one worker asks at once: `batch`, times the candidates of `forecast` when it is on. Each asked
trial is a row of the study with a heartbeat of its own, and a batch trains as one stack, so a larger batch (or batch
x forecast) is refused before anything is created."""


# -- storage ---------------------------------------------------------------------------------------------
def storage_url(storage: str | Path | None) -> str:
    """The SQLAlchemy URL of a tune storage: the study's and the run store's (one database holds both).

    None is DEFAULT_STORAGE (lrlab-runs/tune.db); the rest is `store.database_url`'s rule: a path is an SQLite file,
    made absolute so every worker finds the same file; postgresql:// is read as psycopg 3. Nothing is opened or
    created here: `tune` opens the storage as a run store first (`check_storage`), before Optuna touches it.

    Args:
        storage: an SQLite file path, an SQLAlchemy URL, or None.

    Raises:
        ValueError: an empty or non-string storage, a directory, or a URL SQLAlchemy cannot read.

    Examples:
        >>> from lrlab.lab.studies.tune import storage_url
        >>> storage_url("postgresql://me@db.example:5432/lrlab")
        'postgresql+psycopg://me@db.example:5432/lrlab'
        >>> storage_url("studies/tune.db").startswith("sqlite:////")
        True
    """
    from ..store import database_url, sqlite_path

    if storage is None:
        storage = DEFAULT_STORAGE
    if not isinstance(storage, (str, Path)) or not str(storage).strip():
        raise _check.fail("tune", "storage", "a database URL or an SQLite file path", storage)
    url = database_url(storage)
    path = sqlite_path(url)
    if path is not None and path.is_dir():
        raise ValueError(f"tune: storage must be a file or a URL, got the directory {str(path)!r}")
    return url


def check_storage(storage: str | Path | None) -> str:
    """Open a tune storage as a run store, before Optuna touches it; its URL when it can hold a study and runs.

    The run store's checks decide (lrlab.lab.store.Store, opened for writing): a file that is not a regular file,
    not SQLite or damaged, a database of another program (left unchanged: Optuna has not created its tables yet), a
    store of a newer schema, a server that cannot be reached, a URL without a driver: each is one line, before
    anything is trained. A new storage gets the run store's tables (Optuna adds its own beside them).

    Args:
        storage: an SQLite file path, an SQLAlchemy URL, or None (DEFAULT_STORAGE).

    Raises:
        ValueError: a storage that cannot hold a study and runs (one line naming it, its password hidden).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.studies.tune import check_storage
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     url = check_storage(Path(folder) / "studies" / "tune.db")
        ...     print(url.startswith("sqlite:///"), (Path(folder) / "studies" / "tune.db").is_file())
        True True
        >>> check_storage("sqlite:///:memory:")
        Traceback (most recent call last):
        ...
        ValueError: the run store 'sqlite:///:memory:': give an SQLite file (sqlite:///path.db), not an in-memory...
    """
    from ..store import Store

    url = storage_url(storage)
    Store(DEFAULT_STORAGE if storage is None else storage).close()
    return url


# -- settings --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Settings:
    """What a worker needs (picklable, for worker processes): the task, the space, the run options and the
    study's whereabouts; `start` readies a worker (lrlab.lab.studies.tune_workers runs its loop)."""

    task: Any  # a Task, or its registered name where the Task cannot be pickled
    space: str
    epochs: int
    trials: int
    batch: int
    seed: int
    sampler: str
    pruner: str
    url: str
    study: str
    metric: str
    direction: str
    optimizer: str | None = None
    batch_size: Any = TASK_DEFAULT
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    dtype: str | None = None
    device: str = "cpu"
    heartbeat_s: int = HEARTBEAT_S
    grace_s: int = GRACE_S
    threads: int | None = None
    forecast: int = 0  # candidates asked per trained trial (0: no forecast)
    fc: Any = None  # the fitted Forecast ranking them
    steps: int = 0  # updates of a trial: the forecasts' horizon
    budget_steps: int | None = None  # an experiment's budget in steps (None: in epochs)
    n_val: int = 0  # accuracy ties broken by val_loss (lrlab.lab.studies.objective): the validation samples; 0: off

    def fingerprint(self) -> dict[str, Any]:
        """The settings a study is bound to: a worker joining with others is refused."""
        task = self.task if isinstance(self.task, str) else self.task.name
        out = {"task": task, "space": self.space, "epochs": self.epochs, "seed": self.seed, "metric": self.metric,
               "optimizer": self.optimizer, "batch_size": repr(self.batch_size), "dtype": self.dtype,
               "optimizer_kwargs": json.dumps(self.optimizer_kwargs, sort_keys=True, default=repr)}
        if self.forecast:  # only then: studies made before --forecast existed keep their fingerprint
            out["forecast"] = self.forecast
        if self.n_val:  # another objective, another study
            out["objective"] = f"accuracy then val_loss (n_val {self.n_val})"
        if isinstance(self.task, Experiment):  # a training function: its identity (a new version, a new study)
            out.update(task=self.task.identity, budget_steps=self.budget_steps)
        return out

    def options(self) -> RunOptions:
        return RunOptions(optimizer=self.optimizer, epochs=self.epochs, batch_size=self.batch_size, seed=self.seed,
                          optimizer_kwargs=self.optimizer_kwargs)

    def start(self, worker: int) -> tuple[Any, Callable[[int], dict[str, Any]]]:
        """A worker's start (its loop: lrlab.lab.studies.tune_workers): the task, its space and data made ready,
        then the study opened for worker `worker`. Returns the study and how the worker trains up to n trials of it
        ({"finished", "failed", "error"}): a batch of a built-in task's, one call of a training function
        (lrlab.lab.studies.tune_function)."""
        function = isinstance(self.task, Experiment)
        task = self.task if function else resolve_task(self.task)
        space = Space(self.space)
        data = None if function else task.load(self.seed)
        study = _open_study(self, worker)
        if function:  # a user's training function: one trial, then the worker counts again
            from .tune_function import run_trials

            return study, lambda n: run_trials(study, self, task, space, 1)
        return study, lambda n: _run_batch(study, self, task, data, space, min(self.batch, n))


def _objective(rank: Ranking) -> tuple[str, str]:
    """(history column, Optuna direction) of the objective: the figure the leaderboards rank by (a Ranking; a
    Task's is `task_ranking(task, has_val)`)."""
    return rank.metric, "maximize" if rank.higher_is_better else "minimize"


def _sampler(name: str, seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _pruner(name: str, epochs: int) -> Any:
    import optuna

    from .rungs import REDUCTION, min_resource

    if name in ("asha", "fair"):  # the first rung at a quarter of the budget; fair reports cooldowns (.rungs)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource(epochs), reduction_factor=REDUCTION)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


def _guard(url: str) -> Any:
    """The run store's one-line errors for a failure of the storage's database under Optuna (lrlab.lab.store.guard),
    Optuna's StorageInternalError read by its cause."""
    from optuna.exceptions import StorageInternalError

    from ..store import guard

    return guard(url, wrapped=(StorageInternalError,))


def _open_study(s: _Settings, worker: int) -> Any:
    """The study (created, or joined: then its settings must be these), its sampler seeded for this worker."""
    import optuna

    from ..store import display_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _guard(s.url):  # a failure of the database is the run store's one line
        storage = _storage(s)
        study = optuna.create_study(storage=storage, study_name=s.study, direction=s.direction, load_if_exists=True,
                                    sampler=_sampler(s.sampler, None), pruner=_pruner(s.pruner, s.epochs))
        mine = s.fingerprint()
        theirs = study.user_attrs.get("lrlab")
        if theirs is None:
            study.set_user_attr("lrlab", mine)
        elif theirs != mine:
            differ = sorted(k for k in mine if theirs.get(k) != mine[k])
            raise ValueError(f"tune: study {s.study!r} in {display_name(s.url)} was started with other settings "
                             f"({', '.join(differ)}); give another --study, or the same settings to join it")
        if study.direction.name.lower() != s.direction:
            raise ValueError(f"tune: study {s.study!r} {study.direction.name.lower()}s, not {s.direction}")
        # seeds: worker i of this machine seed + i; a worker joining a study with trials also adds their count, so
        # machines that join at different moments do not draw the same candidates
        study.sampler = _sampler(s.sampler, s.seed + worker + len(study.get_trials(deepcopy=False)))
    return study


# -- the result ------------------------------------------------------------------------------------------
@dataclass
class TuneResult:
    """What `tune` found: the best spec, every trial, and the confirmation's leaderboard.

    best_spec is the confirmed leaderboard's first spec (the best trial's without confirmation).

    Args:
        best_spec: the answer.
        trials: one row per trial (`trials_frame`).
        leaderboard: the confirmation's ranking (None without confirmation).
        study: the optuna Study.
        comparison: the confirmation's Comparison (None without).
        storage: the storage's URL.
        metric: the objective's history column, the figure the leaderboards rank by (val_accuracy, val_bpb, val_loss
            or loss).
        forecast: the fitted Forecast with forecast=M (None without; its `warning` set when the search fell back to
            the plain one).

    Examples:
        >>> import pandas as pd
        >>> from lrlab.lab.studies.tune import TuneResult
        >>> TuneResult(best_spec="cosine(0.5)", trials=pd.DataFrame({"number": [0, 1]}), leaderboard=None, study=None,
        ...            comparison=None, storage="sqlite:///tune.db", metric="val_accuracy")
        TuneResult(best_spec='cosine(0.5)', trials=2)
    """

    best_spec: str
    trials: Any
    leaderboard: Any
    study: Any
    comparison: Any
    storage: str
    metric: str
    forecast: Any = None

    def __repr__(self) -> str:
        return f"TuneResult(best_spec={self.best_spec!r}, trials={len(self.trials)})"


# -- tune --------------------------------------------------------------------------------------------------
def _study_name(settings: _Settings) -> str:
    """The task's name and a digest of the settings a study is bound to (`_Settings.fingerprint`)."""
    digest = hashlib.sha256(json.dumps(settings.fingerprint(), sort_keys=True).encode()).hexdigest()[:8]
    name = settings.task if isinstance(settings.task, str) else settings.task.name
    return f"{name}-{digest}"


def tune(
    task: Task | str,
    space: str | None = None,
    *,
    trials: int = 64,
    epochs: int | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    workers: int = 1,
    sampler: str = "tpe",
    pruner: str = "fair",
    confirm: int = 5,
    seeds: int = 5,
    batch: int = 16,
    seed: int = 0,
    peak_from_find: bool = False,
    optimizer: str | None = None,
    batch_size: Any = TASK_DEFAULT,
    dtype: str | None = None,
    device: str = "auto",
    progress: bool = True,
    heartbeat_s: int = HEARTBEAT_S,
    grace_s: int = GRACE_S,
    threads: int | None = None,
    forecast: int = 0,
    **optimizer_kwargs: Any,
) -> TuneResult:
    """Search a space of schedules with Optuna for the one that trains `task` best, then confirm it on fresh seeds.

    The space defaults to `default_space` around the task's rate (or around `lrlab find`'s valley rate with
    peak_from_find); trials train `epochs` epochs (default: the task's) in stacked batches with the pruner watching
    every epoch, and the `confirm` best trials train again on `seeds` fresh seeds (see the module docstring).

    Args:
        task: a Task or a task name, or a user's training function declared with `lrlab.lab.tasks.experiment` (or its
            reference, "path/to/train.py:name"): trials call it one after another (lrlab.lab.studies.tune_function).
        space: the search space (lrlab.lab.studies.space syntax); None: the default space (for a training function, with
            peak_from_find only: it declares no rate).
        trials: the study's total number of finished trials, however many workers joined.
        epochs: epochs per trial (None: the task's).
        storage: an SQLite path or URL, or postgresql://... (None: lrlab-runs/tune.db); it also holds the run store.
        study: the study's name (None: the task's name and a digest of the space, epochs, seed and run options, so
            the same call resumes its study); the same call elsewhere with the same storage and study joins it.
        workers: worker processes to start on this machine (1: this process).
        sampler: tpe, random or cmaes.
        pruner: fair (successive halving, each rung judging a trial by a cooldown branched from it:
            lrlab.lab.studies.rungs; the default), asha (successive halving at equal epochs), hyperband, median or
            none. For a training function, fair is asha (a function cannot be branched).
        confirm: best trials to confirm (0 skips the confirmation).
        seeds: fresh seeds per confirmed trial: seed+1 .. seed+seeds.
        batch: trials asked and trained together as one stack (at most MAX_ASK, 1024; with forecast, batch x
            forecast at most MAX_ASK; a training function's are asked one at a time).
        seed: the trials' seed.
        peak_from_find: centre the default space on the range test's valley rate (`find_peak`).
        optimizer: as `lrlab.lab.studies.compare`.
        batch_size: as `lrlab.lab.studies.compare` (refused for a training function: it batches its own data).
        dtype: as `lrlab.lab.studies.compare` (refused for a training function).
        device: as `lrlab.lab.studies.compare`.
        progress: a live view on stderr (and the confirmation's bars).
        heartbeat_s: seconds between Optuna heartbeats of a worker's running trials.
        grace_s: seconds without a beat after which a trial is marked FAIL (> heartbeat_s).
        threads: torch CPU threads in each worker (None: torch's default).
        forecast: M >= 2 ranks M x batch candidates per batch by a loss law's forecast and trains only the best
            batch (module docstring; `fit_forecast`, at the space's centre rate); 0 (default) trains every trial.
        **optimizer_kwargs: optimizer options, as `lrlab.lab.studies.compare`.

    Returns:
        A TuneResult.

    Raises:
        ValueError: a bad option (before any training), a study started with other settings, or no trial that
            finished without diverging or being pruned.

    Examples:
        A search needs an Optuna storage, so it is shown, not run:

            result = tune("mnist1d", trials=64, epochs=20, storage="lrlab-runs/tune.db")
            print(result.best_spec)
            print(result.leaderboard)

        Options are checked before anything is created or trained:

        >>> from lrlab.lab.studies.tune import tune
        >>> tune("or3", trials=0)
        Traceback (most recent call last):
        ...
        ValueError: tune: trials must be a whole number >= 1, got 0
    """
    import optuna

    from .compare import resolve_target

    task = resolve_target(task)
    function = isinstance(task, Experiment)
    trials = _check.whole("tune", "trials", trials, 1)
    workers = _check.whole("tune", "workers", workers, 1, 512)
    batch = _check.whole("tune", "batch", batch, 1, MAX_ASK)
    confirm = _check.whole("tune", "confirm", confirm, 0)
    seeds = _check.whole("tune", "seeds", seeds, 1)
    seed = _check.whole("tune", "seed", seed, 0, 2**31)
    device = resolve_device(device)
    heartbeat_s = _check.whole("tune", "heartbeat_s", heartbeat_s, 1)
    grace_s = _check.whole("tune", "grace_s", grace_s, 1)
    forecast = _check.whole("tune", "forecast", forecast, 0, 1000)
    if forecast == 1:
        raise ValueError("tune: forecast must be 0 (off) or a number of candidates per trained trial >= 2, got 1")
    if batch * max(forecast, 1) > MAX_ASK:
        raise ValueError(f"tune: batch x forecast (the trials a worker asks at once) must be at most {MAX_ASK}, got "
                         f"batch {batch} x forecast {forecast} = {batch * forecast}")
    sampler = _check.choice("tune", "sampler", sampler, SAMPLERS)
    pruner = _check.choice("tune", "pruner", pruner, PRUNERS)
    if grace_s <= heartbeat_s:
        raise ValueError(f"tune: grace_s must exceed heartbeat_s ({heartbeat_s}), got {grace_s}")
    base = RunOptions(optimizer=optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
                      optimizer_kwargs=optimizer_kwargs)
    budget_steps = None
    if function:  # a user's training function (lrlab.lab.studies.tune_function): no rate of its own, no data here
        from .tune_function import prepare

        got = prepare(task, space, epochs=epochs, peak_from_find=peak_from_find, batch_size=batch_size,
                      dtype=dtype, forecast=forecast)
        epochs, steps, budget_steps, peak, n_val = got["epochs"], got["steps"], got["budget_steps"], None, 0
        space_text, metric, direction = got["space"], got["metric"], got["direction"]
    else:
        data = task.load(seed)
        resolved = base.resolve(task, data)
        check_task(task, data, dtype)  # here, not in the first trial's plan: a refused task would fail every trial
        epochs = int(resolved.epochs)
        steps = epochs * resolved.steps_per_epoch(len(data.train))
        peak = task.lr
        space_text = None if space is None else Space(space).text
        metric, direction = _objective(task_ranking(task, len(data.val) > 0))
        n_val = objective.tie_break(metric, len(data.val), len(data.val) > 0)
    budget = {"epochs": None, "steps": budget_steps} if budget_steps else {"epochs": epochs}
    if study is not None and (not isinstance(study, str) or not study.strip()):
        raise _check.fail("tune", "study", "a non-empty name", study)
    url = check_storage(storage)  # before Optuna touches the database, and before anything trains (find_peak too)
    if peak_from_find and (space_text is None or (function and forecast)):  # a function's forecast: its rate
        size = {} if function else {"batch_size": batch_size}
        peak = find_peak(task, optimizer=optimizer, **size, **optimizer_kwargs)
    if space_text is None:
        space_text = Space(default_space(steps, peak)).text
    fc = None
    if forecast:
        from .forecast import horizon

        horizon(steps, "tune: forecast")  # the candidates are forecast over the trials' steps: at most MAX_HORIZON
        print(f"tune: fitting the forecast law to 3 runs at rate {peak:g} (trained or reused from the run store)…",
              file=sys.stderr, flush=True)
        fc = fit_forecast(task, peak, steps, seed=seed, db=url, progress=progress, optimizer=optimizer,
                          batch_size=batch_size, dtype=dtype, device=device, **budget, **optimizer_kwargs)
        print(f"tune: forecast {fc.summary()}", file=sys.stderr)
        if fc.warning:
            print(f"tune: WARNING: {fc.warning}\ntune: --forecast falls back to the plain search (every asked trial "
                  "is trained)", file=sys.stderr, flush=True)
    settings = _Settings(task=task if function else _picklable(task), space=space_text, epochs=epochs, trials=trials,
                         batch=batch, seed=seed, sampler=sampler, pruner=pruner, url=url, study=study or "",
                         metric=metric, direction=direction, optimizer=optimizer, batch_size=batch_size,
                         optimizer_kwargs=dict(optimizer_kwargs), dtype=dtype, device=device,
                         heartbeat_s=heartbeat_s, grace_s=grace_s, threads=threads,
                         forecast=forecast if fc is not None and not fc.warning else 0,
                         fc=fc if fc is not None and not fc.warning else None, steps=steps,
                         budget_steps=budget_steps, n_val=n_val)
    if function and workers > 1:
        pickle.dumps(task)  # an experiment without a reference: its one-line ValueError before the study starts
    if study is None:
        settings = dataclasses.replace(settings, study=_study_name(settings))
    name = settings.study
    with quiet():
        _open_study(settings, 0)  # creates it (and its tables) before any worker starts
    view = _LiveView(settings) if progress else contextlib.nullcontext()
    with view:
        if workers == 1:
            run_worker(settings, 0)
        else:
            _run_processes(settings, workers)
    with quiet(), _guard(url):
        the_study = optuna.load_study(study_name=name, storage=_storage(settings))
    frame = trials_frame(the_study)
    comparison, board = confirm_best(the_study, task, confirm, seeds, seed=seed, db=url, optimizer=optimizer,
                                     batch_size=batch_size, dtype=dtype, device=device, progress=progress, **budget,
                                     **optimizer_kwargs)
    if board is not None and not board.empty:
        best_spec = str(board["schedule"].iloc[0])
    elif best_trials(the_study, 1):
        best_spec = handed_out(str(best_trials(the_study, 1)[0].user_attrs["spec"]))
    else:
        raise ValueError(f"tune: no trial of study {name!r} finished without diverging or being pruned")
    return TuneResult(best_spec=best_spec, trials=frame, leaderboard=board, study=the_study, comparison=comparison,
                      storage=url, metric=metric, forecast=fc)


def find_peak(task: Task | Experiment, seeds: int | Iterable[int] = 3, **kwargs: Any) -> float:
    """The valley rate of `lrlab find` on the task (median over seeds, 3 significant digits), to centre a space on.

    `tune(peak_from_find=True)` calls it; on a training function the range test calls the function
    (`lrlab.lab.studies.find.find_function`).

    Args:
        task: the Task, or an Experiment.
        seeds: a count n (seeds 0..n-1) or a list of seeds.
        **kwargs: `lrlab.lab.studies.find.find_lr`'s options (optimizer, start_lr, end_lr, steps, ...).

    Raises:
        ValueError: the range test suggested no rate.

    Examples:
        >>> from lrlab.lab.tasks.task import get_task
        >>> from lrlab.lab.studies.tune import find_peak
        >>> find_peak(get_task("or3"), seeds=1, steps=20, start_lr=1e-3)
        0.0298
    """
    from .find import find_lr

    found = find_lr(task, seeds=seeds, **kwargs)
    peak = found.suggestions["valley"]
    if not math.isfinite(peak) or peak <= 0:
        raise ValueError(f"tune: the range test on {task.name!r} suggested no rate; give a space or drop "
                         "--peak-from-find")
    return float(f"{peak:.3g}")
