"""tune, find_lr and forecast on a user's training function (issue 21): a plain PyTorch loop (tests/lab/fn_torch.py)
trained for real. Pruned trials stop inside the function, the range test's sweep is the function's schedule and the
lab stops it when the loss explodes, and the forecast fits the steps the function logged."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")

from lrlab.lab import compare, experiment
from lrlab.lab import forecast as F
from lrlab.lab.store import Store
from lrlab.lab.studies.find import find_lr
from lrlab.lab.studies.space import Space, default_space
from lrlab.lab.studies.tune import tune

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import fn_torch  # noqa: E402

REACHED: list[dict] = []  # per call of `counted`: the last epoch it reported, and the last it got past


def counted(run):
    """fn_torch.train, recording how far each call got: past the epoch a report pruned, it must not train on."""
    seen = {"reported": 0, "passed": 0}
    REACHED.append(seen)
    report = run.report

    def spy(epoch, **metrics):
        seen["reported"] = epoch
        report(epoch, **metrics)  # raises here when the pruner says so
        seen["passed"] = epoch

    run.report = spy
    return fn_torch.train(run)


counted_torch = experiment(counted, epochs=6, steps_per_epoch=fn_torch.STEPS_PER_EPOCH, metric="val_accuracy",
                           name="counted_torch")
SPACE = "constant(loguniform(1e-3, 1)) | cosine(loguniform(1e-3, 1))"


def test_tune_prunes_inside_the_function_and_confirms_on_fresh_seeds(tmp_path):
    REACHED.clear()
    result = tune(counted_torch, SPACE, trials=8, confirm=2, seeds=2, storage=tmp_path / "t.db", progress=False,
                  sampler="random")
    trials = result.trials
    assert len(trials) == 8 and set(trials["state"]) == {"COMPLETE", "PRUNED"}
    pruned = trials[trials["state"] == "PRUNED"]
    assert (pruned["epochs"] < 6).all() and (trials[trials["state"] == "COMPLETE"]["epochs"] == 6).all()
    searched = REACHED[:8]  # the search's calls, in trial order (then the confirmation's)
    for (_, trial), seen in zip(trials.iterrows(), searched):
        if trial["state"] == "PRUNED":  # stopped inside the function at the epoch it was pruned, trained no more
            assert seen == {"reported": trial["epochs"], "passed": trial["epochs"] - 1}
        else:
            assert seen == {"reported": 6, "passed": 6}
    assert result.metric == "val_accuracy" and result.study.direction.name == "MAXIMIZE"
    complete = trials[trials["state"] == "COMPLETE"]
    assert complete["value"].between(0.5, 1.0).all()
    # the confirmation: the 2 best trials again on seeds 1 and 2 through compare, ranked by val_accuracy
    board = result.leaderboard
    assert len(board) == 2 and list(board["runs"]) == [2, 2] and result.best_spec == board["schedule"].iloc[0]
    assert board["val_accuracy"].is_monotonic_decreasing
    assert sorted({r.seed for r in result.comparison.runs}) == [1, 2]
    assert result.comparison.ranking.metric == "val_accuracy"
    assert set(board["trial"]) <= set(complete["number"])
    with Store(tmp_path / "t.db") as store:  # the confirmation's runs are stored under the experiment's identity
        assert len(store) == 4
    lrlab_attrs = result.study.user_attrs["lrlab"]
    assert lrlab_attrs["task"] == {"experiment": "counted_torch", "version": "1"}


@experiment(epochs=3, steps_per_epoch=2, metric="val_loss", name="quad")
def quad(run):
    """A fast made-up function: its losses are lowest at rate 0.1 and explode past rate 1; it raises when its
    schedule starts above rate 0.5."""
    lr = run.schedule(0)
    if lr > 0.5:
        raise RuntimeError(f"rate {lr:.2f}\nis too high")
    for epoch in range(1, run.epochs + 1):
        for _ in range(run.steps_per_epoch):
            now = run.lr()
            run.log_step(1 + math.log10(now / 0.1) ** 2 + (100 * now if now > 1 else 0))
        run.report(epoch, val_loss=math.log10(lr / 0.1) ** 2 + 1 / epoch)


quad_v2 = experiment(quad.fn, epochs=3, steps_per_epoch=2, metric="val_loss", name="quad", version="2")


def test_a_raising_trial_is_failed_with_its_last_line_and_a_new_version_is_a_new_study(tmp_path):
    result = tune(quad, "constant(loguniform(0.05, 2))", trials=6, confirm=0, storage=tmp_path / "t.db",
                  progress=False, sampler="random", pruner="none")
    trials = result.trials
    failed = [t for t in result.study.trials if t.state.name == "FAIL"]
    assert (trials["state"] != "FAIL").sum() == 6 and failed  # failed trials do not count
    assert all(t.user_attrs["error"] == "is too high" for t in failed)
    assert all(float(t.user_attrs["spec"][9:-1]) > 0.5 for t in failed)
    assert result.study.direction.name == "MINIMIZE" and result.metric == "val_loss"
    best = result.study.best_trial
    assert best.value == pytest.approx(math.log10(float(best.user_attrs["spec"][9:-1]) / 0.1) ** 2 + 1 / 3)
    again = tune(quad_v2, "constant(loguniform(0.05, 2))", trials=1, confirm=0, storage=tmp_path / "t.db",
                 progress=False, sampler="random", pruner="none")
    assert again.study.study_name != result.study.study_name and len(again.trials) >= 1


def test_tune_refuses_what_an_experiment_cannot_take(tmp_path):
    with pytest.raises(ValueError, match="has no default rate to centre a space on"):
        tune(quad, trials=2, storage=tmp_path / "t.db", progress=False)
    with pytest.raises(ValueError, match="batch_size is an option of built-in tasks"):
        tune(quad, "constant(0.1)", trials=2, batch_size=8, storage=tmp_path / "t.db", progress=False)
    nested = experiment(lambda run: None, epochs=2, name="nested")
    with pytest.raises(ValueError, match="cannot be sent to a worker process"):
        tune(nested, "constant(0.1)", trials=2, workers=2, storage=tmp_path / "t.db", progress=False)


def test_tune_centres_the_default_space_on_the_range_test_of_the_function(tmp_path):
    result = tune(quad, trials=2, confirm=0, peak_from_find=True, storage=tmp_path / "t.db", progress=False,
                  pruner="none")
    found = float(f'{find_lr(quad, seeds=3).suggestions["valley"]:.3g}')  # what find_peak centres the space on
    assert result.study.user_attrs["lrlab"]["space"] == Space(default_space(6, found)).text
    assert len(result.trials) == 2


def test_find_lr_sweeps_the_functions_rate_and_stops_it_when_the_loss_explodes():
    found = find_lr(fn_torch.tiny_torch, seeds=2, start_lr=1e-4, end_lr=100.0, steps=60)
    assert found.label == "tiny_torch: range test" and found.seeds == [0, 1]
    for test in found.runs:
        assert test.stopped == "diverged" and 20 < len(test.lrs) < 60  # stopped early, inside run.log_step
        np.testing.assert_allclose(test.lrs, found.runs[0].settings.schedule(np.arange(len(test.lrs))))
    valley = found.suggestions["valley"]
    assert 1e-3 < valley < 1.0
    lo, hi = found.spread["valley"]
    assert lo <= valley <= hi
    assert found.specs()[0].startswith("one_cycle(")
    # the valley trains: a run at that rate learns the task
    run = compare(fn_torch.tiny_torch, [f"cosine({valley:.3g})"], db=None, progress=False).runs[0]
    assert run.status == "ok" and run.metrics["val_accuracy"] > 0.8


def test_find_lr_refuses_a_function_without_steps_per_epoch_or_steps():
    @experiment(epochs=2)
    def no_spe(run):
        run.report(1, val_loss=1.0)

    with pytest.raises(ValueError, match="declares no steps_per_epoch"):
        find_lr(no_spe, seeds=1)

    @experiment(epochs=2, steps_per_epoch=3)
    def silent(run):
        for epoch in range(1, run.epochs + 1):
            run.report(epoch, val_loss=1.0)

    with pytest.raises(ValueError, match=r"logged no step losses on seed 0: call run\.log_step"):
        find_lr(silent, seeds=1, steps=10)


def test_forecast_fits_the_steps_a_function_logged(tmp_path):
    db = tmp_path / "runs.db"
    specs = ["constant(0.1)", "cosine(0.1)", "wsd(0.1, decay_steps=4)"]
    c = compare(fn_torch.tiny_torch, specs, db=db, progress=False)
    assert all(len(r.step_loss) == 18 for r in c.runs)
    fc = F.fit(c.runs, check=False, bins=6)
    assert fc.scale == pytest.approx(0.1) and math.isfinite(fc.params["L0"])
    pred = fc.predict("one_cycle(0.1)", 18)
    assert math.isfinite(pred.final) and 0 < pred.final < 2
    with Store(db) as store:  # the stored runs fit as well
        stored = [store.get(r.id) for r in c.runs]
    assert F.fit(stored, check=False, bins=6).params == pytest.approx(fc.params)

    @experiment(epochs=2, steps_per_epoch=4)
    def no_steps(run):
        for epoch in range(1, run.epochs + 1):
            run.report(epoch, val_loss=1.0 / epoch)

    silent = compare(no_steps, ["constant(0.1)"], db=None, progress=False).runs
    with pytest.raises(ValueError, match=r"logged no per-step losses: its training function must call run.log_step"):
        F.fit(silent)


def test_worker_processes_get_the_experiment_by_reference_and_share_the_count(tmp_path):
    result = tune(fn_torch.tiny_torch, "constant(loguniform(1e-2, 1))", trials=4, epochs=2, confirm=0, workers=2,
                  threads=1, storage=tmp_path / "t.db", progress=False, sampler="random", pruner="none")
    trials = result.trials
    assert (trials["state"] == "COMPLETE").sum() in (4, 5)  # one more only where both asked at the same moment
    assert (trials["epochs"] == 2).all() and not trials["worker"].str.endswith(f":{os.getpid()}").any()
