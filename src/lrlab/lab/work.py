"""Which runs a process trains, and when: the one loop by which studies and workers share runs through the store.

Plans with equal configs train once. Each round the loop takes the engine's next group of the runs not yet done
(a stack, or one run), asks the store for each (`Store.try_claim`: a stored run is reused, a free one is claimed,
one another live process trains is left to it), trains what it claimed and saves each run as its claim ends. It
waits only when every run left is held by another process, and never while holding a claim it has not trained:
so two studies on one store split the runs and never wait on each other in a cycle, and a process killed with
kill -9 loses only the runs it held, which the others take over once its claims are stale.

`run_workers` runs the same loop in worker processes on this machine (each takes the next unclaimed run);
processes on other machines join by running the same study on the same database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from .run import Run
from .store import Store, config_key

Groups = Callable[[list[int]], list[list[int]]]
Train = Callable[[list[int]], list[Run]]


def _relabel(run: Run, plan: Any) -> Run:
    """A stored (or twin) run shown under this plan's label (labels are not part of a run's identity)."""
    run.config["label"] = plan.config["label"]
    return run


def run_plans(plans: Sequence[Any], *, store: Store | None, groups: Groups, train: Train, fresh: bool = False,
              retry_failed_before: int | None = None, on_wait: Callable[[str], Any] | None = None,
              poll_s: float | None = None, ours: frozenset[str] = frozenset()) -> list[Run]:
    """Every plan's run, in plan order: reused from the store, trained here, or trained by another process.

    Args:
        plans: the plans (anything with a `config`).
        store: the run store shared with other processes, or None (train everything, share nothing).
        groups: the engine's grouping of plan indices into what trains together (stacks, or single runs).
        train: trains the plans of one group (indices), returning their runs in that order.
        fresh: train again the runs stored before this study (ids up to `retry_failed_before`, its mark); what
            other processes and workers store meanwhile is reused.
        retry_failed_before: the study's mark (`Store.last_id` when it began): failed runs stored up to it train
            again (`Store.try_claim`).
        on_wait: called once with "waiting for pid P on HOST" when the loop first waits on another process.
        poll_s: seconds between looks at runs others hold (default: the store's poll_s).
        ours: the keys of runs this call's own worker processes trained (not marked `reused`).

    Returns:
        The runs in plan order; `run.reused` is True for a run taken from the store (stored before, or trained by
        another process), False for one trained here or by this call's workers.
    """
    n = len(plans)
    runs: list[Run | None] = [None] * n
    first: dict[str, int] = {}
    twins: dict[int, int] = {}  # plan index -> the index of the plan with the same config that trains
    for i, p in enumerate(plans):
        key = config_key(p.config)
        if key is not None and key in first:
            twins[i] = first[key]
        elif key is not None:
            first[key] = i
    todo = [i for i in range(n) if i not in twins]
    announced = False
    while todo:
        deferred: list[int] = []
        for group in groups(todo):
            with contextlib.ExitStack() as held:
                claims: dict[int, Any] = {}
                mine: list[int] = []
                for i in group:
                    if store is None:
                        mine.append(i)
                        continue
                    claim = store.try_claim(plans[i].config, retry_failed_before=retry_failed_before,
                                            stale_upto=retry_failed_before if fresh else None)
                    if claim.run is not None:
                        runs[i] = _relabel(claim.run, plans[i])
                        runs[i].reused = config_key(plans[i].config) not in ours
                    elif claim.busy is not None:
                        deferred.append(i)
                        if on_wait is not None and not announced:
                            on_wait(f"waiting for {claim.busy}")
                            announced = True
                    else:
                        claims[i] = held.enter_context(claim)
                        mine.append(i)
                if not mine:
                    continue
                for i, run in zip(mine, train(mine)):
                    if i in claims:
                        claims[i].save(run)
                    runs[i] = run
        todo = deferred
        if todo:
            time.sleep(store.poll_s if poll_s is None and store is not None else (poll_s or 0.5))
    for i, j in twins.items():
        twin = runs[j]
        assert twin is not None
        runs[i] = dataclasses.replace(twin, config={**twin.config, "label": plans[i].config["label"]})
    return [r for r in runs if r is not None]


# -- worker processes ------------------------------------------------------------------------------
def _worker_main(target: Any, configs: list[dict[str, Any]], db: str, mark: int, index: int,
                 device: str | None, done: Any, threads: int, fresh: bool) -> None:
    """A worker process: rebuild the plans and run the loop on the shared store, one line per finished run."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    with contextlib.suppress(ImportError):  # the cores shared out: torch's default is all of them in every worker
        import torch

        torch.set_num_threads(threads)
    from .engines.function import execute_function, plan_from_config

    plans = [plan_from_config(target, c) for c in configs]

    def train(indices: list[int]) -> list[Run]:
        out = []
        for i in indices:
            run = execute_function(plans[i])
            shown = f"{run.status}: {run.error}" if run.error else run.status
            print(f"lrlab: worker {index} (pid {os.getpid()}): {run.label} seed {run.seed}: {shown} "
                  f"({run.wall_s:.1f} s)", file=sys.stderr, flush=True)
            done.put(config_key(run.config))
            out.append(run)
        return out

    try:
        with Store(db) as store:
            run_plans(plans, store=store, groups=lambda todo: [[i] for i in todo], train=train,
                      retry_failed_before=mark, fresh=fresh)
    except KeyboardInterrupt:
        sys.exit(130)


def run_workers(target: Any, plans: Sequence[Any], *, db: str, workers: int, mark: int,
                devices: Sequence[str] | None = None, fresh: bool = False) -> frozenset[str]:
    """Train `plans` (of one experiment) in `workers` processes on this machine sharing the store `db`; returns
    when they end (each run is then stored) the keys of the runs they trained. A worker that fails is reported;
    its runs are left to the caller.

    devices: GPU ids handed out round robin, one per worker (its CUDA_VISIBLE_DEVICES).
    fresh: train again what was stored up to `mark` (as `run_plans`).
    Each worker's torch uses cpu_count // workers threads (at least one), so the workers share the cores.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    configs = [dict(p.config) for p in plans]
    done = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, daemon=False,
                         args=(target, configs, db, mark, w, None if not devices else devices[w % len(devices)],
                               done, max(1, (os.cpu_count() or 1) // workers), fresh))
             for w in range(workers)]
    trained: set[str] = set()
    try:
        for proc in procs:
            proc.start()
        while any(proc.is_alive() for proc in procs) or not done.empty():
            with contextlib.suppress(queue.Empty):
                trained.add(done.get(timeout=0.2))
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
    bad = [f"worker {w} (exit {proc.exitcode})" for w, proc in enumerate(procs) if proc.exitcode != 0]
    if bad:
        print(f"lrlab: {', '.join(bad)} ended early; this process trains what they left", file=sys.stderr)
    return frozenset(trained)
