"""`tune`: pruned members leave a stack without changing the others, a search on a tiny task gives a confirmed
leaderboard, and workers sharing one storage (an SQLite file, and PostgreSQL) finish the study's N trials between
them, also when one of them is killed with kill -9 in the middle of a trial (Optuna's heartbeat marks its trials
FAIL and the survivor trains others in their place)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from lrlab.lab.engines.stacked import execute_stack  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.studies.compare import split_entry  # noqa: E402
from lrlab.lab.studies.tune import storage_url, tune  # noqa: E402
from lrlab.schedules import parse  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"
SPECS = ["constant(0.5)", "cosine(0.8)", "warmup(cosine(0.3), steps=3)"]


def _plans(task="or3", epochs=6):
    return [plan(task, s, RunOptions(epochs=epochs), dtype="float64") for s in SPECS]


def test_a_pruned_member_leaves_the_stack_and_the_others_train_as_without_it():
    whole = execute_stack(_plans())
    calls = []

    def prune_second_at_3(k, epoch, row):
        calls.append((k, epoch))
        assert row["epoch"] == epoch and "val_accuracy" in row
        return k == 1 and epoch == 3

    pruned = execute_stack(_plans(), on_epoch=prune_second_at_3)
    assert pruned[1].status == "pruned" and len(pruned[1].history) == 3
    assert calls.count((1, 4)) == 0 and calls.count((0, 6)) == 1  # a pruned member is asked no more
    np.testing.assert_array_equal(pruned[1].history.to_numpy(float), whole[1].history.to_numpy(float)[:3])
    np.testing.assert_array_equal(pruned[1].step_lr, whole[1].step_lr[: len(pruned[1].step_lr)])
    for k in (0, 2):
        assert pruned[k].status == "ok"
        np.testing.assert_allclose(pruned[k].history.to_numpy(float), whole[k].history.to_numpy(float), rtol=1e-12)
        np.testing.assert_allclose(pruned[k].step_loss, whole[k].step_loss, rtol=1e-12)
        assert pruned[k].metrics == pytest.approx(whole[k].metrics, rel=1e-12)


def test_the_sequential_trainer_prunes_the_same_way():
    p = _plans()[1]
    full = execute(p)
    cut = execute(p, on_epoch=lambda epoch, row: epoch == 2)
    assert cut.status == "pruned" and len(cut.history) == 2
    np.testing.assert_array_equal(cut.history.to_numpy(float), full.history.to_numpy(float)[:2])
    stacked = execute_stack([p], on_epoch=lambda k, epoch, row: epoch == 2)[0]
    np.testing.assert_allclose(stacked.history.to_numpy(float), cut.history.to_numpy(float), rtol=1e-9)


def test_storage_urls():
    assert storage_url("postgresql://postgres@h:5432/db") == "postgresql+psycopg://postgres@h:5432/db"
    assert storage_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert storage_url(Path("rel/x.db")).startswith("sqlite:////") and storage_url("rel/x.db").endswith("rel/x.db")


def test_tune_on_a_tiny_task_gives_a_confirmed_leaderboard(tmp_path):
    space = "constant(loguniform(0.01, 3)) | warmup(cosine(loguniform(0.01, 3)), steps=int(0, 3))"
    result = tune("or3", space, trials=6, epochs=8, batch=3, confirm=2, seeds=2, storage=tmp_path / "t.db",
                  progress=False, sampler="random")
    trials = result.trials
    assert len(trials) == 6 and set(trials["state"]) <= {"COMPLETE", "PRUNED"}
    assert trials["spec"].map(lambda s: split_entry(s)[0] is not None).all()
    board = result.leaderboard
    assert len(board) == 2 and list(board["runs"]) == [2, 2]
    assert result.best_spec == board["schedule"].iloc[0]
    parse(result.best_spec)
    assert (board["test_accuracy_worst"] <= board["test_accuracy"] + 1e-12).all()
    assert (board["val_accuracy_worst"] <= board["val_accuracy"] + 1e-12).all()
    # ranked by the mean final validation accuracy (the test figure is beside it)
    assert board["val_accuracy"].is_monotonic_decreasing or board["diverged"].iloc[0] < board["diverged"].iloc[1]
    assert list(board.columns[:3]) == ["schedule", "trial", "runs"] and "search_value" in board
    confirmed = result.comparison.table
    assert sorted(set(confirmed["seed"])) == [1, 2]  # fresh seeds: the search trained on seed 0
    best = result.study.best_trial
    assert best.value == max(t.value for t in result.study.trials if t.state.name == "COMPLETE")
    assert best.user_attrs["spec"] in set(trials["spec"])
    # the same call again resumes its study: nothing more to train, the same trials
    again = tune("or3", space, trials=6, epochs=8, batch=3, confirm=0, storage=tmp_path / "t.db", progress=False,
                 sampler="random")
    assert len(again.trials) == 6 and again.leaderboard is None


def test_the_objective_is_the_figure_the_leaderboards_rank_by():
    import dataclasses

    from lrlab.lab.ranking import task_ranking
    from lrlab.lab.studies.tune import _objective
    from lrlab.lab.tasks.task import get_task

    or3 = get_task("or3")
    assert _objective(task_ranking(or3)) == ("val_accuracy", "maximize")
    assert _objective(task_ranking(or3, has_val=False)) == ("loss", "minimize")
    assert _objective(task_ranking(get_task("line"))) == ("val_loss", "minimize")
    assert _objective(task_ranking(dataclasses.replace(or3, loss="lm"))) == ("val_bpb", "minimize")


def test_the_confirmation_ranks_by_validation_and_shows_test_beside():
    """Hand-made confirmation runs whose test accuracy would rank the other way round: the board follows the final
    validation accuracy, with the worst seed of both figures and the trial each spec came from."""
    import pandas as pd

    from lrlab.lab.run import Run
    from lrlab.lab.studies.compare import Comparison
    from lrlab.lab.studies.tune_trials import _confirmation_board
    from lrlab.lab.tasks.task import get_task

    def run(label, seed, val, test):
        history = pd.DataFrame({"epoch": [1], "step": [1], "lr": [0.1], "loss": [0.5], "val_loss": [0.5],
                                "val_accuracy": [val]})
        metrics = {"loss": 0.5, "val_loss": 0.5, "val_accuracy": val, "test_loss": 0.5, "test_accuracy": test}
        return Run(config={"task": "or3", "label": label, "schedule": label, "seed": seed}, history=history,
                   step_lr=np.zeros(1), step_loss=np.zeros(1), metrics=metrics, wall_s=1.0)

    runs = [run("cosine(0.5)", 1, 0.70, 1.0), run("constant(0.5)", 1, 0.875, 0.625),
            run("cosine(0.5)", 2, 0.80, 0.875), run("constant(0.5)", 2, 1.0, 0.75)]
    comparison = Comparison(task=get_task("or3"), runs=runs, labels=["cosine(0.5)", "constant(0.5)"])
    picked = [type("Trial", (), {"number": n, "value": v})() for n, v in ((3, 0.9), (7, 0.8))]
    board = _confirmation_board(comparison, picked)
    assert board["schedule"].tolist() == ["constant(0.5)", "cosine(0.5)"]  # by test it would be cosine first
    assert board["trial"].tolist() == [7, 3] and board["search_value"].tolist() == [0.8, 0.9]
    assert board["val_accuracy"].tolist() == pytest.approx([0.9375, 0.75])
    assert board["val_accuracy_worst"].tolist() == [0.875, 0.70]
    assert board["test_accuracy"].tolist() == pytest.approx([0.6875, 0.9375])
    assert board["test_accuracy_worst"].tolist() == [0.625, 0.875]
    cols = list(board.columns)
    assert cols.index("val_accuracy_worst") == cols.index("val_accuracy_std") + 1
    assert cols.index("test_accuracy_worst") == cols.index("test_accuracy_std") + 1


def test_a_study_refuses_a_worker_with_other_settings(tmp_path):
    tune("or3", "constant(loguniform(0.1, 1))", trials=1, epochs=2, confirm=0, storage=tmp_path / "t.db",
         study="s", progress=False)
    with pytest.raises(ValueError, match="was started with other settings \\(epochs\\)"):
        tune("or3", "constant(loguniform(0.1, 1))", trials=1, epochs=3, confirm=0, storage=tmp_path / "t.db",
             study="s", progress=False)


# -- workers sharing a storage --------------------------------------------------------------------------
EPOCHS = 15
WORKER = """
import sys, torch
torch.set_num_threads(1)
from lrlab.lab.studies.tune import tune
tune("or3", "constant(loguniform(0.05, 2)) | cosine(loguniform(0.05, 2))", trials={trials}, epochs=EPOCHS, batch=2,
     confirm=0, storage=sys.argv[1], study="shared", progress=False, pruner="none", heartbeat_s=1, grace_s=3)
"""


def _start(url: str, trials: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    code = WORKER.format(trials=trials).replace("EPOCHS", str(EPOCHS))
    return subprocess.Popen([sys.executable, "-c", code, url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _trials(url: str) -> list:
    return optuna.load_study(study_name="shared", storage=storage_url(url)).get_trials(deepcopy=False)


def _wait_for(what, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def _running_of(url: str, pid: int):
    try:
        return [t for t in _trials(url) if t.state.name == "RUNNING" and t.user_attrs.get("worker", "")
                .endswith(f":{pid}")]
    except KeyError:  # the study is not created yet
        return []


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "tune.db")
    return request.getfixturevalue("pg_url")


def test_two_workers_finish_n_trials_between_them_and_survive_kill_9(storage):
    trials, batch = 10, 2
    # the study exists before the two start (as after the first `lrlab tune` on a machine): both join it at once
    optuna.create_study(storage=storage_url(storage), study_name="shared", direction="maximize")
    a, b = _start(storage, trials), _start(storage, trials)
    try:
        _wait_for(lambda: _running_of(storage, b.pid))  # both work on the study
        _wait_for(lambda: _running_of(storage, a.pid))  # a is in the middle of a trial
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        doomed = _running_of(storage, a.pid)  # what it was training when it died
        assert doomed
        out, _ = b.communicate(timeout=240)
        assert b.returncode == 0, out.decode()[-2000:]
    finally:
        for p in (a, locals().get("b")):
            if p is not None and p.poll() is None:
                p.kill()
    all_trials = _trials(storage)
    states = [t.state.name for t in all_trials]
    finished = [t for t in all_trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert "RUNNING" not in states
    assert trials <= len(finished) <= trials + batch - 1  # N between them, not N each
    numbers = [t.number for t in all_trials]
    assert sorted(numbers) == list(range(len(all_trials)))  # none lost, none twice
    failed = {t.number for t in all_trials if t.state.name == "FAIL"}
    assert {t.number for t in doomed} <= failed  # the killed worker's trial was marked failed by the other
    # a trial asked in the instant before the kill may not carry its worker yet: only the killed worker leaves one
    assert all(t.user_attrs.get("worker", f":{a.pid}").endswith(f":{a.pid}") for t in all_trials if t.number in failed)
    assert all(t.user_attrs.get("epochs") == EPOCHS and t.value is not None for t in finished)
    assert any(t.user_attrs["worker"].endswith(f":{b.pid}") for t in finished)


def test_worker_processes_on_one_machine_share_the_count(tmp_path):
    result = tune("or3", "constant(loguniform(0.05, 2))", trials=6, epochs=4, batch=1, workers=2, confirm=0,
                  storage=tmp_path / "t.db", progress=False, pruner="none", sampler="random")
    finished = result.trials[result.trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert 6 <= len(finished) <= 7  # 6 between the two, one more only where both asked at once
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}


def test_a_model_that_cannot_be_stacked_trains_its_trials_one_by_one_with_the_same_pruning(tmp_path, monkeypatch):
    import lrlab.lab.engines.stacked as stacked
    import lrlab.lab.engines.stacked_groups as stacked_groups  # why_sequential looks unstackable up there

    def refuse(*args, **kwargs):
        raise AssertionError("the stacked engine was used")

    monkeypatch.setattr(stacked_groups, "unstackable", lambda model: "it has dropout (test)")
    monkeypatch.setattr(stacked, "execute_stack", refuse)
    result = tune("or3", "constant(loguniform(0.01, 3))", trials=8, epochs=6, batch=2, confirm=0, progress=False,
                  storage=tmp_path / "t.db", pruner="asha", sampler="random")
    trials = result.trials
    assert len(trials) == 8 and set(trials["state"]) == {"COMPLETE", "PRUNED"}
    for t in result.study.trials:  # every epoch trained was reported, and a pruned trial stopped where it was told
        assert sorted(t.intermediate_values) == list(range(1, t.user_attrs["epochs"] + 1))
        assert (t.state.name == "PRUNED") == (t.user_attrs["status"] == "pruned")
        assert t.state.name == "PRUNED" or t.user_attrs["epochs"] == 6
    assert (trials[trials["state"] == "PRUNED"]["epochs"] < 6).all()


def test_the_default_space_is_centred_on_the_range_tests_rate_with_peak_from_find(tmp_path):
    from lrlab.lab.studies.find import find_lr
    from lrlab.lab.studies.space import Space

    valley = float(f"{find_lr('quantiles', seeds=3).suggestions['valley']:.3g}")
    result = tune("quantiles", trials=2, epochs=1, batch=2, confirm=0, progress=False, storage=tmp_path / "t.db",
                  peak_from_find=True)
    space = Space(result.study.user_attrs["lrlab"]["space"])
    assert len(space.branches) == 6
    for branch in space.branches:
        low, high = branch.dists[0].args
        assert low == pytest.approx(valley / 100, rel=1e-3) and high == pytest.approx(valley * 100, rel=1e-3)


def test_forecast_trains_only_the_best_forecast_candidates_of_each_batch(tmp_path):
    """forecast=3, batch=2: each batch asks 6 candidates, the 2 whose schedules the law (fitted on constant,
    cosine and wsd at or3's rate, kept in the run store) forecasts lowest train; the 4 others are told PRUNED
    untrained (status "forecast") and do not count: trials=4 trains 4, in 2 batches of 6 asked."""
    from lrlab.lab.store import Store

    space = "constant(loguniform(0.01, 1)) | cosine(loguniform(0.01, 1))"
    result = tune("or3", space, trials=4, epochs=20, batch=2, forecast=3, confirm=0, storage=tmp_path / "t.db",
                  progress=False, sampler="random", pruner="none")
    fc = result.forecast
    assert fc is not None and fc.warning is None and fc.law == "multi_power"
    assert sorted(c.label for c in fc.curves) == ["constant(0.1)", "cosine(0.1)", "wsd(0.1, decay_steps=4)"]
    with Store(tmp_path / "t.db", readonly=True) as store:  # the fitting runs are in the study's database
        assert sorted(store.get(i).label for i in (1, 2, 3)) == sorted(c.label for c in fc.curves)
    frame = result.trials.sort_values("number")
    assert list(frame["number"]) == list(range(12))
    for first in (0, 6):
        batch = frame.iloc[first:first + 6]
        finals = np.array([fc.predict(split_entry(s)[0], 20).final for s in batch["spec"]])
        np.testing.assert_allclose(batch["forecast"].to_numpy(float), finals, rtol=1e-12)
        best = set(batch["number"].to_numpy()[np.argsort(finals)[:2]])
        trained = batch[batch["number"].isin(best)]
        skipped = batch[~batch["number"].isin(best)]
        assert (trained["state"] == "COMPLETE").all() and (trained["epochs"] == 20).all()
        assert (skipped["state"] == "PRUNED").all() and (skipped["status"] == "forecast").all()
        assert (skipped["epochs"] == 0).all() and skipped["value"].isna().all()
    for t in result.study.trials:  # only the trained trials reported anything
        assert bool(t.intermediate_values) == (t.user_attrs["status"] != "forecast")


def test_forecast_falls_back_to_the_plain_search_where_the_law_does_not_hold(tmp_path, capsys):
    """On quantiles (10 epochs) the multi-power law misses a left-out schedule by far: the warning is printed and
    every asked trial trains, in the plain search's study."""
    result = tune("quantiles", "constant(loguniform(0.001, 0.05))", trials=2, epochs=10, batch=2, forecast=3,
                  confirm=0, storage=tmp_path / "t.db", progress=False, sampler="random", pruner="none")
    err = capsys.readouterr().err
    assert result.forecast.warning and f"WARNING: {result.forecast.warning}" in err
    assert "falls back to the plain search" in err
    assert len(result.trials) == 2 and (result.trials["state"] == "COMPLETE").all()
    assert result.trials["forecast"].isna().all()
    assert "forecast" not in result.study.user_attrs["lrlab"]
