"""The lab compares schedules on a user's own training function in each framework lrlab adapts: a Keras 3
`model.fit`, a Lightning Trainer, a transformers Trainer (a tiny BERT built in memory) and an optax loop
(tests/lab/fn_keras.py, fn_lightning.py, fn_hf.py, fn_optax.py; the plain torch loop is test_function_engine.py).

Each framework compares once (a module-scoped fixture per framework: 3 schedules x 2 seeds, 3 epochs of 6 updates)
and the tests read that comparison: the leaderboard, the rates the framework's optimizer used against the bound
schedule, the losses it computed against what the run logged, reuse from the store, a new version, a run that
raises, a run that diverges (the lab's StopRun must get out through the framework) and the lab's seeding.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("torch")

from lrlab import parse
from lrlab.lab import compare
from lrlab.lab.store import Store

sys.path.insert(0, str(Path(__file__).parent))
import fn_common

SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]
STEPS = fn_common.EPOCHS * fn_common.STEPS_PER_EPOCH  # 18 updates per run
FRAMEWORKS = {  # name: (helper module, the libraries it needs)
    "keras": ("fn_keras", ["keras"]),
    "lightning": ("fn_lightning", ["lightning"]),
    "transformers": ("fn_hf", ["transformers"]),
    "optax": ("fn_optax", ["jax", "optax"]),
}


@dataclass
class Case:
    name: str
    module: Any
    target: Any  # the experiment, version 1
    db: Path
    comparison: Any
    seen: dict[tuple[str, int], dict[str, list[float]]]  # what the framework used, per (label, seed)

    def compare(self, target: Any = None, **kw: Any) -> Any:
        kw.setdefault("seeds", 2)
        kw.setdefault("db", self.db)
        return compare(self.target if target is None else target, kw.pop("specs", SPECS), progress=False, **kw)


@pytest.fixture(scope="module", params=list(FRAMEWORKS))
def case(request, tmp_path_factory):
    module_name, needs = FRAMEWORKS[request.param]
    for lib in needs:
        pytest.importorskip(lib)
    module = importlib.import_module(module_name)
    target = getattr(module, f"tiny_{module_name.removeprefix('fn_')}")
    db = tmp_path_factory.mktemp(request.param) / "runs.db"
    fn_common.SEEN.clear()
    comparison = compare(target, SPECS, seeds=2, db=db, progress=False)
    return Case(request.param, module, target, db, comparison, dict(fn_common.SEEN))


def test_three_schedules_two_seeds_are_trained_and_ranked_by_validation(case):
    c = case.comparison
    assert [(r.label, r.seed, r.status, r.error) for r in c.runs] == [
        (s, seed, "ok", None) for seed in (0, 1) for s in SPECS]
    assert not any(r.reused for r in c.runs)
    for run in c.runs:
        assert run.config["schedule"] == repr(parse(run.label).stretch(STEPS))  # bound to 3 epochs x 6 updates
        assert run.history["epoch"].tolist() == [1, 2, 3] and run.history["step"].tolist() == [6, 12, 18]
        assert run.metrics["val_accuracy"] == run.history["val_accuracy"].iloc[-1]
        assert run.metrics["epochs_done"] == 3 and run.metrics["steps"] == STEPS and len(run.step_loss) == STEPS
    assert c.rank_column == "val_accuracy" and c.higher_is_better
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and (board["runs"] == 2).all() and (board["diverged"] == 0).all()
    means = {s: np.mean([r.metrics["val_accuracy"] for r in c.runs if r.label == s]) for s in SPECS}
    assert board["val_accuracy"].tolist() == pytest.approx([means[s] for s in board["schedule"]])
    assert board["val_accuracy"].is_monotonic_decreasing
    assert board["val_accuracy"].iloc[0] > 0.55  # the models learn something in 18 updates (chance is ~0.5)
    print(f"\n{case.name}:\n" + board[["schedule", "runs", "val_accuracy", "val_accuracy_std", "reached"]]
          .round(4).to_string(index=False))


def test_the_report_shows_the_ranking_and_every_schedule(case, tmp_path):
    from lrlab.viz.report import write_report

    html = write_report(case.comparison, tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(s in html for s in SPECS) and "val_accuracy" in html
    assert case.comparison.ranking.describe().split(";")[0] in html  # what it is ranked by


def test_the_framework_ran_each_update_at_the_schedules_rate(case):
    for run in case.comparison.runs:
        want = parse(run.label).stretch(STEPS)(np.arange(STEPS))
        used = case.seen[(run.label, run.seed)]["rates"]  # read from the framework's optimizer
        assert len(used) == STEPS
        # Keras and JAX compute the schedule in float32; torch takes lrlab's float64 values as they are
        tol = {"rtol": 1e-5, "atol": 1e-7} if case.name in ("keras", "optax") else {"rtol": 0, "atol": 0}
        np.testing.assert_allclose(used, want, **tol)
        np.testing.assert_allclose(run.step_lr, want, rtol=1e-12)  # what the lab recorded: the same rates


def test_the_logged_losses_are_what_the_framework_computed(case):
    runs = case.comparison.runs
    if case.name == "keras":
        # fit's batch logs hold the epoch's running mean: the callback undid it; the probe computed each batch's
        # loss by hand with the weights the update started from
        for run in runs:
            by_hand = case.seen[(run.label, run.seed)]["losses"]
            np.testing.assert_allclose(run.step_loss, by_hand, rtol=1e-4, atol=1e-6)
            running = np.cumsum(run.step_loss[:6]) / np.arange(1, 7)
            assert not np.allclose(run.step_loss[1:6], running[1:6], rtol=1e-3)  # not the running mean itself
    elif case.name == "transformers":
        for run in runs:  # the Trainer's own mean training loss over the 18 updates
            assert np.mean(run.step_loss) == pytest.approx(run.metrics["train_loss"], rel=1e-6)
    elif case.name == "lightning":
        for run in runs:  # the last report's val_loss is the trained model's, evaluated again after fit
            assert run.history["val_loss"].iloc[-1] == pytest.approx(run.metrics["val_loss_after"], rel=1e-6)
            assert run.metrics["test_accuracy"] == run.history["val_accuracy"].iloc[-1]
    else:  # optax: the first update's loss, recomputed from the seed alone
        import jax

        x, y, _, _ = fn_common.data()
        for run in runs:
            np.random.seed(run.seed)
            first = np.random.permutation(len(x))[:fn_common.BATCH]
            params = case.module.init(jax.random.key(run.seed))
            by_hand = float(case.module.loss_fn(params, x[first], y[first]))  # not jitted: float32 rounding
            assert by_hand == pytest.approx(run.step_loss[0], rel=1e-5)
    for run in runs:  # each epoch's training loss is the mean of its logged updates
        per_epoch = np.asarray(run.step_loss).reshape(3, 6).mean(1)
        np.testing.assert_allclose(run.history["loss"], per_epoch, rtol=1e-12)


def test_a_second_call_reuses_every_run_and_a_new_version_retrains(case):
    again = case.compare()
    assert all(r.reused for r in again.runs) and len(again.runs) == 6
    assert [r.metrics for r in again.runs] == [r.metrics for r in case.comparison.runs]
    assert again.leaderboard["schedule"].tolist() == case.comparison.leaderboard["schedule"].tolist()
    v2 = getattr(case.module, f"{case.target.name}_v2")
    bumped = case.compare(v2, seeds=1, specs=SPECS[:1])
    assert not bumped.runs[0].reused and bumped.runs[0].status == "ok"
    assert bumped.runs[0].config["task_identity"] == {"experiment": case.target.name, "version": "2"}


def test_a_run_that_raises_is_stored_failed_and_the_rest_are_ranked(case):
    c = case.compare(specs=SPECS[:2], raise_seed=1, raise_label="cosine(0.1)")
    status = {(r.label, r.seed): (r.status, r.error) for r in c.runs}
    assert status == {("constant(0.1)", 0): ("ok", None), ("cosine(0.1)", 0): ("ok", None),
                      ("constant(0.1)", 1): ("ok", None),
                      ("cosine(0.1)", 1): ("failed", "RuntimeError: boom on seed 1")}
    failed = next(r for r in c.runs if r.status == "failed")
    assert failed.metrics["epochs_done"] == 1 and math.isnan(failed.metrics["val_accuracy"])
    with Store(case.db) as store:
        stored = store.get(failed.id)
    assert (stored.status, stored.error) == ("failed", "RuntimeError: boom on seed 1")
    board = c.leaderboard
    assert board["schedule"].tolist() == ["constant(0.1)", "cosine(0.1)"]  # the failed schedule ranks last
    assert board["failed"].tolist() == [0, 1] and board["diverged"].tolist() == [0, 0]
    assert board["runs"].tolist() == [2, 2]
    assert math.isfinite(board["val_accuracy"].iloc[0]) and math.isnan(board["val_accuracy"].iloc[1])


def test_a_diverging_run_is_stopped_through_the_framework(case):
    # A rate that overflows the weights: at 1e4 Keras's run ends "ok" at chance (its cross-entropy clips the
    # probabilities, so the loss stays below -log(1e-7)), and so does the Trainer's (it clips the gradients'
    # norm to 1: the loss reaches 2e4, short of the lab's 1e6 x the first loss)
    run = case.compare(db=None, seeds=1, specs=["constant(1e30)"]).runs[0]
    assert run.status == "diverged" and run.error is None
    assert run.metrics["epochs_done"] <= 1 and len(run.step_loss) < STEPS
    assert math.isnan(run.metrics["val_accuracy"])


def test_the_labs_seed_reaches_the_framework(case):
    first = case.comparison.runs[0]
    again = case.compare(db=None, seeds=[first.seed], specs=[first.label]).runs[0]
    assert np.array_equal(again.step_loss, first.step_loss)  # the same seed trains the same run
    other = next(r for r in case.comparison.runs if r.label == first.label and r.seed != first.seed)
    assert not np.allclose(other.step_loss, first.step_loss)


def test_a_plateau_entry_reduces_the_rate_the_framework_uses(case):
    # (optax: lrlab.jax.schedule takes no plateau, so fn_optax sets optax.inject_hyperparams' rate to run.lr();
    # torch: run.report reduces the plateau after the epoch's last scheduler.step(), and lrlab.torch.Scheduler
    # re-applies the rate in an optimizer step pre-hook, so the next update already runs at the reduced rate)
    # threshold=0.9: an epoch counts as better only with a val_loss under a tenth of the best, so every epoch
    # after the first is a bad one and (patience 0) halves the rate
    spec = "constant(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)"
    run = case.compare(db=None, seeds=1, specs=[spec]).runs[0]
    used = fn_common.SEEN[(run.label, run.seed)]["rates"]
    assert run.status == "ok"
    np.testing.assert_allclose(used, [0.1] * 12 + [0.05] * 6, rtol=1e-6)  # reduced after epoch 2's report
    np.testing.assert_allclose(run.step_lr, used, rtol=1e-6)  # the lab recorded the rates the framework used


KERAS_INSIDE = """
import warnings
import numpy as np
from lrlab.lab import compare, experiment

@experiment(epochs=1, steps_per_epoch=2, metric="val_accuracy")
def inside(run):
    import keras  # first imported here: the lab could not seed it before the first run
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(x, y, batch_size=16, verbose=0, validation_data=(x, y))
    run.report(1, val_accuracy=h.history["val_accuracy"][-1], val_loss=h.history["val_loss"][-1])
    return {"w": float(model.get_weights()[0][0, 0])}

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    w = [compare(inside, ["constant(0.1)"], seeds=[0], db=None, progress=False).runs[0].metrics["w"]
         for _ in range(3)]
print(w[0] != w[1], w[1] == w[2], [str(c.message) for c in caught if c.category is RuntimeWarning])
"""


def test_keras_imported_inside_the_function_is_warned_about():
    pytest.importorskip("keras")
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", KERAS_INSIDE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    differs, repeats, warned = out.stdout.strip().split(" ", 2)
    assert (differs, repeats) == ("True", "True")  # the first run's weights were not the seed's; later ones are
    assert warned.count("Keras was first imported inside the training function") == 1
    assert "import keras at the top of the file" in warned
