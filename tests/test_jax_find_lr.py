"""`lrlab.jax.find_lr`: the range test on a JAX model, each update checked against a hand-written optax loop."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrlab.jax  # noqa: E402
from lrlab import rangetest  # noqa: E402

X = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
Y = X @ np.array([1.0, -2.0, 0.5], "float32")
BATCHES = [(X[i:i + 16], Y[i:i + 16]) for i in range(0, 64, 16)]


def loss_fn(w, batch):
    return jnp.mean((batch[0] @ w - batch[1]) ** 2)


def test_every_update_is_optax_at_the_sweeps_rate():
    w0 = jnp.zeros(3)
    rt = lrlab.jax.find_lr(w0, loss_fn, BATCHES, start_lr=1e-4, end_lr=10.0, steps=40, seed=3)
    sweep = rangetest.sweep(1e-4, 10.0, 40)
    n = len(rt.lrs)
    np.testing.assert_allclose(rt.lrs, sweep(np.arange(n)), rtol=1e-12)
    # by hand: optax.sgd(momentum 0.9), rate sweep(t) at update t + 1, the batches cycled
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0, momentum=0.9)
    w, state, losses = w0, tx.init(w0), []
    for t in range(n):
        state.hyperparams["learning_rate"] = jnp.asarray(sweep(t), jnp.float32)
        loss, g = jax.value_and_grad(loss_fn)(w, BATCHES[t % 4])
        updates, state = tx.update(g, state, w)
        w = optax.apply_updates(w, updates)
        losses.append(float(loss))
    np.testing.assert_allclose(rt.losses, losses, rtol=1e-4)
    assert rt.stopped == "diverged" and n < 40  # the rate reached past stability: the shared stopping rule
    assert rt.smoothed[-1] > 4 * np.min(rt.smoothed[:-1]) and rt.seed == 3
    assert 1e-4 <= rt.suggestions["valley"] <= 10.0
    assert np.array_equal(w0, jnp.zeros(3))  # the caller's parameters are as they were


def test_another_optimizer_and_an_iterator_that_ends():
    rt = lrlab.jax.find_lr(jnp.zeros(3), loss_fn, iter(BATCHES * 2), optax.adam, start_lr=1e-4, end_lr=1e-2,
                           steps=20)
    assert len(rt.lrs) == 8 and rt.stopped is None  # 8 batches, then the iterator ended


def test_bad_input_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="batches holds no batch"):
        lrlab.jax.find_lr(jnp.zeros(3), loss_fn, [])
    with pytest.raises(ValueError, match=r"start_lr must be < end_lr"):
        lrlab.jax.find_lr(jnp.zeros(3), loss_fn, BATCHES, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be a function"):
        lrlab.jax.find_lr(jnp.zeros(3), loss_fn, BATCHES, optimizer=3)
