"""`lrlab tune` against what a user would do instead (issue 25), at the same training budget, side by side.

Per task, four methods search the same space of schedules (the space `tune` searched, read back from its study) with
the same objective (tune's: the figure the leaderboards rank by, e.g. the final val_accuracy) and the same epochs
per run:

- **lrlab tune**: `lrlab.lab.tune(task, trials=T, epochs=E, storage=...)` with every other argument at its default,
  so the benchmark measures tune as it is today (sampler, pruner, batching, its own confirmation). Its winner is its
  answer, `best_spec`.
- **optuna TPE+median**: a plain Optuna study (in memory, `TPESampler(seed=0)`, `MedianPruner()` with Optuna's
  defaults), `study.optimize` with an objective that trains one trial after another on the sequential trainer
  (`lrlab.lab.engines.train.execute`), reports the objective every epoch and raises TrialPruned when told: what a
  user writes by hand. Winner: the best trial.
- **random search**: the same loop with `RandomSampler(seed=0)` and no pruning.
- **hand style**: `lrlab find`'s valley rate (3 seeds, 3 significant digits, as `find_peak`) put into the six
  families of the default space with their usual shapes, each trained once (seed 0); the best on validation wins.

The budget is total epochs trained (a pruned trial counts the epochs it ran). lrlab tune runs first and spends
what it spends (search + its own confirmation; pruning spends less than T x E); the two Optuna loops then train
trials until that many epochs are spent (a trial is started only while it fits in what is left). Hand style trains
six runs plus the range test (its steps counted in epochs). Epochs are counted where runs are trained: the engines
(`execute`, `execute_stack`) are wrapped for the benchmark and count each returned run's optimizer steps beyond
its starting checkpoint, divided by steps per epoch, so whatever tune trains (trials, confirmation, branches) is
counted. Nothing is reused: tune gets a fresh SQLite storage under lrlab-runs/bench/.

Confirmation: every method's winner, and its top 5 (distinct specs, by its own ranking: tune's confirmation board,
the loops' best trials, hand style's six by validation) train again on the same fresh seeds (1000.., never used by
any search) through `lrlab.lab.compare` (stacked, nothing stored). Printed per method: the winner's confirmed mean
(± std) and worst test figure, regret against the best confirmed winner of any method, the search's wall time and
epochs, and Kendall's tau (scipy, tau-b) between the method's ranking of its top 5 and their confirmed mean test
figure. Wall times are of one process on a shared machine: compare them within one invocation only.

    KERAS_BACKEND=torch python bench/tune_vs_optuna.py [--tasks quantiles,digits,mnist1d] [--budget-epochs N]
        [--epochs 20] [--seeds 10] [--threads 1] [--quick]

--budget-epochs N gives tune T = (N - confirm x seeds x E) // E trials (confirm, seeds: tune's defaults), so
its nominal spend is N; default: tune's default number of trials. --quick: 8 trials of 5 epochs, 2 seeds, for a
smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

TOP = 5
FRESH_SEED = 1000  # the confirmation's seeds: FRESH_SEED.. (tune's search uses 0, its confirmation 1..seeds)


# -- counting epochs where runs train ----------------------------------------------------------------------
class EpochCounter:
    """Wraps the engines' `execute` and `execute_stack` (in every lrlab module that holds them) and adds up the
    optimizer steps of each run they return, beyond its starting checkpoint, in epochs of that run."""

    def __init__(self) -> None:
        self.epochs = 0.0
        self.on = True
        self._undo: list[tuple[Any, str, Any]] = []

    def _count(self, runs: list[Any], starts: list[Any]) -> None:
        if not self.on:
            return
        for run, start in zip(runs, starts):
            steps = float(run.metrics.get("steps", 0) or 0) - float((start or {}).get("step", 0))
            per_epoch = run.config.get("steps_per_epoch") or 1
            self.epochs += max(0.0, steps) / per_epoch

    def __enter__(self) -> EpochCounter:
        from lrlab.lab.engines import stacked, train

        original_execute, original_stack = train.execute, stacked.execute_stack

        def execute(p: Any, *args: Any, **kwargs: Any) -> Any:
            run = original_execute(p, *args, **kwargs)
            self._count([run], [kwargs.get("start")])
            return run

        def execute_stack(plans: Any, *args: Any, **kwargs: Any) -> Any:
            runs = original_stack(plans, *args, **kwargs)
            self._count(runs, list(kwargs.get("starts") or [None] * len(runs)))
            return runs

        for name, module in list(sys.modules.items()):
            if not name.startswith("lrlab") or module is None:
                continue
            for attr, orig, new in (("execute", original_execute, execute),
                                    ("execute_stack", original_stack, execute_stack)):
                if getattr(module, attr, None) is orig:
                    self._undo.append((module, attr, orig))
                    setattr(module, attr, new)
        return self

    def __exit__(self, *exc: Any) -> None:
        for module, attr, orig in self._undo:
            setattr(module, attr, orig)

    @contextlib.contextmanager
    def paused(self) -> Any:
        self.on = False
        try:
            yield
        finally:
            self.on = True


# -- the methods -------------------------------------------------------------------------------------------
def run_tune(task: str, trials: int, epochs: int, storage: Path, progress: bool) -> dict[str, Any]:
    from lrlab.lab.studies.tune import tune

    start = time.perf_counter()
    result = tune(task, trials=trials, epochs=epochs, storage=storage, progress=progress)
    wall = time.perf_counter() - start
    board = result.leaderboard
    ranking = [str(s) for s in board["schedule"]][:TOP] if board is not None and not board.empty else [
        result.best_spec]
    frame = result.trials
    pruned = int((frame["state"] == "PRUNED").sum())
    return {"winner": result.best_spec, "ranking": ranking, "wall": wall, "study": result.study,
            "metric": result.metric, "space": result.study.user_attrs["lrlab"]["space"],
            "note": f"{len(frame)} trials ({pruned} pruned), confirmed its best {len(ranking)}"}


def run_optuna(task: Any, data: Any, space_text: str, metric: str, direction: str, epochs: int, budget: float,
               counter: EpochCounter, sampler: str) -> dict[str, Any]:
    """The hand-written Optuna loop: one trial after another on the sequential trainer until the budget is spent."""
    import optuna

    from lrlab.lab.engines.train import execute
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.compare import split_entry
    from lrlab.lab.studies.space import Space
    from lrlab.lab.studies.tune import best_trials

    space = Space(space_text)
    worst = 0.0 if direction == "maximize" else math.inf
    used0 = counter.epochs

    def objective(trial: Any) -> float:
        spec = space.sample(trial)
        trial.set_user_attr("spec", spec)
        sched, plat, _ = split_entry(spec)
        p = plan(task, sched, RunOptions(epochs=epochs, seed=0, plateau=plat), data=data, label=spec)

        def on_epoch(epoch: int, row: dict[str, Any]) -> bool:
            value = row.get(metric)
            if value is None or not math.isfinite(value):
                return False
            trial.report(float(value), epoch)
            return trial.should_prune()

        run = execute(p, on_epoch=on_epoch)
        trial.set_user_attr("status", run.status)
        if run.status == "pruned":
            raise optuna.TrialPruned()
        if run.status != "ok" or run.history.empty:
            return worst  # diverged: the worst value, as tune tells it
        return float(run.history[metric].iloc[-1])

    def stop_at_budget(study: Any, _trial: Any) -> None:
        if counter.epochs - used0 + epochs > budget:  # the next trial might not fit
            study.stop()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=0),
                                    pruner=optuna.pruners.MedianPruner())
    else:
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0),
                                    pruner=optuna.pruners.NopPruner())
    start = time.perf_counter()
    if budget >= epochs:
        study.optimize(objective, callbacks=[stop_at_budget])
    wall = time.perf_counter() - start
    top = best_trials(study, TOP)
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    return {"winner": top[0].user_attrs["spec"] if top else None, "ranking": [t.user_attrs["spec"] for t in top],
            "wall": wall, "note": f"{len(study.trials)} trials ({pruned} pruned)"}


def hand_specs(lr: float, steps: int) -> list[str]:
    """The six families of the default space at rate lr, with their usual shapes, for a run of `steps` updates."""
    return [
        f"constant({lr})",
        f"step_decay({lr}, drop=0.1, step_size={max(1, steps // 3)})",
        f"exponential({lr}, decay_steps={steps}, decay_rate=0.01)",
        f"warmup(cosine({lr}), steps={steps // 20})",
        f"one_cycle({lr})",
        f"wsd({lr}, warmup_steps={steps // 20}, decay_steps={max(1, steps // 5)})",
    ]


def run_hand(task: Any, epochs: int, steps: int, counter: EpochCounter) -> dict[str, Any]:
    from lrlab.lab.studies.compare import compare
    from lrlab.lab.studies.find import find_lr

    start = time.perf_counter()
    with counter.paused():  # the range test is counted by its own steps below
        found = find_lr(task, seeds=3)
    per_epoch = steps / epochs
    counter.epochs += sum(len(rt.losses) for rt in found.runs) / per_epoch
    lr = float(f"{found.suggestions['valley']:.3g}")  # as tune.find_peak
    comparison = compare(task, hand_specs(lr, steps), seeds=[0], epochs=epochs, db=None, progress=False)
    wall = time.perf_counter() - start
    ranking = [str(s) for s in comparison.leaderboard["schedule"]]
    return {"winner": ranking[0], "ranking": ranking[:TOP], "wall": wall, "note": f"find valley {lr:g}, 6 runs"}


# -- the confirmation --------------------------------------------------------------------------------------
def run_key(config: dict[str, Any]) -> str:
    return json.dumps([config["schedule"], config.get("plateau")], sort_keys=True, default=repr)


def confirm(task: Any, data: Any, specs: list[str], epochs: int, seeds: int) -> tuple[dict[str, list[float]], Any]:
    """Every spec on the same fresh seeds (one stacked compare, nothing stored): spec -> its runs' test figures."""
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.compare import compare, split_entry

    keys = {}
    for spec in specs:
        sched, plat, _ = split_entry(spec)
        keys[spec] = run_key(plan(task, sched, RunOptions(epochs=epochs, plateau=plat), data=data).config)
    comparison = compare(task, specs, seeds=range(FRESH_SEED, FRESH_SEED + seeds), epochs=epochs, db=None,
                         progress=False)
    test = comparison.ranking.test
    by_key: dict[str, list[float]] = {}
    for run in comparison.runs:
        value = run.metrics.get(test, math.nan) if run.status == "ok" else math.nan
        by_key.setdefault(run_key(run.config), []).append(float(value))
    return {spec: by_key.get(key, []) for spec, key in keys.items()}, comparison.ranking


# -- one task ----------------------------------------------------------------------------------------------
def bench_task(name: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import kendalltau

    from lrlab.lab.options import RunOptions
    from lrlab.lab.ranking import ranking
    from lrlab.lab.studies.tune import tune
    from lrlab.lab.tasks.task import get_task

    task = get_task(name)
    data = task.load(0)
    epochs = args.epochs
    steps = epochs * RunOptions(epochs=epochs).resolve(task, data).steps_per_epoch(len(data.train))
    defaults = inspect.signature(tune).parameters
    if args.quick:
        trials = 8
    elif args.budget_epochs:
        confirm_cost = defaults["confirm"].default * defaults["seeds"].default * epochs
        trials = max(1, (args.budget_epochs - confirm_cost) // epochs)
    else:
        trials = defaults["trials"].default
    storage = out_dir / f"tune-{name}-{int(time.time())}.db"
    load = os.getloadavg()
    methods: dict[str, dict[str, Any]] = {}
    with EpochCounter() as counter:
        methods["lrlab tune"] = run_tune(name, trials, epochs, storage, progress=sys.stderr.isatty())
        methods["lrlab tune"]["epochs"] = budget = counter.epochs
        study = methods["lrlab tune"].pop("study")
        space, metric = methods["lrlab tune"]["space"], methods["lrlab tune"]["metric"]
        direction = study.direction.name.lower()
        for label, sampler in (("optuna TPE+median", "tpe"), ("random search", "random")):
            before = counter.epochs
            methods[label] = run_optuna(task, data, space, metric, direction, epochs, budget, counter, sampler)
            methods[label]["epochs"] = counter.epochs - before
        before = counter.epochs
        methods["hand style"] = run_hand(task, epochs, steps, counter)
        methods["hand style"]["epochs"] = counter.epochs - before

    specs = list(dict.fromkeys(s for m in methods.values() for s in ([m["winner"]] + m["ranking"]) if s))
    start = time.perf_counter()
    tests, rank = confirm(task, data, specs, epochs, args.seeds)
    confirm_s = time.perf_counter() - start
    try:
        higher = ranking(rank.test).higher_is_better
    except ValueError:  # a test figure whose direction its name does not say: the ranked figure's
        higher = rank.higher_is_better
    mean = {s: float(np.mean(v)) if v else math.nan for s, v in tests.items()}
    std = {s: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan for s, v in tests.items()}
    worst = {s: (float(np.min(v)) if higher else float(np.max(v))) if v else math.nan for s, v in tests.items()}
    winners = [mean[m["winner"]] for m in methods.values() if m["winner"]]
    best = max(winners) if higher else min(winners)

    print(f"\n== {name}: {epochs} epochs per run, objective {metric} ({direction}), confirmed on {args.seeds} fresh "
          f"seeds ({FRESH_SEED}..{FRESH_SEED + args.seeds - 1}) by {rank.test}; tune trials={trials}; budget "
          f"{budget:.0f} epochs (what tune spent); load at start {load[0]:.2f} on {os.cpu_count()} cores")
    print(f"space: {space}")
    t = rank.test
    print(f"{'method':<19} {'epochs':>7} {'wall s':>8} {t + ' mean':>20} {'std':>7} {'worst':>7} {'regret':>7} "
          f"{'tau@' + str(TOP):>7}  winner")
    rows = {}
    for label, m in methods.items():
        w = m["winner"]
        ranked = [s for s in m["ranking"] if math.isfinite(mean.get(s, math.nan))]
        tau = math.nan
        if len(ranked) >= 2:
            truth = [mean[s] if higher else -mean[s] for s in ranked]
            tau = float(kendalltau(list(range(len(ranked), 0, -1)), truth).statistic)
        regret = (best - mean[w]) if higher else (mean[w] - best)
        rows[label] = {"mean": mean[w], "worst": worst[w], "regret": regret, "wall": m["wall"], "tau": tau}
        print(f"{label:<19} {m['epochs']:>7.0f} {m['wall']:>8.1f} {mean[w]:>20.4f} {std[w]:>7.4f} {worst[w]:>7.4f} "
              f"{regret:>7.4f} {tau:>7.2f}  {w}")
    for label, m in methods.items():
        print(f"  {label}: {m['note']}")
    print(f"confirmation: {len(specs)} specs x {args.seeds} seeds, {confirm_s:.1f} s")
    lr = rows["lrlab tune"]
    eps = 1e-12
    as_good = all((lr["mean"] >= r["mean"] - eps) if higher else (lr["mean"] <= r["mean"] + eps)
                  for k, r in rows.items() if k != "lrlab tune")
    faster = lr["wall"] < rows["optuna TPE+median"]["wall"]
    print(f"goal: lrlab's winner at least as good as every baseline's (confirmed mean): "
          f"{'met' if as_good else 'not met'}; in less wall time than the plain Optuna loop "
          f"({lr['wall']:.1f} s vs {rows['optuna TPE+median']['wall']:.1f} s): {'met' if faster else 'not met'}")
    if name == "quantiles":
        print(f"goal: quantiles >= 0.99 mean test accuracy at {epochs} epochs: {lr['mean']:.4f} "
              f"({'met' if lr['mean'] >= 0.99 else 'not met'}); the best any method found: {best:.4f}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="quantiles,digits,mnist1d")
    ap.add_argument("--budget-epochs", type=int, default=None,
                    help="tune's nominal spend in epochs (its trials from it); default: tune's default trials")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=10, help="fresh seeds of the confirmation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="lrlab-runs/bench", help="where tune's storages go (gitignored)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 8 tune trials, 5 epochs, 2 seeds")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.seeds = 5, 2

    import torch

    torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"tune_vs_optuna: torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores; "
          f"timings are one process's on a possibly shared machine")
    for name in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        bench_task(name, args, out_dir)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
