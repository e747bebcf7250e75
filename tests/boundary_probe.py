"""Boundary probes for the JAX adapter under `jax.jit`: every kind with a length n, evaluated at the steps
k*n - 1 and k*n where staircases, restarts, cycles and epochs turn, compared with `s(t)`.

XLA rewrites `t / n` as `t * (1/n)`, so a floor of the quotient can land one short exactly at k*n. A probe
counts as wrong when the jitted value is farther from `s(t)` than the float dtype's rounding explains.
Run `python tests/boundary_probe.py [n_lengths]` to print the counts with x64 and without (float32).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

import numpy as np

import lrlab


def probe_fn(step: int) -> float:
    """A host-only custom schedule for the probes: a staircase written in Python."""
    return 0.1 * 0.9 ** (step // 7)


def _maker(spec: str) -> Callable[[int], lrlab.Schedule]:
    return lambda n: lrlab.parse(spec.format(n=n, n2=2 * n, n3=3 * n, n4=4 * n))


TEMPLATES: list[tuple[str, Callable[[int], lrlab.Schedule]]] = [
    (name, _maker(spec))
    for name, spec in [
        ("constant", "constant(0.1)"),
        ("step_decay", "step_decay(0.1, 0.9, {n})"),
        ("multistep", "multistep(0.1, [{n}, {n2}, {n3}], gamma=0.5)"),
        ("piecewise", "piecewise([{n}, {n2}], [0.1, 0.05, 0.01])"),
        ("exponential staircase", "exponential(0.1, {n}, 0.9, staircase=True)"),
        ("exponential", "exponential(0.1, {n}, 0.9)"),
        ("inverse_time", "inverse_time(0.1, {n}, 0.5)"),
        ("inverse_time staircase", "inverse_time(0.1, {n}, 0.5, staircase=True)"),
        ("polynomial", "polynomial(0.1, {n}, end_lr=0.001, power=2.0)"),
        ("polynomial cycle", "polynomial(0.1, {n}, cycle=True)"),
        ("cosine", "cosine(0.1, {n}, alpha=0.1)"),
        ("cosine warmup", "cosine(0.0, {n}, warmup_target=0.1, warmup_steps={n})"),
        ("cosine_restarts t_mul=2", "cosine_restarts(0.1, {n}, t_mul=2.0, m_mul=0.8, alpha=0.01)"),
        ("cosine_restarts t_mul=1", "cosine_restarts(0.1, {n}, t_mul=1.0)"),
        ("cosine_restarts t_mul=1.5", "cosine_restarts(0.1, {n}, t_mul=1.5)"),
        ("cyclic triangular2", 'cyclic(0.01, 0.1, {n}, mode="triangular2")'),
        ("cyclic exp_range", 'cyclic(0.01, 0.1, {n}, {n2}, mode="exp_range", gamma=0.99993896484375)'),
        ("cyclic", "cyclic(0.01, 0.1, {n})"),
        ("one_cycle", "one_cycle(0.1, {n4})"),
        ("one_cycle three_phase", 'one_cycle(0.1, {n4}, pct_start=0.25, anneal="linear", three_phase=True)'),
        ("linear", "linear(0.1, 0.01, {n})"),
        ("warmup", "warmup(step_decay(0.1, 0.9, {n}), {n})"),
        ("join", "join([constant(0.1), step_decay(0.1, 0.9, {n})], [{n}])"),
        ("inverse_sqrt", "inverse_sqrt(0.1, {n})"),
        ("wsd cosine", 'wsd(0.1, {n4}, {n}, {n}, decay="cosine")'),
        ("wsd 1-sqrt", 'wsd(0.1, {n4}, {n}, {n}, decay="1-sqrt", end_lr=0.01)'),
        ("wsd", "wsd(0.1, {n4}, {n}, {n2})"),
        ("per_epoch", "per_epoch(exponential(0.1, 1, 0.9), {n})"),
        ("scale", "step_decay(0.1, 0.9, {n}) * 0.5"),
        ("clip", "step_decay(0.1, 0.9, {n}).clip(0.02, 0.08)"),
        ("random_uniform", "random_uniform(0.01, 0.1, seed=3)"),
    ]
] + [("custom", lambda n: lrlab.custom(probe_fn))]

K = 40
"""Boundaries probed per length: k = 1..K (0.9 ** K stays far above float32's smallest normal)."""


def probe_steps(n: int, limit: int) -> np.ndarray:
    """k*n - 1 and k*n for k = 1..K, below `limit`."""
    k = np.arange(1, K + 1)
    steps = np.concatenate([k * n - 1, k * n])
    return np.sort(steps[steps < limit])


def lengths(count: int, seed: int = 0, high: int = 100_000) -> list[int]:
    """`count` random lengths in [2, high], the same for the same seed (both modes probe the same ones)."""
    rng = random.Random(seed)
    return sorted({rng.randint(2, high) for _ in range(count)})


def wrong(got: np.ndarray, want: np.ndarray, x64: bool) -> np.ndarray:
    """Where the jitted value is farther from s(t) than rounding in the float dtype explains."""
    # float32: t / n of a large t is off by an ulp of the quotient, which a cycle's position shows as a
    # few 1e-7 of the peak (0.1); a missed boundary moves the value by 1e-4 or more
    rtol, atol = (1e-10, 1e-13) if x64 else (1e-5, 1e-6)
    return np.abs(got.astype(np.float64) - want) > rtol * np.abs(want) + atol


def count_wrong(make: Callable[[int], lrlab.Schedule], ns: list[int], x64: bool) -> tuple[int, int, str]:
    """(wrong probes, probes, first wrong one) of one template over the lengths, in the current jax mode."""
    import jax
    import jax.numpy as jnp

    import lrlab.jax as lj

    bad = total = 0
    first = ""
    limit = 2**53 if x64 else 2**24  # float32 holds every whole step below 2**24
    for n in ns:
        s = make(n)
        steps = probe_steps(n, limit)
        if not len(steps):
            continue
        got = np.asarray(jax.jit(lj.schedule(s))(jnp.asarray(steps, dtype=jnp.int64 if x64 else jnp.int32)))
        want = s(steps)
        miss = wrong(got, want, x64)
        bad += int(miss.sum())
        total += len(steps)
        if miss.any() and not first:
            i = int(np.argmax(miss))
            first = f"{s!r} at t={int(steps[i])}: jit {float(got[i])!r}, s(t) {float(want[i])!r}"
    return bad, total, first


def main(count: int = 40) -> int:
    import jax

    ns = lengths(count)
    grand = 0
    for x64 in (True, False):
        jax.config.update("jax_enable_x64", x64)
        mode = "x64" if x64 else "float32"
        mode_bad = mode_total = 0
        for name, make in TEMPLATES:
            bad, total, first = count_wrong(make, ns, x64)
            mode_bad, mode_total = mode_bad + bad, mode_total + total
            if bad:
                print(f"{mode:8} {name:28} {bad:5} of {total} wrong; first: {first}")
        print(f"{mode:8} {'ALL':28} {mode_bad:5} of {mode_total} probes wrong ({len(ns)} lengths, k = 1..{K})")
        grand += mode_bad
    return grand


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
