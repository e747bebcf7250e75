"""A user's own JAX/optax loop, as the lab's tests train it: one jitted step of
`optax.sgd(lrlab.jax.schedule(run.schedule), momentum=0.9)`, the parameters from `jax.random.key(run.seed)`, the
data shuffled each epoch by numpy's generator (seeded by the lab)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from fn_common import BATCH, EPOCHS, STEPS_PER_EPOCH, data, maybe_fail, seen

import lrlab.jax
from lrlab.lab import experiment


def init(key):
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (8, 16)) * 0.35, "b1": jnp.zeros(16),
            "w2": jax.random.normal(k2, (16, 2)) * 0.25, "b2": jnp.zeros(2)}


def logits(params, x):
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def loss_fn(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()


def train(run):
    x, y, xv, yv = data()
    params = init(jax.random.key(run.seed))
    if run.plateau is None:
        opt = optax.sgd(lrlab.jax.schedule(run.schedule), momentum=0.9)
    else:  # a plateau entry: the rate is the optimizer's state, set before every update to run.lr()
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0, momentum=0.9)
    state = opt.init(params)

    @jax.jit
    def step(params, state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss, updates

    record = seen(run)
    record.update(rates=[])
    for epoch in range(1, run.epochs + 1):
        order = np.random.permutation(len(x))
        for i in range(STEPS_PER_EPOCH):
            batch = order[i * BATCH:(i + 1) * BATCH]
            if run.plateau is not None:
                state.hyperparams["learning_rate"] = jnp.asarray(run.lr(), dtype=jnp.float32)
            params, state, loss, updates = step(params, state, x[batch], y[batch])
            run.log_step(loss)
            # the rate optax used: SGD with momentum moves by -rate x the momentum trace
            momentum = state[0] if run.plateau is None else state.inner_state[0]
            trace, u = np.asarray(momentum.trace["b2"], np.float64), np.asarray(updates["b2"], np.float64)
            record["rates"].append(float(-u[0] / trace[0]))
        out = logits(params, xv)
        run.report(epoch, val_accuracy=(out.argmax(1) == yv).mean(),
                   val_loss=optax.softmax_cross_entropy_with_integer_labels(out, yv).mean())
        maybe_fail(run)
    return {}


tiny_optax = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="1",
                        name="tiny_optax")
tiny_optax_v2 = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy",
                           version="2", name="tiny_optax")
