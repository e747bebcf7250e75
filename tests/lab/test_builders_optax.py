"""`lrlab.jax.experiment`: an optax loop in the lab with one line (issue 22), trained for real: compare 3 schedules x
2 seeds (leaderboard, store reuse), every update's loss equal to a hand-written optax loop at the rates the lab
recorded (a plateau entry's included), and tune pruning trials inside the loop."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

import lrlab.jax  # noqa: E402
from lrlab.lab import compare  # noqa: E402

SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]
EPOCHS, SPE, BATCH = 3, 6, 32
rng = np.random.default_rng(123)
X = rng.normal(size=(256, 8)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int32")
EVALUATED: list[int] = []  # one entry per evaluate() call: the run's count so far


def init(key):
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (8, 16)) * 0.35, "b1": jnp.zeros(16),
            "w2": jax.random.normal(k2, (16, 2)) * 0.25, "b2": jnp.zeros(2)}


def logits(params, x):
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def cross_entropy(params, batch):
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, batch[0]), batch[1]).mean()


def batches(seed, epoch):
    order = np.random.default_rng([seed, epoch]).permutation(192)
    return [(X[order[i:i + BATCH]], Y[order[i:i + BATCH]]) for i in range(0, 192, BATCH)]


def evaluate(params):
    EVALUATED.append(1)
    out = logits(params, X[192:])
    return {"val_accuracy": (out.argmax(1) == Y[192:]).mean(),
            "val_loss": optax.softmax_cross_entropy_with_integer_labels(out, Y[192:]).mean()}


def tiny(version="1", epochs=EPOCHS):
    return lrlab.jax.experiment(init, cross_entropy, batches, epochs=epochs, steps_per_epoch=SPE,
                                evaluate=evaluate, metric="val_accuracy", version=version)


def by_hand(seed, rates):
    """The optax loop written out, at the given rate per update: the losses it computed."""
    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0, momentum=0.9)
    params = init(jax.random.key(seed))
    state, losses = tx.init(params), []
    for epoch in range(1, EPOCHS + 1):
        for batch in batches(seed, epoch):
            state.hyperparams["learning_rate"] = jnp.asarray(rates[len(losses)], jnp.float32)
            loss, grads = jax.value_and_grad(cross_entropy)(params, batch)
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            losses.append(float(loss))
    return losses


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    db = tmp_path_factory.mktemp("optax") / "runs.db"
    return db, compare(tiny(), SPECS, seeds=2, db=db, progress=False)


def test_compare_trains_ranks_and_reuses(compared):
    db, c = compared
    assert [(r.label, r.seed, r.status) for r in c.runs] == [(s, seed, "ok") for seed in (0, 1) for s in SPECS]
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and board["runs"].tolist() == [2, 2, 2]
    assert c.ranking.metric == "val_accuracy" and board["val_accuracy"].between(0.5, 1).all()
    EVALUATED.clear()
    again = compare(tiny(), SPECS, seeds=2, db=db, progress=False)
    assert all(r.reused for r in again.runs) and EVALUATED == []
    assert not compare(tiny("2"), SPECS[:1], seeds=1, db=db, progress=False).runs[0].reused


def test_every_update_is_the_hand_written_loops(compared):
    _, c = compared
    for run in c.runs:
        assert len(run.step_loss) == EPOCHS * SPE
        np.testing.assert_allclose(run.step_loss, by_hand(run.seed, run.step_lr), rtol=1e-5)


def test_a_plateau_entry_reduces_the_rate_optax_uses():
    spec = "constant(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)"
    run = compare(tiny(), [spec], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "ok"
    np.testing.assert_allclose(run.step_lr, [0.1] * 12 + [0.05] * 6, rtol=1e-12)
    np.testing.assert_allclose(run.step_loss, by_hand(run.seed, run.step_lr), rtol=1e-5)


def test_tune_prunes_trials_inside_the_loop(tmp_path):
    pytest.importorskip("optuna")
    from lrlab.lab import tune

    counts: list[int] = []
    original = evaluate

    def counting(params):
        counts[-1] += 1
        return original(params)

    def fresh(key):
        counts.append(0)
        return init(key)

    target = lrlab.jax.experiment(fresh, cross_entropy, batches, epochs=4, steps_per_epoch=SPE, evaluate=counting,
                                  metric="val_accuracy", name="counted")
    result = tune(target, "constant(loguniform(1e-4, 1))", trials=8, confirm=0, storage=tmp_path / "t.db",
                  progress=False, sampler="random")
    trials = result.trials
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    for (_, trial), n in zip(trials.iterrows(), counts[:8]):  # a pruned trial evaluated no epoch past its last
        assert n == (trial["epochs"] if trial["state"] == "PRUNED" else 4)


def test_builder_settings_are_checked_in_one_line():
    with pytest.raises(ValueError, match="steps_per_epoch is needed"):
        lrlab.jax.experiment(init, cross_entropy, batches, epochs=1, metric=None)
    with pytest.raises(ValueError, match="epochs must be"):
        lrlab.jax.experiment(init, cross_entropy, [], epochs=0, metric=None)


def test_a_budget_in_steps_ends_the_loop_at_its_last_update():
    run = compare(tiny(), ["cosine(0.1)"], seeds=1, steps=10, db=None, progress=False).runs[0]
    assert run.status == "ok" and len(run.step_loss) == 10 and list(run.history["epoch"]) == [1, 2]
