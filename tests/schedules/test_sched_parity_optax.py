"""lrlab's schedules equal optax's (jax with x64 enabled).

optax is called eagerly on an array of steps: under jit XLA divides by multiplying with the reciprocal,
which moves optax's own values (see test_polynomial_stays_finite_under_jit_where_optax_gives_nan).
XLA's cos/pow and optax's order of operations (pi * count / steps) differ from lrlab's by rounding,
amplified where a cosine nears its floor (1 + cos near 0): measured at most 1.5e-14 relative, asserted
with rtol=1e-13.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from sched_testutil import assert_matches, grid

import lrlab
import lrlab.jax

RTOL = 1e-13


@pytest.fixture(autouse=True, scope="module")
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def check(ours, theirs, steps, what):
    import jax.numpy as jnp

    steps = list(steps)
    ref = np.asarray(theirs(jnp.asarray(steps)))
    assert ref.dtype == np.float64
    assert_matches(ours(np.array(steps)), ref, steps, rtol=RTOL, what=what + " (array)")
    assert_matches([ours(t) for t in steps], ref, steps, rtol=RTOL, what=what + " (scalar)")



@pytest.mark.parametrize(("start", "end", "steps"), [(0.1, 0.001, 50), (0.0, 0.3, 7), (0.2, 0.2, 3), (1.0, 0.0, 1)])
def test_linear_schedule(start, end, steps):
    import optax

    check(lrlab.linear(start, end, steps), optax.linear_schedule(start, end, steps), grid(2 * steps + 3), "linear")


@pytest.mark.parametrize(
    ("steps", "rate", "staircase"), [(7, 0.5, False), (7, 0.5, True), (100, 0.96, True), (3, 2.0, False)]
)
def test_exponential_decay(steps, rate, staircase):
    import optax

    check(
        lrlab.exponential(0.1, steps, rate, staircase=staircase),
        optax.exponential_decay(0.1, steps, rate, staircase=staircase),
        grid(60, [steps * k for k in range(1, 5)]),
        "exponential",
    )


@pytest.mark.parametrize(("end", "power", "steps"), [(0.001, 2.0, 50), (0.0, 0.5, 70), (0.01, 1.0, 9), (0.0, 3.0, 1)])
def test_polynomial_schedule(end, power, steps):
    import optax

    check(
        lrlab.polynomial(0.1, steps, end_lr=end, power=power),
        optax.polynomial_schedule(0.1, end, power, steps),
        grid(steps + 20, [steps]),
        "polynomial",
    )


@pytest.mark.parametrize(
    ("init", "peak", "warmup_steps", "decay_steps", "end"),
    [(0.0, 0.1, 10, 100, 0.0), (0.01, 0.2, 20, 70, 0.01), (0.0, 0.1, 0, 50, 0.001), (0.05, 0.05, 5, 30, 0.0)],
)
def test_warmup_cosine_decay_schedule(init, peak, warmup_steps, decay_steps, end):
    """optax's decay_steps include the warmup; Keras's (and lrlab's cosine) do not."""
    import optax

    ref = optax.warmup_cosine_decay_schedule(init, peak, warmup_steps, decay_steps, end)
    steps = grid(decay_steps + 10, [warmup_steps, decay_steps])
    rest = decay_steps - warmup_steps
    keras_style = lrlab.cosine(init, rest, alpha=end / peak, warmup_target=peak, warmup_steps=warmup_steps)
    check(keras_style, ref, steps, "cosine with warmup_target")
    composed = lrlab.warmup(lrlab.cosine(peak, rest, alpha=end / peak), warmup_steps, start_lr=init)
    check(composed, ref, steps, "warmup(cosine)")


def test_join_schedules():
    import optax

    ref = optax.join_schedules(
        [optax.linear_schedule(0.0, 0.1, 10), optax.constant_schedule(0.1), optax.exponential_decay(0.1, 10, 0.5)],
        [10, 50],
    )
    ours = lrlab.join([lrlab.linear(0.0, 0.1, 10), lrlab.constant(0.1), lrlab.exponential(0.1, 10, 0.5)], [10, 50])
    check(ours, ref, grid(120, [10, 50]), "join")
    nested = optax.join_schedules([ref, optax.cosine_decay_schedule(0.05, 20)], [100])
    ours_nested = lrlab.join([ours, lrlab.cosine(0.05, 20)], [100])
    check(ours_nested, nested, grid(140, [10, 50, 100, 120]), "nested join")


def test_polynomial_stays_finite_under_jit_where_optax_gives_nan():
    """Under jit XLA computes t / steps as t * (1 / steps); at t == steps that is a hair above 1 for
    steps=50, and optax's (1 - p) ** 0.5 gives NaN. lrlab's formula clamps 1 - p at 0."""
    import jax.numpy as jnp
    import optax

    assert np.isnan(float(jax.jit(optax.polynomial_schedule(0.1, 0.0, 0.5, 50))(50)))
    ours = lrlab.polynomial(0.1, 50, end_lr=0.0, power=0.5)
    jitted = jax.jit(lambda t: ours.apply(lrlab.jax.NAMESPACE, t.astype(jnp.float64)))
    steps = np.arange(0, 80)
    values = np.asarray(jitted(jnp.asarray(steps)))
    assert np.isfinite(values).all()
    assert_matches(values, ours(steps), list(steps), rtol=RTOL, what="polynomial under jit")


SPECS_UNDER_JIT = [
    "constant(0.1)",
    "step_decay(0.1, drop=0.5, step_size=7)",
    "multistep(0.1, [5, 5, 20], gamma=0.5)",
    "piecewise([4, 9, 14], [0.025, 0.0125, 0.008, 0.00625])",
    "exponential(0.1, 7, 0.5, staircase=True)",
    "inverse_time(0.1, 7, 0.5)",
    "polynomial(0.1, 13, end_lr=0.0, power=0.5, cycle=True)",
    "linear(0.0, 0.1, 17)",
    "cosine(0.0, 40, alpha=0.1, warmup_target=0.1, warmup_steps=10)",
    "cosine(0.1, 40, alpha=0.1, exponent=1.5, k_decay=2.0)",
    "cosine_restarts(0.1, 1, t_mul=3.0, m_mul=0.5, alpha=0.01)",
    "cosine_restarts(0.1, 16, t_mul=1.5)",
    'cyclic(0.001, 0.1, 10, 5, mode="exp_range", gamma=0.99)',
    'cyclic(0.001, 0.1, 4, mode="triangular2")',
    'one_cycle(0.1, 100, anneal="linear", three_phase=True)',
    "one_cycle(0.1, 37)",
    "inverse_sqrt(0.1, 10)",
    'wsd(0.1, 100, 10, 30, end_lr=0.01, decay="1-sqrt")',
    'wsd(0.1, 100, 10, 30, decay="cosine")',
    "warmup(cosine(0.1, 50), 10, start_lr=0.01)",
    "join([linear(0.0, 0.1, 10), exponential(0.1, 10, 0.5)], [10]).clip(0.001, 0.05) * 2",
    "per_epoch(step_decay(0.1, 0.5, 2), 7)",
]


@pytest.mark.parametrize("spec", SPECS_UNDER_JIT)
def test_formula_under_jax_jit_equals_numpy(spec):
    """The formula written once runs under jax.jit on jax.numpy and gives lrlab's own numbers."""
    import jax.numpy as jnp

    s = lrlab.parse(spec)
    xp = lrlab.jax.NAMESPACE
    jitted = jax.jit(lambda t: s.apply(xp, t.astype(jnp.float64)))
    steps = np.arange(0, 400)
    values = np.asarray(jitted(jnp.asarray(steps)))
    assert values.dtype == np.float64
    # Near a cosine's floor 1 + cos(x) cancels: XLA's cos and libm's differ by an ulp of 1, i.e. of the peak.
    expected = s(steps)
    assert_matches(values, expected, list(steps), rtol=RTOL, atol=1e-15 * expected.max(), what=spec)


@pytest.mark.parametrize(
    ("steps", "alpha", "exponent"), [(100, 0.0, 2.0), (50, 0.1, 0.5), (30, 0.01, 3.7), (1, 0.0, 2.0)]
)
def test_cosine_decay_schedule_exponent(steps, alpha, exponent):
    import optax

    check(
        lrlab.cosine(0.1, steps, alpha=alpha, exponent=exponent),
        optax.cosine_decay_schedule(0.1, steps, alpha=alpha, exponent=exponent),
        grid(steps + 10, [steps]),
        "cosine exponent",
    )


def test_warmup_cosine_decay_schedule_exponent():
    import optax

    ref = optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 80, 0.001, exponent=2.0)
    ours = lrlab.cosine(0.0, 70, alpha=0.01, warmup_target=0.1, warmup_steps=10, exponent=2.0)
    check(ours, ref, grid(100, [10, 80]), "warmup cosine exponent")
