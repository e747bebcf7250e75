"""The stacked engine against the sequential trainer: K runs of one task trained one after another
(`lrlab.lab.engines.train.execute` per plan) and as one stack (`lrlab.lab.engines.stacked.execute_stack`), side by side
in one invocation. Each measurement runs in a fresh child process (same threads, same plans: K cosine schedules of
different peaks, seeds 0..K-1), so its peak memory is its own: host RSS (VmHWM) above the RSS after the plans
were made, or torch.cuda.max_memory_allocated on CUDA. Wall time covers the whole call (models built, data
copied, per-epoch validation and the final evaluations included; torch's one-time import of its deterministic
machinery, and one warm-up call of the engine on two 1-epoch runs, are done before the clock starts).

    KERAS_BACKEND=torch python bench/stacked.py [--device cpu|cuda] [--threads 1] [--only quantiles] [--quick]

Cases (epochs trimmed from the tasks' defaults where noted, to keep the sequential side to minutes):
quantiles K=16 and K=64 (50 epochs, adam), or3 K=64 (200 epochs, sgd), mnist1d MLP K=16 (5 epochs, adam),
mnist1d_cnn K=16 (3 epochs, adam), the 784-128-10 MLP on MNIST-shaped random data K=16 (10000 samples,
batch 32, 1 epoch, sgd), and tinylm K=3 (2 of its 12 epochs: 100 steps, adamw). The last columns are engine auto's
(`lrlab.lab.engines.auto.measure`, run in the stacked child after its clock stopped): the sequential/stacked ratio
its few timed steps measured (compare with the ratio of the whole runs beside it), the seconds that timing took,
and which engine auto picks from it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

# name, task, K, epochs (quick epochs)
CASES = [
    ("quantiles K=16", "quantiles", 16, 50, 5),
    ("quantiles K=64", "quantiles", 64, 50, 5),
    ("or3 K=64", "or3", 64, 200, 20),
    ("mnist1d MLP K=16", "mnist1d", 16, 5, 1),
    ("mnist1d_cnn K=16", "mnist1d_cnn", 16, 3, 1),
    ("784-128-10 MLP K=16", "mlp784", 16, 1, 1),
    ("tinylm K=3", "tinylm", 3, 2, 1),
]


def mlp784_task():
    """The 784-128-10 MLP (torch init) on MNIST-shaped random data: 10000 training samples, 2000 held out."""
    import numpy as np
    import torch

    from lrlab.lab.tasks.task import Data, Split, Task

    rng = np.random.default_rng(0)
    x = rng.random((12000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 12000).astype(np.int64)
    data = Data(Split(x[:10000], y[:10000]), Split(x[10000:], y[10000:]), Split(x[10000:], y[10000:]))

    def model(seed: int):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    return Task(name="mlp784", description="784-128-10 on random data", loss="ce", load=lambda seed: data,
                model=model, epochs=1, batch_size=32, optimizer="sgd", lr=0.1)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(task_name: str, k: int, epochs: int, engine: str, device: str) -> dict:
    """One measurement, in this (fresh) process: wall seconds, peak MiB, best loss, chunks, diverged runs."""
    import torch

    from lrlab.lab.engines.auto import Timing
    from lrlab.lab.engines.auto import measure as time_engines
    from lrlab.lab.engines.stacked import execute_stack, stacks
    from lrlab.lab.engines.train import deterministic, execute
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.tasks.task import get_task

    with deterministic():  # its first use imports torch._inductor (seconds): a one-time cost, not the engines'
        pass
    task = mlp784_task() if task_name == "mlp784" else get_task(task_name)
    data = task.load(0)
    peak = 0.02 if task.optimizer in ("adam", "adamw") else 0.2
    plans = [plan(task, f"cosine({peak * (i + 1) / k:.6g})", RunOptions(epochs=epochs, seed=i), data=data)
             for i in range(k)]
    warm = [plan(task, "constant(0.01)", RunOptions(epochs=1, seed=i), data=data) for i in range(2)]
    if engine == "sequential":  # the engine's first-call costs (kernels, autograd) are paid before the clock
        for p in warm:
            execute(p, device=device)
    else:
        execute_stack(warm, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = _rss_kib("VmRSS")
    start = time.perf_counter()
    if engine == "sequential":
        runs = [execute(p, device=device) for p in plans]
        chunks = 0
    else:
        groups = stacks(plans, device=device)
        runs = [r for g in groups for r in execute_stack([plans[i] for i in g], device=device)]
        chunks = len(groups)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    if device == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = max(0, _rss_kib("VmHWM") - base) / 1024
    best = min(r.metrics.get("val_loss", r.metrics["loss"]) for r in runs)
    out = {"wall": wall, "peak_mib": peak_mib, "best": best, "chunks": chunks,
           "diverged": sum(r.status != "ok" for r in runs)}
    if engine == "stacked":  # engine auto's timing, on the first stack's plans (after the clock stopped)
        began = time.perf_counter()
        chunk = [plans[i] for i in stacks(plans, device=device)[0]]
        timing = Timing(*time_engines(chunk, device), k=len(chunk))
        out.update(timed=timing.k * timing.sequential_s / timing.stacked_s, timing_s=time.perf_counter() - began,
                   auto=timing.choice)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each child (default 1)")
    ap.add_argument("--only", default=None, help="run the cases whose name contains this text")
    ap.add_argument("--quick", action="store_true", help="a tenth of the epochs (a smoke run, not the figures)")
    ap.add_argument("--child", nargs=4, metavar=("TASK", "K", "EPOCHS", "ENGINE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        task_name, k, epochs, engine = args.child
        print(json.dumps(measure(task_name, int(k), int(epochs), engine, args.device)))
        return

    print(f"device {args.device}, {args.threads} torch thread(s) per child, {os.cpu_count()} CPUs")
    head = f"{'case':22} {'epochs':>6} {'sequential s':>12} {'stacked s':>10} {'ratio':>7} " \
           f"{'seq peak MiB':>12} {'stack peak MiB':>14} {'chunks':>6} {'timed':>6} {'timing s':>8}  auto picks"
    print(head)
    for name, task_name, k, epochs, quick in CASES:
        if args.only and args.only not in name:
            continue
        ep = quick if args.quick else epochs
        out = {}
        for engine in ("sequential", "stacked"):
            cmd = [sys.executable, __file__, "--device", args.device, "--threads", str(args.threads),
                   "--child", task_name, str(k), str(ep), engine]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{name} {engine} failed:\n{done.stderr}")
            out[engine] = json.loads(done.stdout.strip().splitlines()[-1])
        seq, st = out["sequential"], out["stacked"]
        print(f"{name:22} {ep:>6} {seq['wall']:>12.2f} {st['wall']:>10.2f} {seq['wall'] / st['wall']:>6.1f}x "
              f"{seq['peak_mib']:>12.1f} {st['peak_mib']:>14.1f} {st['chunks']:>6} {st['timed']:>5.1f}x "
              f"{st['timing_s']:>8.2f}  {st['auto']}", flush=True)


if __name__ == "__main__":
    main()
