"""Failed runs flagged: divergence measured against the loss before training and the best loss so far (both
engines alike), and runs that ended no better than they started (or than chance) counted as no_progress and ranked
below every schedule whose runs learned."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from lrlab.lab.engines.stacked import execute_stack  # noqa: E402
from lrlab.lab.engines.train import DIVERGED_FACTOR, diverged, execute, loss_limit  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.ranking import no_progress, ranking  # noqa: E402
from lrlab.lab.run import Run  # noqa: E402
from lrlab.lab.studies.compare import Comparison  # noqa: E402
from lrlab.lab.tasks.task import get_task  # noqa: E402


def _loop(start, *losses):
    """A run's state after the epochs `losses` (each its training loss), as `diverged` reads it."""
    loop = SimpleNamespace(rows=[], start={"start_loss": start}, limit=loss_limit(start, start))
    verdicts = []
    for value in losses:
        row = {"loss": value}
        loop.rows.append(row)
        verdicts.append(diverged(loop, True, row))
    return verdicts


def test_an_exploded_first_epoch_is_divergence_measured_from_the_loss_before_training():
    # the old rule took the first epoch's loss as the reference: 1e8 then never diverged
    assert _loop(0.69, 1e8) == [True]
    assert _loop(0.69, 0.69 * DIVERGED_FACTOR * 0.99) == [False]


def test_the_best_loss_so_far_lowers_the_limit_never_below_the_start():
    assert _loop(0.69, 0.01, 0.5, 2e4) == [False, False, True]  # 2e4 > 1e6 x 0.01
    # a loss that went to ~0 and bumped up, still below where it started, has not diverged
    assert _loop(1.0, 1e-12, 1e-5, 0.9) == [False, False, False]
    assert loss_limit(0.69, 1e-12) == 0.69 and math.isinf(loss_limit(math.nan, math.nan))


@pytest.mark.parametrize("seed", [0, 1])
def test_constant_1000_on_quantiles_is_flagged_on_both_engines(seed):
    task = get_task("quantiles")
    plans = [plan(task, spec, RunOptions(optimizer="sgd", epochs=3, seed=seed), dtype="float64")
             for spec in ("constant(1000.0)", "cosine(0.1)")]
    seq = [execute(p) for p in plans]
    st = execute_stack(plans)
    for a, b in zip(seq, st):
        assert a.status == b.status
        assert a.metrics.keys() == b.metrics.keys()
        for key in ("start_loss", "start_val_loss", "chance_val_accuracy"):
            assert a.metrics[key] == pytest.approx(b.metrics[key], rel=1e-9)
    bad, good = seq
    rank = ranking("val_accuracy")
    # seed 0 explodes to ~1e8 in its first epoch: diverged; seed 1 stays below the limit and ends at chance
    assert bad.status == "diverged" or no_progress(bad.metrics, rank)
    assert good.status == "ok" and not no_progress(good.metrics, rank)
    if seed == 0:
        assert bad.status == "diverged"
    assert 0.5 <= good.metrics["chance_val_accuracy"] <= 1.0


def _run(label, seed, val, chance):
    history = pd.DataFrame({"epoch": [1], "step": [1], "lr": [0.1], "loss": [0.5], "val_loss": [0.5],
                            "val_accuracy": [val]})
    metrics = {"loss": 0.5, "val_loss": 0.5, "val_accuracy": val, "test_loss": 0.5, "test_accuracy": val,
               "start_loss": 0.7, "start_val_loss": 0.7, "chance_val_accuracy": chance}
    return Run(config={"label": label, "seed": seed, "task": "or3"}, history=history, step_lr=np.zeros(1),
               step_loss=np.zeros(1), metrics=metrics, wall_s=0.0)


def test_a_schedule_that_learned_nothing_ranks_below_the_ones_that_learned():
    runs = [_run("high but at chance", 0, 0.9, 0.9), _run("learned", 0, 0.6, 0.5)]
    c = Comparison(task=get_task("or3"), runs=runs, labels=["high but at chance", "learned"])
    board = c.leaderboard
    assert board["schedule"].tolist() == ["learned", "high but at chance"]
    assert board["no_progress"].tolist() == [0, 1]
    assert c.flags() == ["no progress: high but at chance: 1 of 1 run ended no better than chance (val_accuracy 0.9 "
                         "<= 0.9); ranked below the runs that learned"]
    learned = Comparison(task=get_task("or3"), runs=runs[1:], labels=["learned"])
    assert "no_progress" not in learned.leaderboard and learned.flags() == []


def test_a_loss_ranked_run_no_better_than_before_training_is_flagged():
    rank = ranking("val_loss")
    assert no_progress({"val_loss": 2.0, "start_val_loss": 2.0}, rank)
    assert not no_progress({"val_loss": 1.9, "start_val_loss": 2.0}, rank)
    assert not no_progress({"val_loss": math.nan, "start_val_loss": 2.0}, rank)  # diverged: flagged as such
    assert not no_progress({"val_loss": 2.5}, rank)  # a training function's run: nothing to compare with
