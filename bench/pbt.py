"""What population-based training in one stack costs (lrlab.lab.studies.pbt), side by side in one invocation (same
task, population, intervals and thread count; no run store), and what the learned schedule is worth on fresh seeds.

- pbt: `pbt(...)` on the stacked engine (one execute_stack per interval, members resumed from in-memory states);
- one stack: the same members trained by ONE execute_stack call without any exploit (the floor: what restarting
  the stack every interval adds);
- files: what Ray's PBT does on one machine: each member its own sequential run per interval, resumed from and
  saved to its own checkpoint file, an exploit a file copy (the same rules, lrlab's sequential trainer).

Then the learned spec, its best smooth fit, hand specs (constant and cosine at the task's rate) and any
`--against TASK=SPEC` (tune's winner on that task, pasted) train from scratch on fresh seeds (`PBT.confirm`): their
mean test figure, and the learned spec's against the best other entry's. `--tasks` runs every task in turn and ends
with one summary line per task. Wall times are noisy on a shared machine.

    KERAS_BACKEND=torch python bench/pbt.py [--tasks quantiles,digits,mnist1d] [--population 16] [--interval 5]
        [--epochs N] [--seeds 10] [--against quantiles=SPEC ...] [--threads 1]

The issue's benchmark is `--tasks quantiles,digits,mnist1d --seeds 10` (long; `--epochs` defaults to each task's).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")


def with_files(task: str, k_count: int, interval: int, epochs: int, seed: int, folder: Path) -> float:
    """Ray's PBT on one machine, with lrlab's pieces: members one after another, each interval resumed from and
    saved to the member's checkpoint file; exploit copies the file. Returns the best final validation figure."""
    import numpy as np

    from lrlab.lab.engines import checkpoint
    from lrlab.lab.engines.train import execute
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.ranking import task_ranking
    from lrlab.lab.studies.pbt import DEFAULT_PERTURB, RateSpace
    from lrlab.lab.studies.pbt_export import lineage_spec
    from lrlab.lab.studies.pbt_result import order_members
    from lrlab.lab.tasks.task import get_task

    t = get_task(task)
    data = t.load(seed)
    rank = task_ranking(t)
    lr = float(t.lr)
    space = RateSpace(f"loguniform({lr / 10:.4g}, {lr * 10:.4g})")
    rng = np.random.default_rng([seed, 0])
    lineage = [[space.sample(rng)] for _ in range(k_count)]
    roots = [seed + k for k in range(k_count)]
    files = [folder / f"member-{k}.pt" for k in range(k_count)]
    quota = max(1, min(math.ceil(k_count * 0.25), k_count // 2))
    n = math.ceil(epochs / interval)
    spe = plan(t, "constant(0.1)", RunOptions(seed=seed), data=data).config["steps_per_epoch"]
    figures: list[float] = []
    for i in range(n):
        end = min(epochs, (i + 1) * interval)
        runs = []
        for k in range(k_count):
            p = plan(t, lineage_spec(lineage[k], interval * spe), RunOptions(epochs=end, seed=roots[k]), data=data)
            start = checkpoint.load(files[k]) if i else None
            runs.append(execute(p, start=start, save_at=[end * spe],
                                on_save=lambda s, f=files[k]: checkpoint.save(s, f)))
        figures = [float(r.history[rank.metric].iloc[-1]) for r in runs]
        if i == n - 1:
            break
        order = order_members(figures, [float(r.history["val_loss"].iloc[-1]) for r in runs], rank,
                              [r.status for r in runs])
        top, bottom = order[:quota], order[-quota:]
        before = [list(v) for v in lineage]
        for k in range(k_count):
            lineage[k] = before[k] + [before[k][-1]]
        for k in bottom:
            donor = top[int(rng.integers(len(top)))]
            shutil.copyfile(files[donor], files[k])
            new = space.sample(rng) if rng.random() < 0.25 else before[donor][-1] * DEFAULT_PERTURB[
                int(rng.integers(2))]
            lineage[k], roots[k] = before[donor] + [new], roots[donor]
    return max(figures)


def against_specs(items: list[str], tasks: list[str]) -> dict[str, list[str]]:
    """--against TASK=SPEC, repeatable: the extra confirmation entries per task (each spec checked as compare
    reads it, before anything trains)."""
    from lrlab.lab.studies.compare import entry_optimizer, split_entry

    out: dict[str, list[str]] = {t: [] for t in tasks}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or name.strip() not in out:
            raise SystemExit(f"--against must be TASK=SPEC with TASK one of {', '.join(tasks)}, got {item!r}")
        try:
            split_entry(spec.strip())
            entry_optimizer(spec.strip())
        except ValueError as exc:
            raise SystemExit(f"--against {item!r}: {' '.join(str(exc).split())}") from None
        out[name.strip()].append(spec.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", "--task", default="quantiles", help="comma-separated task names")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="epochs in all (default: each task's)")
    parser.add_argument("--seeds", type=int, default=10, help="fresh seeds of the confirmation (default 10)")
    parser.add_argument("--against", action="append", default=[], metavar="TASK=SPEC",
                        help="an extra confirmation entry on TASK, e.g. tune's winner (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise SystemExit(f"--tasks must name one or more tasks, got {args.tasks!r}")
    against = against_specs(args.against, tasks)

    import torch

    from lrlab.lab.tasks.task import get_task

    for name in tasks:
        get_task(name)  # an unknown task fails before anything trains
    torch.set_num_threads(args.threads)
    summary = [bench_task(name, args, against[name]) for name in tasks]
    print("summary (test figure, mean over fresh seeds; wall seconds):")
    for line in summary:
        print(f"  {line}")


def bench_task(name: str, args: argparse.Namespace, against: list[str]) -> str:
    """One task's timings and confirmation, printed; returns its summary line."""
    from lrlab.lab.engines.stacked import execute_stack
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.pbt import pbt
    from lrlab.lab.tasks.task import get_task

    k = args.population
    pbt(name, population=2, interval=1, epochs=2, progress=False)  # imports and first calls, untimed
    begin = time.perf_counter()
    result = pbt(name, progress=False, population=k, interval=args.interval, epochs=args.epochs)
    stacked = time.perf_counter() - begin
    epochs = result.epochs
    task = get_task(name)
    data = task.load(0)
    plans = [plan(task, f"constant({float(r)!r})", RunOptions(epochs=epochs, seed=m), data=data)
             for m, r in enumerate(result.rates[0])]
    begin = time.perf_counter()
    execute_stack(plans)
    one_stack = time.perf_counter() - begin
    with tempfile.TemporaryDirectory() as folder:
        begin = time.perf_counter()
        best_files = with_files(name, k, args.interval, epochs, 0, Path(folder))
        files = time.perf_counter() - begin

    print(f"{name}: population {k}, {len(result.rates)} intervals of {args.interval} epochs, "
          f"{epochs} epochs, {args.threads} thread(s)")
    print(f"wall: pbt in one stack {stacked:.2f} s (training {result.wall_s:.2f} s, {len(result.events)} copies); "
          f"one uninterrupted stack, no exploits {one_stack:.2f} s; sequential with checkpoint files {files:.2f} s")
    print(f"ratios: files / pbt {files / stacked:.2f}x; pbt / one stack {stacked / one_stack:.2f}x")
    rank = result.ranking
    print(f"best final {rank.metric}: pbt {result.metrics[-1].max():.4f}; files {best_files:.4f}")
    lr = float(task.lr)
    hand = [f"constant({lr!r})", f"cosine({lr!r})", *against]
    comparison = result.confirm(seeds=args.seeds, hand=hand, db=None)
    board = comparison.leaderboard
    test = rank.test
    print(f"on {args.seeds} fresh seeds, {rank.column} / {test} (mean over seeds):")
    for row in board.to_dict("records"):
        print(f"  {row[rank.column]:.4f} / {row[test]:.4f}  {row['schedule']}")
    learned = board[board["schedule"] == result.replay][test].iloc[0]
    others = board[board["schedule"] != result.replay]
    for row in others.to_dict("records"):
        print(f"learned / {row['schedule']}: {test} {learned / row[test]:.4f}x")
    for line in comparison.noise_lines():
        print(line)
    best = others.sort_values(test, ascending=not rank.higher_is_better).iloc[0] if len(others) else None
    beside = f"; best other {best[test]:.4f} ({best['schedule']})" if best is not None else ""
    return (f"{name}: learned {learned:.4f}{beside}; pbt {stacked:.2f} s, files {files:.2f} s "
            f"({files / stacked:.1f}x)")


if __name__ == "__main__":
    main()
