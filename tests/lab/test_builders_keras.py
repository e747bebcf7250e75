"""`lrlab.keras.experiment`: a compiled Keras model's own `fit` in the lab with one line (issue 22), trained for
real (torch backend, tiny data): compare 3 schedules x 2 seeds (leaderboard, store reuse), the rates and per-step
losses Keras used and computed, a PyDataset and a generator function as data, a plateau entry, and tune pruning
trials inside fit."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("torch")

import lrlab.keras  # noqa: E402
from lrlab import parse  # noqa: E402
from lrlab.lab import compare, experiment  # noqa: E402

SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]
N, BATCH, EPOCHS = 200, 32, 3  # 7 updates per epoch, the last of 8 samples (Keras weights its mean by them)
STEPS = EPOCHS * 7
SEEN: dict[int, list[dict]] = {}  # per seed: what each run's probe saw, in order


def data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(N + 64, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x[:N], y[:N], x[N:], y[N:]


X, Y, XV, YV = data()


class Probe(keras.callbacks.Callback):
    """The rate of every update read from the optimizer, each batch's loss computed by hand with the weights the
    update starts from (fit(shuffle=False): batches in order), and the epochs fit began."""

    def __init__(self):
        super().__init__()
        self.seen = {"rates": [], "losses": [], "epochs": 0}

    def on_epoch_begin(self, epoch, logs=None):
        self.seen["epochs"] += 1

    def on_train_batch_begin(self, batch, logs=None):
        self.seen["rates"].append(lrlab.keras.current_lr(self.model.optimizer))
        xb, yb = X[batch * BATCH:(batch + 1) * BATCH], Y[batch * BATCH:(batch + 1) * BATCH]
        loss = keras.losses.sparse_categorical_crossentropy(yb, self.model(xb, training=True))
        self.seen["losses"].append(float(keras.ops.convert_to_numpy(keras.ops.mean(loss))))


PROBES: list[Probe] = []


def build(seed):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Probed(keras.callbacks.Callback):
    """A fresh Probe per run (fit_kwargs' callbacks are shared by the runs: this one hands each fit its own)."""

    def set_model(self, model):
        super().set_model(model)
        if not PROBES or PROBES[-1].model is not model:
            PROBES.append(Probe())
            PROBES[-1].set_model(model)

    def on_epoch_begin(self, epoch, logs=None):
        PROBES[-1].on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        PROBES[-1].on_train_batch_begin(batch, logs)


def tiny(version="1", **kw):
    kw.setdefault("epochs", EPOCHS)
    return lrlab.keras.experiment(build, X, Y, validation_data=(XV, YV), batch_size=BATCH, metric="val_accuracy",
                                  version=version, name="tiny_keras_builder",
                                  fit_kwargs={"shuffle": False, "callbacks": [Probed()]}, **kw)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    db = tmp_path_factory.mktemp("keras") / "runs.db"
    PROBES.clear()
    return db, compare(tiny(), SPECS, seeds=2, db=db, progress=False), list(PROBES)


def test_compare_trains_ranks_and_reuses(compared):
    db, c, _ = compared
    assert [(r.label, r.seed, r.status) for r in c.runs] == [(s, seed, "ok") for seed in (0, 1) for s in SPECS]
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and board["runs"].tolist() == [2, 2, 2]
    assert c.ranking.metric == "val_accuracy" and board["val_accuracy"].is_monotonic_decreasing
    assert board["val_accuracy"].between(0.5, 1).all()
    for run in c.runs:  # every epoch's logs reported: Keras's own loss, accuracy and validation figures
        assert list(run.history["epoch"]) == [1, 2, 3]
        assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(run.history.columns)
    PROBES.clear()
    again = compare(tiny(), SPECS, seeds=2, db=db, progress=False)
    assert all(r.reused for r in again.runs) and PROBES == []  # nothing trained again
    bumped = compare(tiny(version="2"), SPECS[:1], seeds=1, db=db, progress=False)
    assert not bumped.runs[0].reused and bumped.runs[0].config["task_identity"]["version"] == "2"


def test_keras_ran_each_update_at_the_schedules_rate(compared):
    _, c, probes = compared
    for run, probe in zip(c.runs, probes):
        want = parse(run.label).stretch(STEPS)(np.arange(STEPS))  # the spec bound to epochs x 7 updates
        np.testing.assert_allclose(probe.seen["rates"], want, rtol=1e-5, atol=1e-7)


def test_the_logged_losses_are_the_updates_own(compared):
    _, c, probes = compared
    for run, probe in zip(c.runs, probes):
        assert len(run.step_loss) == STEPS
        np.testing.assert_allclose(run.step_loss, probe.seen["losses"], rtol=1e-4, atol=1e-6)
        # the epoch's loss Keras logged is the batch-size-weighted mean of the updates' losses
        sizes = np.array([BATCH] * 6 + [N - 6 * BATCH], dtype=float)
        weighted = (np.asarray(run.step_loss).reshape(EPOCHS, 7) * sizes).sum(1) / N
        np.testing.assert_allclose(run.history["loss"], weighted, rtol=1e-5)


def test_a_pydataset_and_a_generator_function_train_the_same_run():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return X[i * BATCH:(i + 1) * BATCH], Y[i * BATCH:(i + 1) * BATCH]

    def batches(seed):  # a generator function: each run gets a fresh generator
        while True:
            yield from (Batches()[i] for i in range(7))

    runs = []
    for x in (Batches(), batches):
        fn = lrlab.keras.experiment(build, x, validation_data=(XV, YV), epochs=2, metric="val_accuracy",
                                    steps_per_epoch=None if x is not batches else 7, name="b",
                                    fit_kwargs={"shuffle": False})
        assert fn.__lrlab_experiment__["steps_per_epoch"] == 7
        runs.append(compare(fn, ["cosine(0.1)"], seeds=[3], db=None, progress=False).runs[0])
    arrays = compare(tiny(epochs=2), ["cosine(0.1)"], seeds=[3], db=None, progress=False).runs[0]
    for run in runs:
        assert run.status == "ok" and len(run.step_loss) == 14
        np.testing.assert_allclose(run.step_loss, arrays.step_loss, rtol=1e-5)


def test_a_plateau_entry_scales_the_optimizers_schedule():
    PROBES.clear()
    spec = "constant(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)"
    run = compare(tiny(), [spec], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "ok"
    np.testing.assert_allclose(PROBES[-1].seen["rates"], [0.1] * 14 + [0.05] * 7, rtol=1e-6)
    np.testing.assert_allclose(run.step_lr, PROBES[-1].seen["rates"], rtol=1e-6)


def test_a_diverging_run_stops_inside_fit():
    PROBES.clear()
    run = compare(tiny(), ["constant(1e30)"], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "diverged" and PROBES[-1].seen["epochs"] <= 1 and math.isnan(run.metrics["val_accuracy"])


def test_tune_prunes_trials_inside_fit(tmp_path):
    pytest.importorskip("optuna")
    from lrlab.lab import tune

    PROBES.clear()
    result = tune(tiny(epochs=4), "constant(loguniform(1e-4, 1))", trials=8, confirm=0, storage=tmp_path / "t.db",
                  progress=False, sampler="random")
    trials = result.trials
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    for (_, trial), probe in zip(trials.iterrows(), PROBES[:8]):  # the trials' fits, in order
        # a pruned trial's fit began no epoch after the one whose report pruned it; the others ran all 4
        assert probe.seen["epochs"] == (trial["epochs"] if trial["state"] == "PRUNED" else 4)


def test_builder_settings_are_checked_in_one_line():
    with pytest.raises(ValueError, match=r"lrlab\.keras\.experiment: epochs must be"):
        lrlab.keras.experiment(build, X, Y, epochs=0, metric=None)
    with pytest.raises(ValueError, match="x is a generator"):
        lrlab.keras.experiment(build, iter([]), epochs=1, metric=None)
    with pytest.raises(ValueError, match="steps_per_epoch is needed"):
        lrlab.keras.experiment(build, lambda seed: iter([]), epochs=1, metric=None)
    assert experiment(tiny()).name == "tiny_keras_builder" and experiment(tiny()).steps_per_epoch == 7


product = tiny()  # a top-level name: worker processes import the experiment again by it


def test_a_builders_function_has_a_reference_for_worker_processes():
    import pickle

    exp = experiment(product)
    assert exp.ref == f"{__name__}:product"
    again = pickle.loads(pickle.dumps(exp))  # what a worker process receives: it imports the module again
    assert (again.name, again.version, again.steps_per_epoch, again.metric) == (exp.name, "1", 7, "val_accuracy")
    assert experiment(tiny()).ref == ""  # held by no top-level name: no reference (workers refuse it)


def test_the_labs_range_test_sweeps_fit_and_stops_it():
    from lrlab.lab import find_lr

    PROBES.clear()
    found = find_lr(tiny(epochs=10), seeds=1, start_lr=1e-4, end_lr=100.0, steps=30)
    test = found.runs[0]
    # Keras's cross-entropy clips the probabilities, so its loss stays bounded and need not diverge; either way fit
    # (10 epochs of 7 updates) trains no update past the test's last: the lab stops it inside fit
    assert len(test.lrs) == 30 or test.stopped == "diverged"
    want = test.settings.schedule(np.arange(len(test.lrs)))
    np.testing.assert_allclose(test.lrs, want, rtol=1e-12)
    np.testing.assert_allclose(PROBES[-1].seen["rates"], want, rtol=1e-5)  # what Keras's optimizer ran, no more


def test_a_budget_in_steps_ends_fit_at_its_last_update():
    PROBES.clear()
    run = compare(tiny(), ["cosine(0.1)"], seeds=1, steps=10, db=None, progress=False).runs[0]
    assert run.status == "ok" and len(run.step_loss) == 10 and len(PROBES[-1].seen["rates"]) == 10
    np.testing.assert_allclose(PROBES[-1].seen["rates"], parse("cosine(0.1)").stretch(10)(np.arange(10)),
                               rtol=1e-5, atol=1e-7)
    assert list(run.history["epoch"]) == [1, 2]  # epoch 2 ended after its 3rd update, and was reported
