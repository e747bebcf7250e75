"""The run store: round trip, config keys, reuse of stored runs, and interrupted comparisons (Ctrl-C in the
third run; `kill -9` of a real `lrlab compare`) losing no finished run; on SQLite and PostgreSQL (the `db`
fixture). Opening checks: test_store_open.py; claims: test_store_claims.py; beside Optuna: test_store_optuna.py."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.store import Store, config_key  # noqa: E402
from lrlab.lab.studies.compare import compare  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, Task  # noqa: E402


def _load(seed: int) -> Data:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    return Data(Split(x[:80], y[:80]), Split(x[80:100], y[80:100]), Split(x[100:], y[100:]))


def _model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


TINY = Task(name="tiny", description="test task", loss="bce", load=_load, model=_model, epochs=4, batch_size=16)


def test_round_trip(db):
    run = train(TINY, "cosine(0.2)", plateau="factor=0.5", momentum=0.9, seed=2)
    with Store(db) as store:
        rid = store.save(run)
        assert run.id == rid and len(store) == 1
        back = store.get(rid)
    assert back.model is None and back.id == rid and back.created == run.created
    assert back.config == run.config and back.metrics == run.metrics and back.status == run.status
    assert back.wall_s == run.wall_s
    np.testing.assert_array_equal(back.step_lr, run.step_lr)
    np.testing.assert_array_equal(back.step_loss, run.step_loss)
    pd.testing.assert_frame_equal(back.history, run.history)
    assert back.schedule == run.schedule == __import__("lrlab").parse("cosine(0.2, decay_steps=20)")


def test_get_missing(db):
    with Store(db) as store, pytest.raises(ValueError, match="no run with id 7"):
        store.get(7)


def test_bad_path(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        Store(tmp_path)


def test_config_key_identity():
    base = train(TINY, "constant(0.1)", epochs=1).config
    assert config_key(base) == config_key(dict(base, label="something else"))  # the label is a name only
    for change in ({"seed": 1}, {"epochs": 2}, {"batch_size": 8}, {"optimizer": "adam"},
                   {"optimizer_kwargs": {"momentum": 0.9}}, {"plateau": {"factor": 0.5}}, {"task": "other"},
                   {"schedule_config": {"kind": "constant", "lr": 0.2}}):
        assert config_key(dict(base, **change)) != config_key(base), change


def test_rerun_reuses_stored_runs_and_fresh_retrains(db):
    trained = []

    def count(step, model, loss, lr):
        trained.append(step)

    specs = ["constant(0.1)", "cosine(0.3)", "constant(0.05)@plateau(factor=0.5)"]
    first = compare(TINY, specs, seeds=2, db=db, progress=False, callback=count)
    assert len(trained) == 6 * 4 * 5 and all(r.id is not None for r in first.runs)
    trained.clear()
    again = compare(TINY, specs, seeds=2, db=db, progress=False, callback=count)
    assert trained == [] and [r.id for r in again.runs] == [r.id for r in first.runs]
    assert all(r.model is None for r in again.runs)
    pd.testing.assert_frame_equal(again.leaderboard, first.leaderboard.assign(wall_s=again.leaderboard.wall_s))
    # the same schedule written with its length given is the same run
    bound = compare(TINY, ["cosine(0.3, decay_steps=20)"], seeds=1, db=db, progress=False, callback=count)
    assert trained == [] and bound.runs[0].id == first.runs[1].id
    assert bound.runs[0].label == "cosine(0.3, decay_steps=20)"
    fresh = compare(TINY, specs[:1], seeds=1, db=db, progress=False, fresh=True, callback=count)
    assert len(trained) == 20 and fresh.runs[0].id not in [r.id for r in first.runs]
    with Store(db) as store:
        assert len(store) == 7


def test_ctrl_c_in_the_third_run_loses_no_finished_run(db):
    specs = ["constant(0.1)", "constant(0.2)", "constant(0.3)", "constant(0.4)"]
    seen: list[float] = []

    def interrupt(step, model, loss, lr):
        if lr not in seen:
            seen.append(lr)
        if len(seen) == 3 and step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(TINY, specs, db=db, progress=False, callback=interrupt)
    with Store(db) as store:
        stored = store.summaries()
    assert sorted(r["schedule"] for r in stored) == ["constant(0.1)", "constant(0.2)"]
    retrained: list[float] = []
    done = compare(TINY, specs, db=db, progress=False,
                   callback=lambda s, m, loss, lr: retrained.append(lr) if s == 1 else None)
    assert retrained == [0.3, 0.4]  # only the missing runs train
    assert [r.label for r in done.runs] == specs and len({r.id for r in done.runs}) == 4


def _db_count(db) -> int:
    try:
        with sqlite3.connect(str(db), timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM lrlab_runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_of_lrlab_compare_loses_no_finished_run(tmp_path):
    """A real `lrlab compare` process is killed with SIGKILL as soon as its first run is stored (each run takes
    ~1 s, so four are still to come); a rerun trains only the runs that were not stored. (The sequential engine:
    the stacked one stores a stack's runs together, when the stack ends.)"""
    db = tmp_path / "runs.db"
    specs = [f"constant({lr})" for lr in (0.5, 0.4, 0.3, 0.2, 0.1)]
    cmd = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())",
           "compare", "or3", *specs, "--epochs", "1000", "--db", str(db), "--no-progress", "--threads", "1",
           "--engine", "sequential"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _db_count(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()  # killed, not finished nor crashed
    with sqlite3.connect(str(db)) as conn:
        before = conn.execute("SELECT id, label FROM lrlab_runs ORDER BY id").fetchall()
        left = conn.execute("SELECT pid FROM lrlab_claims").fetchall()
    assert left in ([], [(proc.pid,)])  # the claim of the run it was training, if the kill came in one
    assert 1 <= len(before) < len(specs), before  # the kill came in the middle of the comparison
    assert [label for _, label in before] == specs[: len(before)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(str(db)) as conn:
        after = conn.execute("SELECT id, label FROM lrlab_runs ORDER BY id").fetchall()
        claims = conn.execute("SELECT COUNT(*) FROM lrlab_claims").fetchone()[0]
    assert after[: len(before)] == before  # nothing lost, nothing rewritten
    assert claims == 0  # the killed process's claim was taken over, and every claim released
    assert sorted(label for _, label in after) == sorted(specs)  # each run stored once: only missing ones trained
    reused = len(before)
    assert f"{len(specs)} runs ({len(specs) - reused} trained, {reused} reused)" in out.stdout
