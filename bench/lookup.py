"""What one learning-rate lookup costs: lrlab against torch, Keras, optax, a bare closure and raw numpy.

Every candidate is timed in the same run, repetitions interleaved (A B C ... A B C ...), and the median of
the repetitions is reported, so load on the machine hits all of them alike. Run: `python bench/lookup.py`.
Targets (issue 2): one `s(t)` at least 10x cheaper than torch's `scheduler.step()` and within 2x of a bare
Python closure of the same formula; `s(np.arange(1_000_000))` within 1.5x of the same formula in raw numpy.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

import lrlab

LR, DECAY, ALPHA = 0.1, 10_000, 0.01
TOTAL = 10**9  # one_cycle long enough that torch's OneCycleLR never runs past its end while we time it


def per_call(fn: Callable[[int], object], steps: range) -> float:
    """Seconds per call of fn over the steps (one timed loop)."""
    start = time.perf_counter()
    for t in steps:
        fn(t)
    return (time.perf_counter() - start) / len(steps)


def torch_stepper(make):
    """A callable that advances a real torch scheduler by one step (the optimizer step is not timed)."""
    import torch

    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=LR)
    scheduler = make(optimizer)
    optimizer.step()  # torch warns when the scheduler steps before the optimizer ever did
    return lambda _t: scheduler.step()


def cosine_candidates() -> dict[str, Callable[[int], object]]:
    s = lrlab.cosine(LR, DECAY, alpha=ALPHA)
    cos, pi = math.cos, math.pi

    lr, decay, alpha, keep = LR, DECAY, ALPHA, 1 - ALPHA  # locals of the closure, as one would write it

    def closure(t: int) -> float:
        t = min(t, decay)
        return lr * (keep * (0.5 * (1.0 + cos(pi * (t / decay)))) + alpha)

    out: dict[str, Callable[[int], object]] = {"lrlab s(t)": s, "bare closure": closure}
    from torch.optim import lr_scheduler

    out["torch CosineAnnealingLR.step()"] = torch_stepper(
        lambda o: lr_scheduler.CosineAnnealingLR(o, DECAY, eta_min=LR * ALPHA)
    )
    import keras

    keras.config.set_floatx("float64")
    keras_schedule = keras.optimizers.schedules.CosineDecay(LR, DECAY, alpha=ALPHA)
    out["keras CosineDecay (float64)"] = keras_schedule
    import jax

    jax.config.update("jax_enable_x64", True)
    import optax

    optax_schedule = optax.cosine_decay_schedule(LR, DECAY, alpha=ALPHA)
    jitted = jax.jit(optax_schedule)
    jitted(0).block_until_ready()
    out["optax eager"] = optax_schedule
    out["optax jit"] = lambda t: jitted(t).block_until_ready()
    return out


def one_cycle_candidates() -> dict[str, Callable[[int], object]]:
    s = lrlab.one_cycle(LR, TOTAL)
    ((end_up, lo, hi), (end_down, _, floor_lr)) = s.phases()
    cos, pi = math.cos, math.pi

    def closure(t: int) -> float:
        if t <= end_up:
            return hi + (lo - hi) / 2.0 * (cos(pi * (t / end_up)) + 1)
        pct = min((t - end_up) / (end_down - end_up), 1.0)
        return floor_lr + (hi - floor_lr) / 2.0 * (cos(pi * pct) + 1)

    from torch.optim import lr_scheduler

    return {
        "lrlab s(t)": s,
        "bare closure": closure,
        "torch OneCycleLR.step()": torch_stepper(
            lambda o: lr_scheduler.OneCycleLR(o, LR, total_steps=TOTAL, cycle_momentum=False)
        ),
    }


def vector_candidates(n: int) -> dict[str, Callable[[np.ndarray], object]]:
    s = lrlab.cosine(LR, DECAY, alpha=ALPHA)

    def raw(t: np.ndarray) -> np.ndarray:
        t = np.minimum(t, DECAY)
        return LR * ((1 - ALPHA) * (0.5 * (1.0 + np.cos(np.pi * (t / DECAY)))) + ALPHA)

    one = lrlab.one_cycle(LR, n)
    ((end_up, lo, hi), (end_down, _, floor_lr)) = one.phases()

    def raw_one(t: np.ndarray) -> np.ndarray:
        up = hi + (lo - hi) / 2.0 * (np.cos(np.pi * (t / end_up)) + 1)
        pct = np.minimum((t - end_up) / (end_down - end_up), 1.0)
        down = floor_lr + (hi - floor_lr) / 2.0 * (np.cos(np.pi * pct) + 1)
        return np.where(t <= end_up, up, down)

    return {"lrlab cosine": s, "raw numpy cosine": raw, "lrlab one_cycle": one, "raw numpy one_cycle": raw_one}


def interleaved(candidates: dict[str, Callable], run: Callable[[Callable], float], reps: int) -> dict[str, float]:
    """Median of `reps` timings per candidate, the candidates taking turns within each repetition."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            times[name].append(run(fn))
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(title: str, medians: dict[str, float], base: str, targets: dict[str, tuple[str, float]]) -> None:
    print(f"\n{title}")
    for name, seconds in medians.items():
        ratio = seconds / medians[base]
        print(f"  {name:34s} {seconds * 1e6:10.3f} us   {ratio:7.2f}x lrlab")
    torch_name = next(name for name in medians if name.startswith("torch"))
    ceiling = medians[torch_name] / medians["bare closure"]
    print(f"  (torch's step costs {ceiling:.2f}x the bare closure: the ratio a lookup as cheap as the closure gets)")
    for name, (relation, bound) in targets.items():
        ratio = medians[name] / medians[base]
        ok = ratio >= bound if relation == ">=" else ratio <= bound
        print(f"  target: {name} / lrlab {relation} {bound:g}: {ratio:.2f} {'met' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="scalar calls per timing (default 20000)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    parser.add_argument("--size", type=int, default=1_000_000, help="array length (default 1000000)")
    args = parser.parse_args()

    steps = range(args.calls)
    slow_steps = range(max(args.calls // 50, 100))  # Keras and optax cost 10-1000x more per call
    cos = cosine_candidates()
    slow = [cos[name] for name in ("keras CosineDecay (float64)", "optax eager", "optax jit")]

    def run_scalar(fn):
        return per_call(fn, slow_steps if any(fn is f for f in slow) else steps)

    for fn in cos.values():  # warm up (and compile lrlab's scalar formula)
        per_call(fn, range(50))
    medians = interleaved(cos, run_scalar, args.reps)
    report(
        "one lookup, cosine(0.1, decay_steps=10000, alpha=0.01)  [seconds per call, median]",
        medians,
        "lrlab s(t)",
        {"torch CosineAnnealingLR.step()": (">=", 10), "bare closure": (">=", 0.5)},
    )

    one = one_cycle_candidates()
    for fn in one.values():
        per_call(fn, range(50))
    medians = interleaved(one, lambda fn: per_call(fn, steps), args.reps)
    report(
        "one lookup, one_cycle(0.1, total_steps=10**9)",
        medians,
        "lrlab s(t)",
        {"torch OneCycleLR.step()": (">=", 10), "bare closure": (">=", 0.5)},
    )

    t = np.arange(args.size)
    vec = vector_candidates(args.size)
    for fn in vec.values():
        fn(t)
    assert np.array_equal(vec["lrlab cosine"](t), vec["raw numpy cosine"](t))
    assert np.allclose(vec["lrlab one_cycle"](t), vec["raw numpy one_cycle"](t), rtol=1e-12, atol=0)

    def run_vec(fn):
        start = time.perf_counter()
        fn(t)
        return time.perf_counter() - start

    medians = interleaved(vec, run_vec, args.reps)
    print(f"\nwhole array, s(np.arange({args.size:_}))  [seconds per array, median]")
    for name, seconds in medians.items():
        print(f"  {name:34s} {seconds * 1e3:10.3f} ms")
    for kind in ("cosine", "one_cycle"):
        ratio = medians[f"lrlab {kind}"] / medians[f"raw numpy {kind}"]
        print(f"  target: lrlab {kind} / raw numpy <= 1.5: {ratio:.2f} {'met' if ratio <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
