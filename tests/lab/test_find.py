"""`lrlab.lab.find_lr`: the range test on a task, per seed, built exactly as the trainer builds a run."""

from __future__ import annotations

import numpy as np
import pytest

import lrlab
from lrlab import rangetest as rt
from lrlab.lab import Data, Split, Task, find_lr, train

pytest.importorskip("torch")


def test_each_seeds_curve_is_the_trainers_run_under_the_sweep() -> None:
    """The range test of seed s is `train(task, sweep, seed=s)`'s first steps: same init, shuffles and rates."""
    steps = 30
    found = find_lr("quantiles", seeds=[0, 1], start_lr=1e-4, end_lr=0.1, steps=steps, diverge=None,
                    engine="sequential")
    assert found.seeds == [0, 1]
    sweep = rt.sweep(1e-4, 0.1, steps)
    for seed, run in zip((0, 1), found.runs):
        ref = train("quantiles", sweep, epochs=3, seed=seed)  # 12 steps an epoch
        assert run.lrs.tolist() == ref.step_lr[:steps].tolist()
        assert run.losses.tolist() == ref.step_loss[:steps].tolist()
        assert run.smoothed.tolist() == rt.smooth(ref.step_loss[:steps]).tolist()
    assert not np.array_equal(found.runs[0].losses, found.runs[1].losses)
    assert found.losses.shape == (2, steps)


@pytest.mark.parametrize("name", ["quantiles", "digits", "mnist1d_cnn"])
def test_stacked_seeds_equal_the_sequential_range_tests(name: str) -> None:
    """engine="auto" trains the seeds as one stack (lrlab.lab.engines.stacked); in float64 every seed's curve equals the
    sequential test's: rates exactly, losses to 1e-9, the same stop and the same suggestions."""
    import dataclasses

    task = dataclasses.replace(lrlab.lab.get_task(name), dtype="float64")
    kwargs = {"seeds": 3, "start_lr": 1e-5, "end_lr": 10.0, "steps": 40}
    seq = find_lr(task, engine="sequential", **kwargs)
    stacked = find_lr(task, engine="stacked", **kwargs)
    for a, b in zip(seq.runs, stacked.runs):
        assert b.lrs.tolist() == a.lrs.tolist() and b.stopped == a.stopped and b.seed == a.seed
        np.testing.assert_allclose(b.losses, a.losses, rtol=1e-9)
        for rule in rt.RULES:
            assert b.suggestions[rule] == pytest.approx(a.suggestions[rule], rel=1e-9, nan_ok=True)


def test_engine_is_checked() -> None:
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'stacked', 'sequential', got 'gpu'"):
        find_lr("quantiles", seeds=2, steps=10, engine="gpu")


def test_result_suggestions_spread_and_ready_specs() -> None:
    found = find_lr("quantiles", seeds=3, steps=60, start_lr=1e-5, end_lr=10.0)
    assert found.seeds == [0, 1, 2]
    for rule in rt.RULES:
        per = found.per_seed[rule]
        assert per == [r.suggestions[rule] for r in found.runs]
        assert found.suggestions[rule] == sorted(per)[1]
    valley = found.suggestions["valley"]
    one_cycle, cosine = (lrlab.parse(s) for s in found.specs())
    assert one_cycle == lrlab.one_cycle(float(f"{valley:.3g}"))
    assert cosine == lrlab.warmup(lrlab.cosine(float(f"{valley:.3g}")), 30)  # 5% of 50 epochs x 12 steps
    assert found.run_steps == 600


def test_bad_options_are_value_errors_naming_them() -> None:
    with pytest.raises(ValueError, match=r"start_lr must be < end_lr, got start_lr=1\.0, end_lr=1\.0"):
        find_lr("quantiles", start_lr=1.0, end_lr=1.0)
    with pytest.raises(ValueError, match=r"steps must be a whole number in \[2, 2\*\*53\], got 1"):
        find_lr("quantiles", steps=1)
    with pytest.raises(ValueError, match="seeds must be a count >= 1 or a non-empty list of seeds, got 0"):
        find_lr("quantiles", seeds=0)
    with pytest.raises(ValueError, match="find_lr: progress must be a function of each seed's RangeTest, or None, "
                       "got True"):  # compare's progress=True means bars; here it is a callback
        find_lr("quantiles", progress=True)
    empty = Split(np.zeros((0, 2), np.float32), np.zeros((0,), np.int64))

    def load(seed: int) -> Data:
        return Data(empty, empty, empty)

    task = Task(name="empty", description="no data", loss="ce", load=load, model=lambda seed: None)
    with pytest.raises(ValueError, match="task 'empty' has no training data"):
        find_lr(task, seeds=1)
