"""What the lab adds to a user's training function: the same function called directly, through `compare` with no
store, through `compare` with an SQLite store (claims, heartbeats, saves), and in 2 worker processes.

The function trains a small MLP with a torch loop (a DataLoader, 1 epoch of STEPS updates, per-step logging and
one report). Each candidate trains N runs (distinct seeds, so nothing is reused); the per-run overhead is the
candidate's time per run minus the direct call's, and the ratio is the candidate's time over the direct time.
The workers' figure includes starting the processes (spawn, importing torch), so it is paid once per study.
Run: `python bench/function_engine.py [--runs 12] [--steps 50]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrlab.torch
from lrlab.lab import compare, experiment
from lrlab.lab.engines.function import RunContext, plan_function
from lrlab.lab.options import RunOptions

STEPS = 50


def train(run) -> dict:
    """A plain torch loop: one epoch of STEPS updates of batch 32 on made-up data, one report."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32 * STEPS, 32, generator=g), torch.randint(0, 10, (32 * STEPS,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = lrlab.torch.Scheduler(opt, run.schedule)
    lossf = nn.CrossEntropyLoss()
    for xb, yb in loader:
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        sched.step()
        run.log_step(loss)
    run.report(1, val_loss=loss.item())
    return {}


bench_fn = experiment(train, epochs=1, steps_per_epoch=STEPS, metric="val_loss", name="bench_fn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.runs))

    def direct(folder: Path, r: int) -> None:
        for seed in seeds:  # the user's own loop over seeds, without the lab
            train(RunContext(plan_function(bench_fn, "cosine(0.1)", RunOptions(seed=seed))))

    def no_store(folder: Path, r: int) -> None:
        compare(bench_fn, ["cosine(0.1)"], seeds=seeds, db=None, progress=False)

    def sqlite(folder: Path, r: int) -> None:
        compare(bench_fn, ["cosine(0.1)"], seeds=seeds, db=folder / f"runs{r}.db", progress=False)

    def workers(folder: Path, r: int) -> None:
        compare(bench_fn, ["cosine(0.1)"], seeds=seeds, db=folder / f"workers{r}.db", progress=False, workers=2)

    candidates = {"direct call": direct, "compare, no store": no_store, "compare, SQLite store": sqlite,
                  "2 workers, SQLite store": workers}
    times: dict[str, list[float]] = {name: [] for name in candidates}
    with tempfile.TemporaryDirectory() as tmp:
        direct(Path(tmp), -1)
        no_store(Path(tmp), -1)  # warm up: torch's kernels, pandas, SQLAlchemy
        for r in range(args.rounds):  # interleaved, so the machine's load hits every candidate alike
            for name, fn in candidates.items():
                begin = time.perf_counter()
                fn(Path(tmp), r)
                times[name].append(time.perf_counter() - begin)
    direct_s = statistics.median(times["direct call"]) / args.runs
    print(f"{args.runs} runs of {STEPS} steps each, median of {args.rounds} rounds; one torch thread a process")
    print(f"{'candidate':26s} {'s/run':>8s} {'overhead ms/run':>16s} {'ratio':>6s}")
    for name, values in times.items():
        per = statistics.median(values) / args.runs
        print(f"{name:26s} {per:8.3f} {1000 * (per - direct_s):16.1f} {per / direct_s:6.2f}")


if __name__ == "__main__":
    main()
