"""The objective that ranks (accuracy, ties broken by validation loss) and pruning fair to late decays: on
quantiles, Optuna's ASHA at equal epochs prunes a warmup-stable-decay schedule before its decay, though it ends best
of its space; tune's "fair" rungs judge it by a cooldown branched from its state and keep it."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from lrlab.lab.studies import objective  # noqa: E402
from lrlab.lab.studies import tune as tune_module  # noqa: E402
from lrlab.lab.studies.rungs import FairRungs, cooldown_plan, rung_epochs  # noqa: E402
from lrlab.lab.studies.space import Space  # noqa: E402
from lrlab.lab.tasks.task import get_task  # noqa: E402

LATE = "wsd(0.2, decay_steps=48)"  # quantiles: 12 updates an epoch, so the decay is the last 4 of 20 epochs
SPACE = f"constant(0.05) | cosine(0.05) | {LATE}"
SEED = 3  # the trials' seed (of 0-4, the wsd ends best on 0, 2, 3 and 4; on 3 by accuracy alone: docs/lab/tune.md)


def test_a_higher_accuracy_always_wins_and_equal_accuracies_are_ordered_by_loss():
    n = 280
    rows = [{"val_accuracy": k / n, "val_loss": loss} for k, loss in
            itertools.product(range(240, 281, 7), [0.0, 1e-6, 0.05, 0.7, 3.0, 1e6, math.inf, math.nan])]
    values = [objective.value(r, "val_accuracy", n) for r in rows]
    for (a, va), (b, vb) in itertools.combinations(zip(rows, values), 2):
        if a["val_accuracy"] != b["val_accuracy"]:
            assert (va > vb) == (a["val_accuracy"] > b["val_accuracy"])
        elif math.isfinite(a["val_loss"]) and math.isfinite(b["val_loss"]) and a["val_loss"] != b["val_loss"]:
            assert (va > vb) == (a["val_loss"] < b["val_loss"])
    # no tie-break where the objective is not an accuracy, or without a loss
    assert objective.value({"val_loss": 0.3}, "val_loss", objective.tie_break("val_loss", n, True)) == 0.3
    assert objective.tie_break("val_accuracy", n, has_loss=False) == 0
    assert objective.value({"val_accuracy": math.nan}, "val_accuracy", n) is None


def _study(pruner: str, epochs: int = 20) -> optuna.Study:
    """The three schedules of SPACE trained as one batch of tune, in this order, under `pruner`."""
    task = get_task("quantiles")
    data = task.load(0)
    space = Space(SPACE)
    s = tune_module._Settings(task=task, space=space.text, epochs=epochs, trials=3, batch=3, seed=SEED,
                              sampler="random", pruner=pruner, url="", study="bias", metric="val_accuracy",
                              direction="maximize", n_val=len(data.val))
    study = optuna.create_study(direction="maximize", pruner=tune_module._pruner(pruner, epochs))
    for branch in space.branches:
        study.enqueue_trial({"branch": branch.label})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        told = tune_module._run_batch(study, s, task, data, space, 3)
    finally:
        torch.set_num_threads(threads)
    assert told["finished"] == 3
    return study


@pytest.fixture(scope="module")
def studies():
    return {name: _study(name) for name in ("asha", "fair")}


def test_asha_at_equal_epochs_prunes_the_late_decay_that_ends_best(studies):
    asha = {t.user_attrs["spec"]: t for t in studies["asha"].trials}
    fair = {t.user_attrs["spec"]: t for t in studies["fair"].trials}
    # under ASHA the late decay is pruned at a rung (epoch 15 here), before its decay ...
    assert asha[LATE].state.name == "PRUNED" and asha[LATE].user_attrs["epochs"] in rung_epochs(20)
    # ... though, trained to the end (fair keeps it), it beats every schedule ASHA kept, by accuracy itself
    assert fair[LATE].state.name == "COMPLETE" and fair[LATE].user_attrs["epochs"] == 20
    kept = [t for t in asha.values() if t.state.name == "COMPLETE"]
    assert kept and all(fair[LATE].user_attrs["val_accuracy"] > t.user_attrs["val_accuracy"] for t in kept)
    assert studies["asha"].best_trial.user_attrs["spec"] != LATE
    assert studies["fair"].best_trial.user_attrs["spec"] == LATE


def test_fair_rungs_report_a_cooldowns_objective_at_each_rung(studies):
    for t in studies["fair"].trials:
        for rung in rung_epochs(20):
            if t.user_attrs["epochs"] >= rung:  # judged at the rung: the cooldown's value, reported at its epoch
                assert t.intermediate_values[rung] == t.user_attrs[f"rung_{rung}"]
        if t.state.name == "PRUNED":  # stopped at its rung, as under ASHA
            assert t.user_attrs["epochs"] in rung_epochs(20)
        else:  # the trial's own final value, accuracy with ties broken by loss
            assert t.value == objective.value(t.user_attrs, "val_accuracy", 280)


def test_a_cooldown_branch_is_its_trials_schedule_then_linear_to_its_final_rate():
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan

    p = plan("quantiles", "step_decay(0.2, drop=0.1, step_size=200)", RunOptions(epochs=20))
    b = cooldown_plan(p, 60, 24)  # from its state after update 60: 24 updates down to its last rate, 0.02
    assert [b.schedule(t) for t in range(60)] == pytest.approx([p.schedule(t) for t in range(60)])
    assert [b.schedule(60 + i) for i in range(24)] == pytest.approx([0.2 - 0.18 * (i + 1) / 24 for i in range(24)])
    assert b.schedule(60 + 23) == pytest.approx(0.02) and b.options.total_steps(1120) == 84


def test_fair_rungs_judge_only_when_every_member_of_the_rung_is_checkpointed():
    """In a stack a member's checkpoint is taken before the next member's epoch is told: the cooldowns of a rung
    train together once the epoch after it begins to be told, never with a part of the members."""
    calls = []

    class Trial:
        def __init__(self):
            self.reports, self.user_attrs = {}, {}

        def report(self, value, step):
            self.reports[step] = value

        def set_user_attr(self, key, value):
            self.user_attrs[key] = value

        def should_prune(self):
            return self is trials[1]

    class Run:
        status = "ok"

        def __init__(self):
            import pandas as pd

            self.history = pd.DataFrame([{"val_accuracy": 0.5, "val_loss": 1.0}])

    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan

    plans = [plan("or3", "constant(0.1)", RunOptions(epochs=8)) for _ in range(2)]
    trials = [Trial(), Trial()]
    fair = FairRungs(plans, trials, 8, lambda row: objective.value(row, "val_accuracy", 8), 0.0,
                     lambda ps, starts: calls.append(len(ps)) or [Run() for _ in ps])
    assert fair.save_at == [[1, 5], [1, 5]]  # or3 is full batch: one update an epoch; rungs at epochs 2 and 6
    for k in (0, 1):
        assert fair.on_epoch(k, 1, {"val_accuracy": 1.0, "val_loss": 0.1}) is False
        fair.on_save(k, {"step": 1, "epoch": 1})
    assert calls == [] and fair.on_epoch(0, 2, {"val_accuracy": 1.0}) is False and calls == [2]
    assert fair.on_epoch(1, 2, {"val_accuracy": 1.0}) is True  # pruned at its rung
    assert trials[0].reports[2] == trials[1].reports[2] == pytest.approx(0.5 - 0.5 / 8)  # the cooldowns' values
    assert trials[0].reports[1] == trials[1].reports[1] == pytest.approx(1.0 - 0.1 / 1.1 / 8)  # their own


def test_fair_pruning_on_a_model_trained_one_by_one_and_on_a_schedule_free_optimizer(tmp_path, monkeypatch):
    """Where the model cannot be stacked, the trials and their cooldowns train one by one, judged as in a stack; a
    schedule-free optimizer's state cannot be checkpointed, so its trials are judged at equal epochs (as asha)."""
    import lrlab.lab.engines.stacked as stacked
    import lrlab.lab.engines.stacked_groups as stacked_groups  # why_sequential looks unstackable up there
    from lrlab.lab.studies.tune import tune

    space = "constant(loguniform(0.01, 3)) | wsd(loguniform(0.01, 3), decay_steps=2)"
    free = tune("or3", space, trials=6, epochs=8, batch=3, confirm=0, progress=False, storage=tmp_path / "sf.db",
                sampler="random", optimizer="sgd_sf")
    for t in free.study.trials:  # every epoch reported as it was trained, no cooldowns
        assert sorted(t.intermediate_values) == list(range(1, t.user_attrs["epochs"] + 1))
        assert not any(key.startswith("rung_") for key in t.user_attrs)
    monkeypatch.setattr(stacked_groups, "unstackable", lambda model: "it has dropout (test)")
    monkeypatch.setattr(stacked, "execute_stack", lambda *a, **k: pytest.fail("the stacked engine was used"))
    result = tune("or3", space, trials=6, epochs=8, batch=3, confirm=0, progress=False, storage=tmp_path / "t.db",
                  sampler="random")
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}
    for t in result.study.trials:
        assert "rung_2" in t.user_attrs and t.intermediate_values[2] == t.user_attrs["rung_2"]
        assert t.state.name == "COMPLETE" or t.user_attrs["epochs"] in rung_epochs(8)
