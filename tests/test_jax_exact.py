"""lrlab.jax under jax.jit turns at exactly the steps s(t) does (XLA computes t / n as t * (1 / n), which
put floors one step late before the namespace's exact floordiv), with x64 and in float32, and lengths past
2**31 work without x64."""

from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import lrlab  # noqa: E402
import lrlab.jax as lj  # noqa: E402
from boundary_probe import TEMPLATES, count_wrong, lengths, probe_steps  # noqa: E402
from lrlab.schedules import NUMPY, SCALAR  # noqa: E402
from lrlab.schedules._compile import TRACE  # noqa: E402

# random lengths, plus ones seen to fail before the fix: 98 (x64, the example), 13201 (x64), 26803 (f32)
LENGTHS = [*lengths(4, seed=8), 98, 13201, 26803]


@pytest.fixture(params=[True, False], ids=["x64", "float32"])
def x64(request):
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize(("name", "make"), TEMPLATES, ids=[name for name, _ in TEMPLATES])
def test_every_kind_under_jit_turns_at_the_boundaries(name, make, x64):
    bad, total, first = count_wrong(make, LENGTHS, x64)
    assert total > 100
    assert bad == 0, f"{bad} of {total} boundary probes wrong; first: {first}"


def test_step_decay_98_by_hand(x64):
    fn = jax.jit(lj.schedule(lrlab.step_decay(0.1, drop=0.5, step_size=98)))
    steps = jnp.asarray([0, 97, 98, 195, 196, 97 * 98 - 1, 97 * 98])
    want = [0.1, 0.1, 0.05, 0.05, 0.025, 0.1 * 0.5**96, 0.1 * 0.5**97]
    np.testing.assert_allclose(np.asarray(fn(steps), dtype=np.float64), want, rtol=1e-15 if x64 else 1e-7)
    assert float(fn(98)) == pytest.approx(0.05, rel=1e-7)


@pytest.mark.parametrize("x64_on", [False, True])
def test_giant_lengths_without_int_overflow(x64_on):
    """optax's test_with_giant_int_steps: cosine_decay_schedule(1000, 10**10) at step 10**9 is 975.528...:
    1000 * (1 + cos(pi / 10)) / 2."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", x64_on)
    try:
        want = 1000 * (1 + math.cos(math.pi / 10)) / 2
        assert want == pytest.approx(975.5282581475767)
        fn = jax.jit(lj.schedule(lrlab.cosine(1000, decay_steps=10**10)))
        assert float(fn(10**9)) == pytest.approx(want, rel=1e-6)
        for spec in (
            "step_decay(0.1, 0.5, 10**12)".replace("10**12", str(10**12)),
            f"exponential(0.1, {2**40}, 0.5, staircase=True)",
            f"warmup(linear(0.1, 0.0, {2**33}), {2**32})",
            f"join([constant(0.1), cosine(0.1, {2**35})], [{2**31}])",
            f"one_cycle(0.1, {2**40})",
            f"wsd(0.1, {2**45}, {2**32}, {2**40})",
            f"cyclic(0.01, 0.1, {2**33})",
            f"per_epoch(exponential(0.1, 1, 0.9), {2**31 + 1})",
        ):
            s = lrlab.parse(spec)
            got = float(jax.jit(lj.schedule(s))(10**9))
            assert got == pytest.approx(s(10**9), rel=1e-5), spec
    finally:
        jax.config.update("jax_enable_x64", previous)


def test_floordiv_exact_on_every_namespace():
    """floordiv(t, n) == t // n for whole numbers, on Python numbers, numpy, the trace namespace and jax, where
    floor(t / n) under jit is one short at t = k * n."""
    rng = np.random.default_rng(3)
    ns = rng.integers(2, 10**6, size=50)
    ks = rng.integers(1, 10**6, size=50)
    t = np.concatenate([ns * ks - 1, ns * ks, ns * ks + 1]).astype(np.int64)
    n = np.concatenate([ns, ns, ns]).astype(np.int64)
    want = (t // n).astype(np.float64)
    assert [SCALAR.floordiv(int(a), int(b)) for a, b in zip(t, n)] == want.tolist()
    assert [SCALAR.floordiv(float(a), float(b)) for a, b in zip(t, n)] == want.tolist()
    assert [TRACE.floordiv(int(a), int(b)) for a, b in zip(t, n)] == want.tolist()
    np.testing.assert_array_equal(NUMPY.floordiv(t.astype(np.float64), n.astype(np.float64)), want)
    ceil = -((-t) // n)
    assert [SCALAR.ceildiv(int(a), int(b)) for a, b in zip(t, n)] == ceil.tolist()
    np.testing.assert_array_equal(NUMPY.ceildiv(t.astype(np.float64), n.astype(np.float64)), ceil)
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        for a, b, q in zip(t[:30], n[:30], want[:30]):
            b = float(b)
            assert float(jax.jit(lambda x, b=b: lj.NAMESPACE.floordiv(x, b))(jnp.float64(a))) == q
            assert float(jax.jit(lambda x, b=b: lj.NAMESPACE.ceildiv(x, b))(jnp.float64(a))) == -((-a) // int(b))
    finally:
        jax.config.update("jax_enable_x64", previous)


def test_probe_grid():
    assert probe_steps(10, 2**24).tolist()[:4] == [9, 10, 19, 20]
    assert probe_steps(2**23, 2**24).tolist() == [2**23 - 1, 2**23, 2**24 - 1]
