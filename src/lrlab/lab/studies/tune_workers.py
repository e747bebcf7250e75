"""The workers of a tune search: each worker's loop on the shared study, trials asked with heartbeats, the worker
processes with their Ctrl-C, the live view; opening the study and training come from lrlab.lab.studies.tune (`start`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import socket
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from ...schedules.spec import rounded

if TYPE_CHECKING:
    from ..tasks.task import Task
    from .tune import _Settings

HEARTBEAT_S = 10
"""Seconds between a worker's heartbeats for its running trials."""
GRACE_S = 60
"""Seconds without a heartbeat after which another worker marks a trial FAIL."""
POLL_S = 1.0
"""How often (seconds) a worker waiting for other workers' trials looks again."""
STOP_S = 20.0
"""After Ctrl-C, how long (seconds) the worker processes get to tell their running trials FAIL and exit."""
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
"""Who ran a trial (its user attribute "worker"): host and process id."""


# -- the storage -----------------------------------------------------------------------------------------
def _storage(s: _Settings) -> Any:
    """Optuna's RDBStorage for the settings' URL, with its heartbeat. An SQLite file is put in WAL mode with
    synchronous=NORMAL: a commit then survives the death of its process (kill -9) and never leaves the file
    damaged, without the fsync per commit that made each reported epoch cost ~10 ms (only a power cut can lose the
    last commits)."""
    import optuna

    kwargs: dict[str, Any] = {}
    if s.url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}  # workers write the same file: wait for a lock, do not fail
    storage = optuna.storages.RDBStorage(s.url, engine_kwargs=kwargs, heartbeat_interval=s.heartbeat_s,
                                         grace_period=s.grace_s)
    if s.url.startswith("sqlite"):
        from sqlalchemy import event

        def pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()  # the connections opened while creating the tables get the pragmas too
    return storage


def _counts(study: Any) -> dict[str, int]:
    from optuna.trial import TrialState

    out = {"complete": 0, "pruned": 0, "running": 0, "failed": 0, "waiting": 0, "forecast": 0}
    names = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.RUNNING: "running",
             TrialState.FAIL: "failed", TrialState.WAITING: "waiting"}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.PRUNED and t.user_attrs.get("status") == "forecast":
            out["forecast"] += 1  # never trained: not a finished trial of the count
        else:
            out[names[t.state]] += 1
    return out


@contextlib.contextmanager
def quiet() -> Any:
    """A context manager that silences Optuna's warnings about the features tune uses as documented.

    Those are the ExperimentalWarning of experimental arguments and the warning that heartbeats are meant for
    Study.optimize (tune uses them with ask-and-tell); every other warning still shows.

    Examples:
        >>> import warnings
        >>> from optuna.exceptions import ExperimentalWarning
        >>> from lrlab.lab.studies.tune_workers import quiet
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     with quiet():
        ...         warnings.warn("an experimental argument", ExperimentalWarning)
        ...         warnings.warn("something else", UserWarning)
        >>> [str(w.message) for w in caught]
        ['something else']
    """
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def _fail_stale(study: Any) -> None:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fail_stale_trials is marked experimental
        optuna.storages.fail_stale_trials(study)


# -- the worker ------------------------------------------------------------------------------------------
def run_worker(s: _Settings, worker: int = 0) -> int:
    """One worker's loop on the study (lrlab.lab.studies.tune's docstring); returns how many trials it finished.

    It asks trials in batches of at most `batch` (so the study ends with `trials` finished ones), trains each batch
    as one stack with Optuna's pruner watching every epoch, and tells them; `tune` runs it in this process
    (workers=1) or in each worker process. Optuna's warnings about documented uses are silenced (`quiet`).

    Args:
        s: the worker's settings (`tune` builds them: task, space, epochs, trials, storage URL and study, ...).
        worker: this worker's index on the machine (its sampler is seeded with seed + worker + trials so far).

    Examples:
        A worker needs a study in a storage, so it is shown, not run (`tune(..., workers=4)` starts four):

            run_worker(settings, worker=1)

        Each trial it runs names it in its "worker" user attribute, host and process id:

        >>> from lrlab.lab.studies.tune_workers import WORKER_ID
        >>> import os
        >>> WORKER_ID.endswith(f":{os.getpid()}")
        True
    """
    with quiet():
        return _worker_loop(s, worker)


def _worker_loop(s: _Settings, worker: int) -> int:
    import torch

    if s.threads is not None:
        torch.set_num_threads(s.threads)
    study, train = s.start(worker)  # the task made ready, the study opened (lrlab.lab.studies.tune)
    finished = failed = 0
    while True:
        _fail_stale(study)
        c = _counts(study)
        done = c["complete"] + c["pruned"]
        room = s.trials - done - c["running"] - c["waiting"]
        if room <= 0:
            if done >= s.trials or c["running"] == 0:
                return finished
            time.sleep(POLL_S)  # others' trials run: wait for them (or for their worker's heartbeat to stop)
            continue
        told = train(room)
        finished += told["finished"]
        failed += told["failed"]
        if failed >= max(10, s.trials) and not finished:
            raise ValueError(f"tune: the first {failed} trials all failed; the last: {told['error']}")


@contextlib.contextmanager
def _sigint_deferred() -> Any:
    """SIGINT held back for the block (where the platform can, in the main thread), delivered when it ends: a
    Ctrl-C inside Optuna's `ask` would leave a RUNNING trial that no one names and no one fails."""
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _ask_trials(study: Any, n: int, trials: list[Any], beats: contextlib.ExitStack) -> None:
    """Ask n trials into `trials` (the caller's list, so that its cleanup sees every trial asked so far), each asked,
    named with this worker and kept as one step with SIGINT held back, then beating (its heartbeat thread entered
    into `beats`): a Ctrl-C lands before or after a trial is asked, never leaving one RUNNING that no one fails."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    for _ in range(n):
        with _sigint_deferred():
            trials.append(study.ask())
            trials[-1].set_user_attr("worker", WORKER_ID)  # a worker killed later leaves no anonymous trial
        beats.enter_context(get_heartbeat_thread(trials[-1]._trial_id, study._storage))


# -- worker processes ------------------------------------------------------------------------------------
def _picklable(task: Task) -> Any:
    """The task itself when worker processes can receive it, else its registered name."""
    try:
        pickle.dumps(task)
        return task
    except Exception:
        return task.name


def _run_processes(s: _Settings, workers: int) -> None:
    """`workers` worker processes (spawn) on the study; ValueError naming the ones that failed.

    Ctrl-C (SIGINT to the process group, or to this process alone) ends the search cleanly: the workers are asked
    to stop (SIGINT: each tells its untold trials FAIL and exits 130) and given STOP_S seconds, then terminated;
    any trial of theirs still RUNNING is told FAIL here; finished trials stay in the study; KeyboardInterrupt goes
    on to the caller (the CLI: one line, exit 130)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(s, i), daemon=False) for i in range(workers)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        _stop(s, procs)
        raise
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
    bad = [f"worker {i} (exit {p.exitcode})" for i, p in enumerate(procs) if p.exitcode != 0]
    if bad:
        raise ValueError(f"tune: {', '.join(bad)} failed; the study keeps every finished trial")


def _stop(s: _Settings, procs: list[Any]) -> None:
    """After Ctrl-C: SIGINT to the workers still alive (a group's Ctrl-C reached them already; a SIGINT to this
    process alone did not), STOP_S seconds for them to tell their trials and exit, SIGTERM to the rest, then every
    RUNNING trial of theirs (user attribute "worker") told FAIL. A second Ctrl-C cuts the wait short."""
    import signal

    from optuna.trial import TrialState

    for p in procs:
        if p.is_alive() and p.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGINT)
    end = time.monotonic() + STOP_S
    for p in procs:
        p.join(max(0.0, end - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(STOP_S)
    ids = {f"{socket.gethostname()}:{p.pid}" for p in procs}
    with quiet(), contextlib.suppress(Exception):  # the study as it is: what could not be told, heartbeats fail later
        import optuna

        study = optuna.load_study(study_name=s.study, storage=_storage(s))
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker") in ids:
                study.tell(t.number, state=TrialState.FAIL)


def _worker_main(s: _Settings, worker: int) -> None:
    """The entry point of a worker process (multiprocessing, spawn). The first SIGINT (Ctrl-C reaches the whole
    process group; `_stop` sends one too) interrupts the worker, later ones are ignored, so telling its trials FAIL
    is not cut short; it then exits 130 without a traceback. An interrupt that lands inside a finalizer (a weakref
    callback of SQLAlchemy's, say) is swallowed there by Python, which prints "Exception ignored": it is raised
    again instead, at the next bytecode in the main thread."""
    import signal

    flags = {"raised": False, "again": False}
    default_hook = sys.unraisablehook

    def interrupt(signum: int, frame: Any) -> None:
        if flags["raised"] and not flags["again"]:
            return
        flags["raised"], flags["again"] = True, False
        # a query this cuts short makes SQLAlchemy log its cursor's failed close with a traceback: the interrupt's
        # one line says it all
        logging.getLogger("sqlalchemy").setLevel(logging.CRITICAL)
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):  # swallowed by a finalizer: deliver it once more
            flags["again"] = True
            os.kill(os.getpid(), signal.SIGINT)
            return
        default_hook(info)

    sys.unraisablehook = unraisable
    signal.signal(signal.SIGINT, interrupt)
    try:
        run_worker(s, worker)
    except KeyboardInterrupt:
        sys.exit(130)


# -- the live view ---------------------------------------------------------------------------------------
class _LiveView:
    """A rich line on stderr, refreshed every second from the storage: trials done, pruned, running, best."""

    def __init__(self, s: _Settings) -> None:
        from rich.console import Console
        from rich.live import Live

        self.s = s
        self.study: Any = None
        self.live = Live("", console=Console(stderr=True), refresh_per_second=2, transient=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _LiveView:
        self.live.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._update()
        self.live.stop()
        self.live.console.line()

    def _loop(self) -> None:
        while not self.stop.wait(1.0):
            with contextlib.suppress(Exception):  # the study may not exist yet, or the file be locked a moment
                self._update()

    def _update(self) -> None:
        import optuna

        if self.study is None:
            with quiet():
                self.study = optuna.load_study(study_name=self.s.study, storage=_storage(self.s))
        self.live.update(status_line(self.study, self.s.trials))


def status_line(study: Any, total: int) -> str:
    """The live view's line: trials done of the total (pruned), running, failed, and the best value with its spec.

    Trials pruned by the forecast (never trained) are counted apart, as "not trained (forecast)".

    Args:
        study: the optuna Study.
        total: the study's number of trials asked for.

    Examples:
        >>> import optuna
        >>> from lrlab.lab.studies.tune_workers import status_line
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(direction="maximize")  # in memory
        >>> for spec, value in [("cosine(0.5)", 0.9), ("constant(0.5)", 0.8)]:
        ...     trial = study.ask()
        ...     trial.set_user_attr("spec", spec)
        ...     _ = study.tell(trial, value)
        >>> status_line(study, 8)
        'trials done 2/8 (pruned 0), running 0, failed 0; best 0.9: cosine(0.5)'
    """
    c = _counts(study)
    text = (f"trials done {c['complete'] + c['pruned']}/{total} (pruned {c['pruned']}), running {c['running']}, "
            f"failed {c['failed']}")
    if c["forecast"]:
        text += f", not trained (forecast) {c['forecast']}"
    try:
        best = study.best_trial
    except ValueError:
        return text
    return f"{text}; best {best.value:.4g}: {rounded(str(best.user_attrs.get('spec', '?')))}"
