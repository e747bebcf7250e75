"""A user's own training function as the target of a comparison (lrlab.lab.tasks.experiment,
lrlab.lab.engines.function): a plain PyTorch loop with a DataLoader, BatchNorm and Dropout (tests/lab/fn_torch.py),
trained for real."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from lrlab import parse
from lrlab.lab import compare, experiment
from lrlab.lab.store import Store

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import fn_torch  # noqa: E402

SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]


def _compare(target, db, **kw):
    kw.setdefault("seeds", 2)
    return compare(target, kw.pop("specs", SPECS), db=db, progress=False, **kw)


def test_a_torch_loop_is_compared_stored_and_reused(tmp_path):
    db = tmp_path / "runs.db"
    c = _compare(fn_torch.tiny_torch, db)
    assert [(r.label, r.seed, r.status) for r in c.runs] == [(s, seed, "ok") for seed in (0, 1) for s in SPECS]
    run = c.runs[1]
    assert run.config["schedule"] == repr(parse("cosine(0.1)").stretch(18))  # bound to 3 epochs x 6 steps
    assert run.history["epoch"].tolist() == [1, 2, 3] and run.history["step"].tolist() == [6, 12, 18]
    assert len(run.step_loss) == 18 and np.allclose(run.step_lr, parse("cosine(0.1)").stretch(18)(np.arange(18)))
    assert run.metrics["val_accuracy"] == run.history["val_accuracy"].iloc[-1] > 0.6
    assert run.metrics["epochs_done"] == 3 and run.metrics["steps"] == 18
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and (board["runs"] == 2).all()
    assert not any(r.reused for r in c.runs)

    again = _compare(fn_torch.tiny_torch, db)
    assert all(r.reused for r in again.runs)
    assert [r.metrics for r in again.runs] == [r.metrics for r in c.runs]

    bumped = _compare(fn_torch.tiny_torch_v2, db, seeds=1, specs=SPECS[:1])
    assert not bumped.runs[0].reused  # a new version trains again
    assert bumped.runs[0].config["task_identity"] == {"experiment": "tiny_torch", "version": "2"}


def test_the_lab_seeds_the_generators_so_a_run_repeats_exactly():
    a = _compare(fn_torch.tiny_torch, None, seeds=[3], specs=SPECS[:1]).runs[0]
    b = _compare(fn_torch.tiny_torch, None, seeds=[3], specs=SPECS[:1]).runs[0]
    c = _compare(fn_torch.tiny_torch, None, seeds=[4], specs=SPECS[:1]).runs[0]
    assert np.array_equal(a.step_loss, b.step_loss)
    assert not np.array_equal(a.step_loss, c.step_loss)


def test_a_function_that_raises_is_stored_failed_and_the_rest_rank(tmp_path):
    db = tmp_path / "runs.db"
    c = _compare(fn_torch.tiny_torch, db, specs=SPECS[:2], raise_seed=1)
    status = {(r.label, r.seed): (r.status, r.error) for r in c.runs}
    assert status[("constant(0.1)", 0)] == ("ok", None)
    assert status[("constant(0.1)", 1)] == ("failed", "RuntimeError: boom on seed 1")
    assert c.leaderboard["failed"].tolist() == [1, 1] and c.leaderboard["diverged"].tolist() == [0, 0]
    failed = next(r for r in c.runs if r.status == "failed")
    assert math.isnan(failed.metrics["val_accuracy"]) and failed.metrics["epochs_done"] == 1
    with Store(db) as store:
        stored = store.get(failed.id)
    assert (stored.status, stored.error) == ("failed", "RuntimeError: boom on seed 1")
    # a later comparison trains the failures again (the user may have fixed the function), reuses the rest
    again = _compare(fn_torch.tiny_torch, db, specs=SPECS[:2], raise_seed=1)
    assert [r.reused for r in again.runs] == [True, True, False, False]


def test_a_diverging_run_stops_early_as_diverged():
    run = _compare(fn_torch.tiny_torch, None, seeds=1, specs=["constant(1e4)"]).runs[0]
    assert run.status == "diverged" and run.metrics["epochs_done"] <= 1 and len(run.step_loss) < 18
    assert math.isnan(run.metrics["val_accuracy"])


def test_report_feeds_the_plateau_the_adapter_reads():
    seen = []

    @experiment(epochs=6, steps_per_epoch=1)
    def flat(run):
        for epoch in range(1, run.epochs + 1):
            seen.append(run.lr())
            run.log_step(1.0)
            run.report(epoch, val_loss=1.0)  # never improves

    _compare(flat, None, seeds=1, specs=["constant(0.1)@plateau(factor=0.5, patience=1)"])
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])  # torch rules: reduce after 2 bad epochs


def test_a_budget_in_steps_and_options_reach_the_function():
    got = {}

    @experiment(epochs=2, steps_per_epoch=5)
    def probe(run):
        got.update(epochs=run.epochs, steps=run.steps, options=run.options, end=run.schedule(run.steps))
        run.report(1, val_loss=0.5)

    _compare(probe, None, seeds=1, specs=["cosine(0.1)@sgd(momentum=0.9)"], steps=7)
    assert got == {"epochs": 2, "steps": 7, "options": {"optimizer": "sgd", "momentum": 0.9}, "end": 0.0}


def test_a_schedule_without_lengths_needs_the_steps_per_epoch():
    @experiment(epochs=2)
    def no_spe(run):
        run.report(1, val_loss=0.5)

    with pytest.raises(ValueError, match="declare steps_per_epoch"):
        _compare(no_spe, None, seeds=1, specs=["cosine(0.1)"])
    assert _compare(no_spe, None, seeds=1, specs=["constant(0.1)"]).runs[0].status == "ok"


@pytest.mark.parametrize("kwargs, match", [
    ({"metric": "val-acc"}, "metric must be a metric name"),
    ({"metric": "val_f1"}, "mode must be 'max' or 'min'"),
    ({"epochs": 0}, "epochs must be a whole number >= 1"),
    ({"epochs": 2, "steps": 5}, "epochs and steps are exclusive"),
    ({"version": ""}, "version must be a non-empty string"),
])
def test_bad_declarations_are_one_line_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        experiment(lambda run: None, **kwargs)


def test_workers_split_the_runs_each_trained_once(tmp_path):
    db = tmp_path / "runs.db"
    c = _compare(fn_torch.tiny_torch, db, workers=2)
    pids = {r.metrics["pid"] for r in c.runs}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers trained some, this process none
    with Store(db) as store:
        assert len(store) == 6 and store.claims() == []
    single = _compare(fn_torch.tiny_torch, None)
    assert [r.metrics["val_accuracy"] for r in c.runs] == [r.metrics["val_accuracy"] for r in single.runs]


SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import fn_torch
from lrlab.lab import compare
compare(fn_torch.tiny_torch, {specs!r}, seeds=2, db={db!r}, progress=False, **{kw!r})
"""


def _process(db, specs=SPECS, **kw):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = SCRIPT.format(here=str(HERE), specs=specs, db=str(db), kw=kw)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def test_two_processes_on_postgresql_split_the_runs(pg_url):
    procs = [_process(pg_url), _process(pg_url)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with Store(pg_url) as store:
        runs = [store.get(s["id"]) for s in store.summaries()]
        assert store.claims() == []
    assert len(runs) == 6 and len({(r.label, r.seed) for r in runs}) == 6  # each run once
    assert len({r.metrics["pid"] for r in runs}) == 2  # both processes trained some


def test_a_worker_killed_mid_run_loses_only_that_run(tmp_path):
    db, marker = tmp_path / "runs.db", tmp_path / "blocked"
    os.environ["LRLAB_TEST_BLOCK"] = str(marker)
    try:
        victim = _process(db, block_seed=1)
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline and victim.poll() is None, victim.communicate()
            time.sleep(0.2)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        del os.environ["LRLAB_TEST_BLOCK"]
    c = _compare(fn_torch.tiny_torch, db, block_seed=1)  # the claim of a dead pid is taken over
    assert all(r.status == "ok" for r in c.runs) and len(c.runs) == 6
    assert sum(not r.reused for r in c.runs) >= 1  # at least the killed run trained here
    with Store(db) as store:
        assert store.claims() == []


def test_the_cli_takes_a_file_and_function(tmp_path):
    script = tmp_path / "train.py"
    script.write_text((HERE / "fn_torch.py").read_text())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())", "compare",
           "train.py:tiny_torch", "constant(0.1)", "cosine(0.1)", "--seeds", "2", "--db", "runs.db", "--no-progress"]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "tiny_torch: 4 runs" in out.stdout and "4 runs (4 trained, 0 reused)" in out.stdout
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "4 runs (0 trained, 4 reused)" in again.stdout
    bad = subprocess.run([*cmd[:4], "nowhere.py:f", "constant(0.1)"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "experiment file 'nowhere.py' does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_registered_task_of_another_version_is_not_reused(tmp_path):
    import dataclasses

    from lrlab.lab import get_task

    db = tmp_path / "runs.db"
    or3 = get_task("or3")
    first = compare(or3, ["constant(0.5)"], epochs=2, db=db, progress=False).runs[0]
    same = compare(or3, ["constant(0.5)"], epochs=2, db=db, progress=False).runs[0]
    bumped = compare(dataclasses.replace(or3, version="2"), ["constant(0.5)"], epochs=2, db=db, progress=False).runs[0]
    assert not first.reused and same.reused and not bumped.reused
    assert "task_identity" not in first.config  # keys of unversioned tasks are as before
    assert bumped.config["task_identity"] == {"version": "2"}
    with pytest.raises(ValueError, match="version must be a string"):
        dataclasses.replace(or3, version=2)


def test_cooldowns_refuse_a_training_function_in_one_line():
    from lrlab.lab import cooldowns

    for target in (fn_torch.tiny_torch, "train.py:tiny_torch"):
        with pytest.raises(ValueError, match=r"^cooldowns trains built-in and registered tasks only, not a training "
                                             r"function \(.*\): it branches each cooldown from a checkpoint"):
            cooldowns(target, "wsd(0.1)", steps=10, db=None)


def test_ctrl_c_in_a_training_function_stops_the_study_with_finished_runs_kept(tmp_path):
    calls = []

    @experiment(epochs=1, steps_per_epoch=1, metric="val_loss", name="interrupted")
    def interrupted(run):
        calls.append(run.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        run.log_step(1.0)
        run.report(1, val_loss=1.0)

    db = tmp_path / "runs.db"
    with pytest.raises(KeyboardInterrupt):
        compare(interrupted, ["constant(0.1)"], seeds=5, db=db, progress=False)
    with Store(db) as store:
        assert sorted(s["seed"] for s in store.summaries()) == [0, 1] and store.claims() == []
    again = compare(interrupted, ["constant(0.1)"], seeds=2, db=db, progress=False)
    assert all(r.reused for r in again.runs) and calls == [0, 1, 2]


def test_fresh_with_workers_trains_every_run_again_once(tmp_path):
    db = tmp_path / "runs.db"
    first = _compare(fn_torch.tiny_torch, db, specs=SPECS[:2])
    again = _compare(fn_torch.tiny_torch, db, specs=SPECS[:2], workers=2, fresh=True)
    assert not any(r.reused for r in again.runs)  # trained again, by the workers (none reused from before)
    assert {r.metrics["pid"] for r in again.runs} != {os.getpid()}
    assert min(r.id for r in again.runs) > max(r.id for r in first.runs)
    with Store(db) as store:
        assert len(store) == 8 and store.claims() == []  # 4 before, each trained once more
