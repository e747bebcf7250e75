"""Step budgets (RunOptions(steps=N)): exactly N updates, a partial last epoch evaluated where the budget ends, the
schedule bound to N, the budget in the store key; the stacked engine equals the sequential one member by member
with budgets ending mid-epoch; the leaderboard counts steps for a task whose unit is "steps"."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from test_stacked import assert_same_run  # noqa: E402

from lrlab.lab.engines.stacked import execute_stack  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import config_key  # noqa: E402
from lrlab.lab.studies.compare import Comparison, compare  # noqa: E402
from lrlab.lab.tasks.task import get_task  # noqa: E402


def _plan(schedule="cosine(0.5)", task="or3", **options):
    options.setdefault("batch_size", 3)  # or3: 8 samples, batches of 3, 3, 2
    return plan(task, schedule, RunOptions(**options), dtype="float64")


def test_a_budget_ends_mid_epoch_after_exactly_n_updates():
    p = _plan(steps=7)
    assert (p.config["steps_per_epoch"], p.config["epochs"], p.config["steps"]) == (3, 3, 7)
    assert p.schedule.decay_steps == 7  # the schedule is bound to the budget, not to 3 epochs x 3 steps
    run = execute(p)
    assert len(run.step_lr) == len(run.step_loss) == 7
    assert run.history["step"].tolist() == [3, 6, 7] and run.history["epoch"].tolist() == [1, 2, 3]
    assert run.metrics["steps"] == 7 and run.metrics["epochs_done"] == 3
    assert run.step_lr.tolist() == [p.schedule(t) for t in range(7)]
    last = run.history.iloc[-1]
    assert last["loss"] == pytest.approx(run.step_loss[6])  # the partial epoch's one update
    assert last["lr"] == run.step_lr[6]
    # evaluated where the budget ends: the final model's val loss is the last row's
    assert last["val_loss"] == pytest.approx(run.metrics["val_loss"], rel=1e-12)
    # the first 6 updates are those of a 2-epoch run under the same rates
    two = execute(plan("or3", p.schedule, RunOptions(epochs=2, batch_size=3), dtype="float64"))
    np.testing.assert_array_equal(two.step_loss, run.step_loss[:6])


def test_a_budget_of_whole_epochs_equals_those_epochs():
    by_steps, by_epochs = execute(_plan(steps=6)), execute(_plan(epochs=2))
    np.testing.assert_array_equal(by_steps.step_loss, by_epochs.step_loss)
    assert by_steps.history.equals(by_epochs.history)


def test_epochs_and_steps_are_exclusive_and_checked():
    with pytest.raises(ValueError, match="epochs and steps are exclusive") as info:
        RunOptions(epochs=2, steps=5)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="steps must be"):
        RunOptions(steps=0)
    with pytest.raises(ValueError, match="steps must be"):
        RunOptions(steps=2.5)


def test_the_budget_is_part_of_the_store_key():
    keys = {config_key(_plan(steps=n).config) for n in (7, 8)} | {config_key(_plan(epochs=3).config)}
    assert len(keys) == 3
    assert config_key(_plan(steps=7).config) == config_key(_plan(steps=7).config)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_stacked_members_with_budgets_equal_their_sequential_runs(optimizer):
    plans = [_plan("cosine(0.5)", steps=7, seed=1, optimizer=optimizer),
             _plan("constant(0.3)", steps=4, seed=2, optimizer=optimizer),
             _plan("cosine(0.5)", epochs=3, seed=1, optimizer=optimizer, plateau="factor=0.5, patience=0, "
                   "threshold=0.9"),
             _plan("constant(0.2)", steps=1, seed=0, optimizer=optimizer)]
    stacked = execute_stack(plans)
    assert [len(r.step_lr) for r in stacked] == [7, 4, 9, 1]
    for p, st in zip(plans, stacked):
        assert_same_run(execute(p), st)


def test_full_batch_budgets_on_both_engines():
    plans = [plan("line", "cosine(0.02)", RunOptions(steps=n), dtype="float64") for n in (3, 5)]
    for p, st in zip(plans, execute_stack(plans)):
        assert len(st.history) == p.config["steps"]
        assert_same_run(execute(p), st)


def test_compare_takes_a_budget_and_a_steps_task_ranks_by_steps():
    task = dataclasses.replace(get_task("or3"), unit="steps", batch_size=3)
    c = compare(task, ["constant(0.5)", "constant(0.05)"], steps=8, db=None, progress=False, dtype="float64")
    assert all(len(r.step_lr) == 8 for r in c.runs)
    board, table = c.leaderboard, c.table
    assert "steps_to_target" in board and "epochs_to_target" not in board and "steps_to_target" in table
    for run in c.runs:  # the step count of the first row that met the target
        target = c.resolved_target()
        hits = run.history[run.history["val_accuracy"] >= target]
        expected = float(hits["step"].iloc[0]) if len(hits) else math.nan
        assert c.steps_to_target(run) == pytest.approx(expected, nan_ok=True)
    epochs_task = dataclasses.replace(task, unit="epochs")
    assert Comparison(epochs_task, c.runs).target_column == "epochs_to_target"
    with pytest.raises(ValueError, match="unit must be"):
        dataclasses.replace(task, unit="tokens")


def test_curves_are_drawn_against_steps_for_a_steps_task():
    pytest.importorskip("matplotlib")
    from lrlab.viz.run_curves import curves_figure

    task = dataclasses.replace(get_task("or3"), unit="steps", batch_size=3)
    c = compare(task, ["constant(0.5)"], steps=7, db=None, progress=False)
    fig = curves_figure(c)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "step"
    assert ax.lines[0].get_xdata().tolist() == [3, 6, 7]
