"""`lrlab tune` against what a user would do instead (issue 25), at the same training budget, side by side.

Per task, four methods search the same space of schedules (the space `tune` searched, read back from its study) with
the same objective (tune's: the figure the leaderboards rank by, e.g. the final val_accuracy) and the same epochs
per run:

- **lrlab tune**: `lrlab.lab.tune(task, trials=T, epochs=E, storage=..., seed=r)` with every other argument at
  its default, so the benchmark measures tune as it is today (sampler, pruner, batching, its own confirmation).
  Its winner is its answer, `best_spec`.
- **optuna TPE+median**: a plain Optuna study (in memory, `TPESampler(seed=r)`, `MedianPruner()` with Optuna's
  defaults; trials trained on seed r), `study.optimize` with an objective that trains one trial after another on
  the sequential trainer (`lrlab.lab.engines.train.execute`), reports the objective every epoch and raises
  TrialPruned when told (a diverged trial returns the worst value, as tune tells it): what a user writes by hand.
  Winner: the best trial.
- **random search**: the same loop with `RandomSampler(seed=r)` and no pruning.
- **hand style**: `lrlab find`'s valley rate (3 seeds, 3 significant digits, as `find_peak`) put into the six
  families of the default space with their usual shapes, each trained once (seed r); the best on validation wins.

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
figure; p(best) is a paired t-test over the confirmation's seeds of the winner against the best winner ("tied":
p >= 0.05). --repeats R runs every search with seeds r = 0..R-1 (every winner confirmed in one stacked compare) and
adds a summary over them: one search seed says little when winners are within the seeds' noise; the summary pairs
lrlab's winner with each method's per search seed (the difference's mean and 90% t interval). On quantiles the best
of every confirmed spec is trained again on twice as many other seeds (2000..): picked as the best of many means on
the same seeds, its figure there is biased upwards. The seeds r are
shared by the methods (common random numbers: tune's TPE and the loop's draw the same first random trials). Wall
times are of one process on a shared machine: compare them within one invocation only.

    KERAS_BACKEND=torch python bench/tune_vs_optuna.py [--tasks quantiles,digits,mnist1d] [--budget-epochs N]
        [--epochs 20] [--seeds 10] [--repeats 1] [--threads 1] [--quick]

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
OTHER_SEED = 2000  # where the best of all confirmed specs is measured again, away from the seeds that picked it


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
def run_tune(task: str, trials: int, epochs: int, storage: Path, seed: int, progress: bool,
             options: dict[str, Any] | None = None) -> dict[str, Any]:
    from lrlab.lab.studies.tune import tune

    start = time.perf_counter()
    result = tune(task, trials=trials, epochs=epochs, storage=storage, seed=seed, progress=progress,
                  **(options or {}))
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
               counter: EpochCounter, sampler: str, seed: int) -> dict[str, Any]:
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
        p = plan(task, sched, RunOptions(epochs=epochs, seed=seed, plateau=plat), data=data, label=spec)

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
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed),
                                    pruner=optuna.pruners.MedianPruner())
    else:
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=seed),
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


def run_hand(task: Any, epochs: int, steps: int, counter: EpochCounter, seed: int) -> dict[str, Any]:
    from lrlab.lab.studies.compare import compare
    from lrlab.lab.studies.find import find_lr

    start = time.perf_counter()
    with counter.paused():  # the range test is counted by its own steps below
        found = find_lr(task, seeds=3)
    per_epoch = steps / epochs
    counter.epochs += sum(len(rt.losses) for rt in found.runs) / per_epoch
    lr = float(f"{found.suggestions['valley']:.3g}")  # as tune.find_peak
    comparison = compare(task, hand_specs(lr, steps), seeds=[seed], epochs=epochs, db=None, progress=False)
    wall = time.perf_counter() - start
    ranking = [str(s) for s in comparison.leaderboard["schedule"]]
    return {"winner": ranking[0], "ranking": ranking[:TOP], "wall": wall, "note": f"find valley {lr:g}, 6 runs"}


# -- the confirmation --------------------------------------------------------------------------------------
def run_key(config: dict[str, Any]) -> str:
    return json.dumps([config["schedule"], config.get("plateau")], sort_keys=True, default=repr)


def confirm(task: Any, data: Any, specs: list[str], epochs: int, seeds: int,
            first: int = FRESH_SEED) -> tuple[dict[str, list[float]], Any]:
    """Every spec on the same fresh seeds first.. (one stacked compare, nothing stored): spec -> its runs' test
    figures."""
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.compare import compare, split_entry

    keys = {}
    for spec in specs:
        sched, plat, _ = split_entry(spec)
        keys[spec] = run_key(plan(task, sched, RunOptions(epochs=epochs, plateau=plat), data=data).config)
    comparison = compare(task, specs, seeds=range(first, first + seeds), epochs=epochs, db=None,
                         progress=False)
    test = comparison.ranking.test
    by_key: dict[str, list[float]] = {}
    for run in comparison.runs:
        value = run.metrics.get(test, math.nan) if run.status == "ok" else math.nan
        by_key.setdefault(run_key(run.config), []).append(float(value))
    return {spec: by_key.get(key, []) for spec, key in keys.items()}, comparison.ranking


# -- one task ----------------------------------------------------------------------------------------------
METHODS = ("lrlab tune", "optuna TPE+median", "random search", "hand style")


def parse_variants(texts: list[str]) -> dict[str, dict[str, Any]]:
    """--variant 'NAME:key=value,key=value' -> {"tune NAME": {key: value}} (values read as Python literals where
    they are one, else kept as text)."""
    import ast

    variants: dict[str, dict[str, Any]] = {}
    for text in texts:
        label, _, body = text.partition(":")
        options: dict[str, Any] = {}
        for item in filter(None, (x.strip() for x in body.split(","))):
            k, _, v = item.partition("=")
            try:
                options[k.strip()] = ast.literal_eval(v.strip())
            except (ValueError, SyntaxError):
                options[k.strip()] = v.strip()
        variants[f"tune {label.strip()}"] = options
    return variants


def search(name: str, task: Any, data: Any, trials: int, epochs: int, steps: int, seed: int,
           out_dir: Path, variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The four methods' searches with search seed `seed`, the Optuna loops at the epochs tune spent; then each
    variant of tune (its own options; it spends what it spends)."""
    stamp = int(time.time())
    storage = out_dir / f"tune-{name}-s{seed}-{stamp}.db"
    methods: dict[str, dict[str, Any]] = {}
    with EpochCounter() as counter:
        methods["lrlab tune"] = run_tune(name, trials, epochs, storage, seed, progress=sys.stderr.isatty())
        methods["lrlab tune"]["epochs"] = budget = counter.epochs
        study = methods["lrlab tune"].pop("study")
        space, metric = methods["lrlab tune"]["space"], methods["lrlab tune"]["metric"]
        direction = study.direction.name.lower()
        for label, sampler in (("optuna TPE+median", "tpe"), ("random search", "random")):
            before = counter.epochs
            methods[label] = run_optuna(task, data, space, metric, direction, epochs, budget, counter, sampler, seed)
            methods[label]["epochs"] = counter.epochs - before
        before = counter.epochs
        methods["hand style"] = run_hand(task, epochs, steps, counter, seed)
        methods["hand style"]["epochs"] = counter.epochs - before
        for i, (label, options) in enumerate(variants.items()):
            before = counter.epochs
            rest = {k: v for k, v in options.items() if k != "trials"}
            methods[label] = run_tune(name, options.get("trials", trials), epochs,
                                      out_dir / f"tune-{name}-s{seed}-{stamp}-v{i}.db", seed, False, rest)
            methods[label].pop("study")
            methods[label]["epochs"] = counter.epochs - before
    return {"methods": methods, "budget": budget, "space": space, "metric": metric, "direction": direction,
            "seed": seed}


def bench_task(name: str, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import kendalltau, ttest_rel

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
    load = os.getloadavg()
    variants = parse_variants(args.variant)
    searches = [search(name, task, data, trials, epochs, steps, seed, out_dir, variants)
                for seed in range(args.repeats)]

    specs = list(dict.fromkeys(s for r in searches for m in r["methods"].values()
                               for s in ([m["winner"]] + m["ranking"]) if s))
    start = time.perf_counter()
    tests, rank = confirm(task, data, specs, epochs, args.seeds)
    confirm_s = time.perf_counter() - start
    try:
        higher = ranking(rank.test).higher_is_better
    except ValueError:  # a test figure whose direction its name does not say: the ranked figure's
        higher = rank.higher_is_better
    sign = 1.0 if higher else -1.0
    mean = {s: float(np.mean(v)) if v else math.nan for s, v in tests.items()}
    std = {s: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan for s, v in tests.items()}
    worst = {s: (float(np.min(v)) if higher else float(np.max(v))) if v else math.nan for s, v in tests.items()}
    t = rank.test
    first = searches[0]
    print(f"\n== {name}: {epochs} epochs per run, objective {first['metric']} ({first['direction']}), winners "
          f"confirmed on {args.seeds} fresh seeds ({FRESH_SEED}..{FRESH_SEED + args.seeds - 1}) by {t}; tune "
          f"trials={trials}; {args.repeats} search seed(s); load at start {load[0]:.2f} on {os.cpu_count()} cores")
    print(f"space: {first['space']}")
    all_best = max(specs, key=lambda s: sign * mean[s] if math.isfinite(mean[s]) else -math.inf)
    print(f"confirmation: {len(specs)} specs x {args.seeds} seeds, {confirm_s:.1f} s; the best of all "
          f"{len(specs)} confirmed specs: {mean[all_best]:.4f} ({all_best})")
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in (*METHODS, *variants)}
    for r in searches:
        methods = r["methods"]
        top = max((m["winner"] for m in methods.values() if m["winner"]), key=lambda s: sign * mean[s])
        print(f"\nsearch seed {r['seed']}: budget {r['budget']:.0f} epochs (what tune spent)")
        print(f"{'method':<22} {'epochs':>7} {'wall s':>7} {t + ' mean':>19} {'std':>7} {'worst':>7} {'regret':>7} "
              f"{'p(best)':>7} {'tau@' + str(TOP):>6}  winner")
        for label, m in methods.items():
            w = m["winner"]
            ranked = [s for s in m["ranking"] if math.isfinite(mean.get(s, math.nan))]
            tau = math.nan
            if len(ranked) >= 2:
                tau = float(kendalltau(list(range(len(ranked), 0, -1)), [sign * mean[s] for s in ranked]).statistic)
            regret = sign * (mean[top] - mean[w])
            p = math.nan  # paired t-test on the seeds against the best winner (NaN: the same runs)
            if w != top and len(tests[w]) > 1 and tests[w] != tests[top]:
                p = float(ttest_rel(tests[w], tests[top]).pvalue)
            rows[label].append({"mean": mean[w], "worst": worst[w], "regret": regret, "wall": m["wall"], "tau": tau,
                                "epochs": m["epochs"], "p": p, "tied": w == top or tests[w] == tests[top] or
                                not p < 0.05})
            print(f"{label:<22} {m['epochs']:>7.0f} {m['wall']:>7.1f} {mean[w]:>19.4f} {std[w]:>7.4f} "
                  f"{worst[w]:>7.4f} {regret:>7.4f} {p:>7.3f} {tau:>6.2f}  {w}")
        for label, m in methods.items():
            print(f"  {label}: {m['note']}")
    lr = rows["lrlab tune"]
    if args.repeats > 1:
        print(f"\nover {args.repeats} search seeds (means; 'as good': lrlab's winner's confirmed mean >= the method's; "
              f"'tied': not different from the best winner at p < 0.05)")
        print(f"{'method':<22} {'epochs':>7} {'wall s':>7} {t + ' mean':>19} {'worst':>7} {'regret':>7} "
              f"{'tau':>6} {'tied':>5} {'lrlab as good':>13}")
        for label, rs in rows.items():
            good = sum(sign * (a["mean"] - b["mean"]) >= -1e-12 for a, b in zip(lr, rs))
            good_text = "-" if label == "lrlab tune" else f"{good}/{len(rs)}"
            print(f"{label:<22} {np.mean([x['epochs'] for x in rs]):>7.0f} {np.mean([x['wall'] for x in rs]):>7.1f} "
                  f"{np.mean([x['mean'] for x in rs]):>19.4f} {np.mean([x['worst'] for x in rs]):>7.4f} "
                  f"{np.mean([x['regret'] for x in rs]):>7.4f} {np.nanmean([x['tau'] for x in rs]):>6.2f} "
                  f"{sum(x['tied'] for x in rs):>2}/{len(rs):<2} {good_text:>13}")
    if args.repeats > 1:
        from scipy.stats import t as student

        q = float(student.ppf(0.95, args.repeats - 1))
        print(f"paired over the {args.repeats} search seeds (the unit a search's luck varies by): lrlab tune's winner "
              f"minus each method's, confirmed means (+: lrlab better), with a 90% t interval; its lower end is what "
              f"the data allow lrlab to be worse by (one-sided 95%)")
        for label, rs in rows.items():
            if label == "lrlab tune":
                continue
            diff = np.array([sign * (a["mean"] - b["mean"]) for a, b in zip(lr, rs)])
            half = q * diff.std(ddof=1) / math.sqrt(len(diff))
            print(f"  vs {label:<22} {diff.mean():+.4f}  [{diff.mean() - half:+.4f}, {diff.mean() + half:+.4f}]")
    as_good = [all(sign * (lr[i]["mean"] - rows[k][i]["mean"]) >= -1e-12 for k in METHODS[1:])
               for i in range(len(lr))]
    tied = [lr[i]["tied"] for i in range(len(lr))]
    faster = [lr[i]["wall"] < rows["optuna TPE+median"][i]["wall"] for i in range(len(lr))]
    print(f"goal: lrlab's winner at least as good as every baseline's (confirmed mean): met on {sum(as_good)}/"
          f"{len(lr)} search seed(s); tied with the best winner (paired t-test p >= 0.05) on {sum(tied)}/{len(lr)}")
    print(f"goal: less wall time than the plain Optuna loop: met on {sum(faster)}/{len(lr)} (lrlab "
          f"{np.mean([x['wall'] for x in lr]):.1f} s vs {np.mean([x['wall'] for x in rows['optuna TPE+median']]):.1f}"
          f" s, mean)")
    if name == "quantiles":
        got = ", ".join(f"{x['mean']:.4f}" for x in lr)
        met = "met" if all(x["mean"] >= 0.99 for x in lr) else "not met"
        again, _ = confirm(task, data, [all_best], epochs, 2 * args.seeds, first=OTHER_SEED)
        other = again[all_best]
        print(f"goal: quantiles >= 0.99 mean test accuracy at {epochs} epochs: lrlab's winner {got} ({met}); the "
              f"best of every confirmed spec {mean[all_best]:.4f} on the seeds it was picked on, "
              f"{np.mean(other):.4f} (se {np.std(other, ddof=1) / math.sqrt(len(other)):.4f}) on {len(other)} other "
              f"seeds ({OTHER_SEED}..): the best of many means on the same seeds is biased upwards")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="quantiles,digits,mnist1d")
    ap.add_argument("--budget-epochs", type=int, default=None,
                    help="tune's nominal spend in epochs (its trials from it); default: tune's default trials")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=10, help="fresh seeds of the confirmation")
    ap.add_argument("--repeats", type=int, default=1,
                    help="searches per method, search seeds 0..R-1 (tune's seed, the samplers' and trials' seed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="lrlab-runs/bench", help="where tune's storages go (gitignored)")
    ap.add_argument("--variant", action="append", default=[],
                    help="also run tune with other options, 'NAME:key=value,...' (e.g. 'asha:pruner=\'asha\''); "
                         "reported beside the others, not counted in the goals")
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
