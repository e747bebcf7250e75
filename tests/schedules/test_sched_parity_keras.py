"""lrlab's decays equal Keras 3's schedule classes (torch backend, floatx float64), step by step.

Keras is called once per step with a Python int, as an optimizer does, and each value is checked to be
float64: called on a whole tensor of steps, Keras returned float32 values on this backend (keras.ops.floor
gives float32 even for float64 input), so that path is not the reference. The measured difference is at most
2 ulp (torch's cos/pow against Python's math), asserted with rtol=1e-15."""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
from keras.optimizers import schedules as ks
from sched_testutil import assert_matches, grid

import lrlab

RTOL = 1e-15


@pytest.fixture(autouse=True, scope="module")
def float64_keras():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(previous)


def keras_values(schedule, steps):
    out = []
    for t in steps:
        value = schedule(t)
        assert str(value.dtype).endswith("float64")
        out.append(float(value))
    return out


def check(ours, theirs, steps, what):
    steps = list(steps)
    ref = keras_values(theirs, steps)
    assert_matches([ours(t) for t in steps], ref, steps, rtol=RTOL, what=what + " (scalar)")
    assert_matches(ours(np.array(steps)), ref, steps, rtol=RTOL, what=what + " (array)")


@pytest.mark.parametrize(
    ("lr", "decay_steps", "rate", "staircase"),
    [(0.1, 5, 0.95, True), (0.1, 5, 0.95, False), (0.1, 1000, 0.96, True), (1.0, 7, 0.5, False), (0.3, 3, 1.5, True)],
)
def test_exponential(lr, decay_steps, rate, staircase):
    steps = grid(60, [decay_steps * k for k in range(1, 4)] + [1000, 2000, 5000])
    check(
        lrlab.exponential(lr, decay_steps, rate, staircase=staircase),
        ks.ExponentialDecay(lr, decay_steps, rate, staircase=staircase),
        steps,
        f"exponential({lr}, {decay_steps}, {rate}, {staircase})",
    )


@pytest.mark.parametrize(
    ("lr", "decay_steps", "rate", "staircase"),
    [(0.1, 50, 0.1, True), (0.1, 50, 0.1, False), (1.0, 1, 0.5, False), (0.2, 7, 3.0, True), (0.05, 3, 0.0, False)],
)
def test_inverse_time(lr, decay_steps, rate, staircase):
    steps = grid(60, [decay_steps * k for k in range(1, 4)] + [500, 10_000])
    check(
        lrlab.inverse_time(lr, decay_steps, rate, staircase=staircase),
        ks.InverseTimeDecay(lr, decay_steps, rate, staircase=staircase),
        steps,
        f"inverse_time({lr}, {decay_steps}, {rate}, {staircase})",
    )


@pytest.mark.parametrize(
    ("boundaries", "values"),
    [
        ([125, 250, 375], [0.1, 0.075, 0.05, 0.025]),
        ([4, 9, 14], [0.025, 0.0125, 0.025 / 3, 0.00625]),
        ([0], [1.0, 0.5]),
        ([10], [0.0, 0.3]),
    ],
)
def test_piecewise_is_right_inclusive(boundaries, values):
    steps = grid(20, [*boundaries, 400])
    check(lrlab.piecewise(boundaries, values), ks.PiecewiseConstantDecay(boundaries, values), steps, "piecewise")


@pytest.mark.parametrize(
    ("decay_steps", "end_lr", "power", "cycle"),
    [
        (100, 0.001, 1.0, True),
        (50, 0.0, 2.0, False),
        (10, 0.01, 0.5, True),
        (10, 0.01, 3.0, False),
        (7, 0.0, 1.0, True),
    ],
)
def test_polynomial(decay_steps, end_lr, power, cycle):
    steps = grid(3 * decay_steps + 2, [decay_steps * k for k in range(1, 6)])
    check(
        lrlab.polynomial(0.1, decay_steps, end_lr=end_lr, power=power, cycle=cycle),
        ks.PolynomialDecay(0.1, decay_steps, end_lr, power, cycle),
        steps,
        f"polynomial({decay_steps}, {end_lr}, {power}, {cycle})",
    )


@pytest.mark.parametrize(
    ("lr", "decay_steps", "alpha", "warmup_target", "warmup_steps"),
    [
        (0.1, 500, 0.0, None, 0),
        (0.1, 100, 0.1, None, 0),
        (0.5, 1, 0.5, None, 0),
        (0.0, 100, 0.0, 0.1, 10),
        (0.01, 50, 0.05, 0.2, 20),
        (0.01, 50, 0.05, 0.2, 0),
        (0.01, 50, 0.0, 0.2, 1),
        (0.3, 40, 0.2, 0.1, 15),  # a "warmup" that goes down
    ],
)
def test_cosine(lr, decay_steps, alpha, warmup_target, warmup_steps):
    end = warmup_steps + decay_steps
    steps = [*grid(min(end + 5, 80), [warmup_steps, end, end + 100]), end // 2]
    kwargs = {"warmup_target": warmup_target, "warmup_steps": warmup_steps}
    check(
        lrlab.cosine(lr, decay_steps, alpha=alpha, **kwargs),
        ks.CosineDecay(lr, decay_steps, alpha=alpha, **kwargs),
        sorted(set(steps)),
        f"cosine({lr}, {decay_steps}, {alpha}, {warmup_target}, {warmup_steps})",
    )


def restart_steps(first: int, t_mul: float, until: int) -> list[float]:
    out, start, length = [], 0.0, float(first)
    while start + length <= until:
        start += length
        out.append(start)
        length *= t_mul
    return out


@pytest.mark.parametrize(
    ("first", "t_mul", "m_mul", "alpha"),
    [
        (first, t_mul, m_mul, alpha)
        for (first, t_mul), (m_mul, alpha) in itertools.product(
            [(10, 1.0), (10, 2.0), (10, 1.5), (7, 3.0), (1, 3.0), (3, 2.0), (1, 10.0), (16, 1.5), (16, 1.25)],
            [(1.0, 0.0), (0.5, 0.1)],
        )
    ],
)
def test_cosine_restarts(first, t_mul, m_mul, alpha):
    # (1, 3.0) restarts at 121, (1, 10.0) at 111, (16, 1.5) at 211, (16, 1.25) at 61: numpy's log() rounds
    # the restart index down at those steps; the value must still be the new period's peak.
    restarts = restart_steps(first, t_mul, 1300)
    steps = grid(40, [int(r) for r in restarts] + [int(r) + 1 for r in restarts if r != int(r)])
    check(
        lrlab.cosine_restarts(0.1, first, t_mul=t_mul, m_mul=m_mul, alpha=alpha),
        ks.CosineDecayRestarts(0.1, first, t_mul=t_mul, m_mul=m_mul, alpha=alpha),
        steps,
        f"cosine_restarts(0.1, {first}, t_mul={t_mul}, m_mul={m_mul}, alpha={alpha})",
    )
