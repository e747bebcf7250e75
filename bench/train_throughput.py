"""Training throughput of the lab's trainer against a minimal hand-written PyTorch loop and Keras 3 `model.fit`
(torch backend), on the third seed's MLP shape: 784-128-10, batch 32, random data of MNIST's shape.

The three run interleaved in one process (same threads, same machine load); each figure is the median over the
repeats of training samples per second, counted over the whole call (model built, data copied, per-epoch
validation and the final evaluation of train/val/test included for the trainer; its loop alone is printed too).
Ratios are against the hand-written loop.

    KERAS_BACKEND=torch python bench/train_throughput.py [--samples 20000] [--epochs 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def lab_task(x: np.ndarray, y: np.ndarray, epochs: int, holdout: int):
    import torch

    from lrlab.lab.tasks.task import Data, Split, Task

    xv, yv = make_data(holdout, seed=1)

    def model(seed: int):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    data = Data(Split(x, y), Split(xv, yv), Split(xv, yv))
    return Task(name="bench_mnist_shape", description="random data, MNIST's shape", loss="ce",
                load=lambda seed: data, model=model, epochs=epochs, batch_size=32)


LOOP_ONLY: list[float] = []


def run_lab(task, epochs: int) -> float:
    """Seconds for the whole train() call; the training loop's own time (Run.wall_s: no model building,
    no final evaluation of the train/val/test splits) goes to LOOP_ONLY."""
    from lrlab.lab.engines.train import train

    t = time.perf_counter()
    run = train(task, "constant(0.1)", epochs=epochs, seed=0)
    LOOP_ONLY.append(run.wall_s)
    return time.perf_counter() - t


def run_hand(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    import torch

    t = time.perf_counter()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return time.perf_counter() - t


def run_keras(x: np.ndarray, y: np.ndarray, epochs: int) -> float:
    import keras

    t = time.perf_counter()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--holdout", type=int, default=1000, help="val/test size of the lab's task")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for all three (default 1)")
    parser.add_argument("--no-keras", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    x, y = make_data(args.samples)
    task = lab_task(x, y, args.epochs, args.holdout)
    contenders = {
        "hand-written loop": lambda: run_hand(x, y, args.epochs),
        "lrlab.lab.engines.train": lambda: run_lab(task, args.epochs),
    }
    if not args.no_keras:
        contenders["keras 3 fit (torch)"] = lambda: run_keras(x, y, args.epochs)
    for fn in contenders.values():  # warm-up: imports, first-call costs
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    LOOP_ONLY.clear()
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            times[name].append(fn())
    samples = args.samples * args.epochs
    print(f"784-128-10 MLP, batch 32, {args.samples} samples x {args.epochs} epochs, torch {torch.__version__}, "
          f"{args.threads} thread(s), median of {args.repeats} interleaved repeats")
    base = samples / statistics.median(times["hand-written loop"])
    for name, ts in times.items():
        rate = samples / statistics.median(ts)
        spread = f"{samples / max(ts):,.0f}-{samples / min(ts):,.0f}"
        print(f"  {name:22s} {rate:10,.0f} samples/s  ({spread})  ratio {rate / base:.3f}")
    rate = samples / statistics.median(LOOP_ONLY)
    print(f"  {'  (its loop alone)':22s} {rate:10,.0f} samples/s  ratio {rate / base:.3f}  "
          "(without building the model and the final evaluation of the three splits)")


if __name__ == "__main__":
    main()
