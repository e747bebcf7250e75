"""lrlab.jax: optax schedules from lrlab schedules (values with and without x64, jit, vmap, optax.sgd)
and reduce-on-plateau through optax.contrib.reduce_on_plateau."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrlab  # noqa: E402
import lrlab.jax as lj  # noqa: E402
from every_kind import SPECS  # noqa: E402

STEPS = np.arange(0, 90)


def test_specs_cover_every_kind():
    kinds = {lrlab.parse(spec).kind for spec in SPECS}
    kinds |= {c.kind for spec in SPECS for c in lrlab.parse(spec).children()}
    assert kinds == set(lrlab.KINDS)


@pytest.fixture
def x64():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x32():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.mark.parametrize("spec", SPECS)
def test_values_equal_schedule_with_x64(spec, x64):
    s = lrlab.parse(spec)
    fn = jax.jit(lj.schedule(s))
    got = np.asarray(fn(jnp.arange(len(STEPS))))
    assert got.dtype == np.float64
    want = s(STEPS)
    # XLA on CPU divides by a constant as a multiply by its reciprocal (1 ulp); near a cosine's zero that
    # shows as a few 1e-15 of the peak. Host-only kinds are computed by lrlab itself: bit for bit.
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14 * want.max())
    if s.host_only:
        np.testing.assert_array_equal(got, want)
    for t in (0, 1, 7, 50, 89):  # scalar counts, as optax passes them
        assert float(fn(t)) == pytest.approx(s(t), rel=1e-13, abs=1e-14 * want.max())


@pytest.mark.parametrize("spec", SPECS)
def test_values_close_without_x64(spec, x32):
    s = lrlab.parse(spec)
    fn = jax.jit(lj.schedule(s))
    count = jnp.asarray(17)
    assert count.dtype == jnp.int32
    assert fn(count).dtype == jnp.float32
    got = np.asarray(fn(jnp.arange(len(STEPS), dtype=jnp.int32)))
    assert got.dtype == np.float32
    want = s(STEPS)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())


def test_host_only_schedules_work_under_jit_and_vmap(x64):
    s = lrlab.parse("random_uniform(0.01, 0.1, seed=5)")
    fn = lj.schedule(s)
    assert float(jax.jit(fn)(12)) == s(12)
    batched = jax.jit(jax.vmap(fn))(jnp.arange(20))
    np.testing.assert_array_equal(np.asarray(batched), s(np.arange(20)))
    grid = np.asarray(fn(jnp.arange(12).reshape(3, 4)))
    np.testing.assert_array_equal(grid, s(np.arange(12)).reshape(3, 4))


def test_accepts_spec_and_config_and_rejects_bad_input():
    s = lrlab.parse("cosine(0.1, decay_steps=100)")
    assert lj.schedule("cosine(0.1, decay_steps=100)").schedule == s
    assert lj.schedule(s.to_config()).schedule == s
    with pytest.raises(ValueError, match="stretch"):
        lj.schedule("cosine(0.1)")
    with pytest.raises(ValueError, match="schedule must be"):
        lj.schedule(0.1)


def test_optax_sgd_uses_the_rate_of_each_step(x64):
    # Least squares y = 3x with sgd: each update is -s(t) * grad, with the count starting at 0.
    s = lrlab.parse("warmup(cosine(0.5, decay_steps=30, alpha=0.1), 3)")
    opt = optax.sgd(lj.schedule(s))
    xs = jnp.linspace(-1.0, 1.0, 16)
    ys = 3.0 * xs

    def loss(w):
        return jnp.mean((w * xs - ys) ** 2)

    @jax.jit
    def step(w, state):
        grad = jax.grad(loss)(w)
        updates, state = opt.update(grad, state, w)
        return optax.apply_updates(w, updates), state

    w, state = jnp.asarray(0.0), opt.init(jnp.asarray(0.0))
    w_ref = 0.0
    x_np, y_np = np.asarray(xs), np.asarray(ys)
    for t in range(33):
        w, state = step(w, state)
        grad_ref = np.mean(2 * (w_ref * x_np - y_np) * x_np)
        w_ref = w_ref - s(t) * grad_ref
        assert float(w) == pytest.approx(w_ref, rel=1e-12)
    assert abs(float(w) - 3.0) < 0.1


# -- reduce on plateau with optax.contrib.reduce_on_plateau ---------------------------------------------------
def walks():
    rng = random.Random(5)
    out = []
    for _ in range(10):
        value, seq = 1.0, []
        for _ in range(50):
            value += rng.choice([-0.02, -0.001, 0.0, 0.00002, 0.004, 0.01])
            seq.append(value)
        out.append(seq)
    out.append([0.5] * 30)
    out.append([1.0, 0.9] + [0.9] * 8 + [math.inf] * 3 + [0.5] + [0.5] * 10)
    return out


@pytest.mark.parametrize(
    "settings",
    [
        dict(patience=3),
        dict(patience=1, factor=0.5),
        dict(patience=2, cooldown=2, rtol=1e-3),
        dict(patience=4, cooldown=1),
    ],
)
def test_optax_reduce_on_plateau_is_torch_rules_with_patience_minus_one(settings, x64):
    """What plateau_chain's docstring and the README claim: with atol=0 and accumulation_size=1,
    optax's reduce_on_plateau(patience=p) scales like lrlab.Plateau(convention="torch", patience=p - 1)."""
    s = lrlab.parse("exponential(0.1, 10, 0.9)")
    opt = lj.plateau_chain(optax.sgd(lj.schedule(s)), **settings)
    params = jnp.asarray(1.0)

    @jax.jit
    def update(state, value):
        return opt.update(jnp.asarray(1.0), state, params, value=value)

    for seq in walks():
        plateau = lrlab.Plateau(
            convention="torch",
            factor=settings.get("factor", 0.1),
            patience=settings["patience"] - 1,
            threshold=settings.get("rtol", 1e-4),
            cooldown=settings.get("cooldown", 0),
        )
        state = opt.init(params)
        reductions = 0
        for t, value in enumerate(seq):
            updates, state = update(state, value)
            reductions += plateau.step(value)
            scale = float(state[1].scale)
            assert scale == plateau.scale
            # The update is the scheduled step, scaled: -s(t) * scale * grad (grad = 1).
            assert float(updates) == pytest.approx(-s(t) * plateau.scale, rel=1e-15)
        assert reductions > 0 or seq == walks()[-2]


def test_plateau_chain_passes_bad_settings_to_optax():
    with pytest.raises(ValueError, match="Factor"):
        lj.plateau_chain(optax.sgd(0.1), factor=1.5)


# -- momentum driven by a schedule, through optax.inject_hyperparams -------------------------------------------
@pytest.mark.parametrize("factory", ["sgd", "adam"])
def test_with_momentum_values_and_updates_by_hand(factory, x64):
    lr, mom = lrlab.parse("warmup(cosine(0.1, decay_steps=20), 4)"), lrlab.parse("linear(0.95, 0.6, 10)")
    opt = lj.with_momentum(getattr(optax, factory), lr, "linear(0.95, 0.6, 10)")
    name = "b1" if factory == "adam" else "momentum"
    params = jnp.zeros(3, dtype=jnp.float64)
    state = opt.init(params)
    update = jax.jit(opt.update)
    rng = np.random.default_rng(0)
    trace, nu = np.zeros(3), np.zeros(3)
    for t in range(15):
        g = rng.normal(size=3)
        updates, state = update(jnp.asarray(g), state, params)
        assert float(state.hyperparams[name]) == pytest.approx(mom(t), rel=1e-15)
        assert float(state.hyperparams["learning_rate"]) == pytest.approx(lr(t), rel=1e-13)
        if factory == "sgd":  # optax.trace then the rate: trace = g + m * trace; update = -lr * trace
            trace = g + mom(t) * trace
            want = -lr(t) * trace
        else:  # scale_by_adam with this step's b1 in the moment and in its bias correction
            trace = mom(t) * trace + (1 - mom(t)) * g
            nu = 0.999 * nu + 0.001 * g * g
            want = -lr(t) * (trace / (1 - mom(t) ** (t + 1))) / (np.sqrt(nu / (1 - 0.999 ** (t + 1))) + 1e-8)
        np.testing.assert_allclose(np.asarray(updates), want, rtol=1e-12, atol=1e-15)  # atol: cancellation near 0


def test_with_momentum_refuses_what_it_cannot_drive():
    with pytest.raises(ValueError, match=r"'adagrad' takes no learning_rate and b1 or momentum"):
        lj.with_momentum(optax.adagrad, 0.1, "constant(0.9)")
    with pytest.raises(ValueError, match="not as momentum="):
        lj.with_momentum(optax.sgd, 0.1, "constant(0.9)", momentum=0.5)
    with pytest.raises(ValueError, match="schedule must be"):
        lj.with_momentum(optax.sgd, 0.1, 0.9)
    opt = lj.with_momentum(optax.sgd, 0.05, "constant(0.9)", nesterov=True)  # a plain rate; other kwargs pass on
    state = opt.init(jnp.zeros(2))
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(0.05)
