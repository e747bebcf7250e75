"""Checkpoints and resume: a run resumed from its checkpoint at any step (mid-epoch, at an epoch's end, at the
budget's end, with a plateau, SGD momentum or Adam) equals the run never stopped, bitwise on the sequential trainer
and to 1e-9 on the stacked engine (float64); a checkpoint survives a file; bad starts are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from test_stacked import assert_same_run  # noqa: E402

from lrlab.lab.engines import checkpoint  # noqa: E402
from lrlab.lab.engines.stacked import execute_stack  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402

PLATEAU = "factor=0.5, patience=0, threshold=0.9"


def _plan(schedule="wsd(0.4, warmup_steps=2, decay_steps=4)", **options):
    options.setdefault("batch_size", 3)  # or3: 8 samples, batches of 3, 3, 2
    options.setdefault("steps", 11)
    return plan("or3", schedule, RunOptions(**options), dtype="float64")


def _with_checkpoints(p, steps):
    saved = {}
    run = execute(p, save_at=steps, on_save=lambda c: saved.__setitem__(c["step"], c))
    assert sorted(saved) == sorted(set(steps))
    return run, saved


def assert_identical(a, b):
    assert a.history.equals(b.history)
    np.testing.assert_array_equal(a.step_lr, b.step_lr)
    np.testing.assert_array_equal(a.step_loss, b.step_loss)
    assert a.metrics == b.metrics and a.status == b.status
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("options", [
    {"optimizer": "sgd", "optimizer_kwargs": {"momentum": 0.9, "nesterov": True}},
    {"optimizer": "adam", "plateau": PLATEAU},
    {"optimizer": "adamw", "optimizer_kwargs": {"amsgrad": True}},
])
def test_a_resumed_run_equals_the_run_never_stopped(options):
    p = _plan(**options)
    steps = list(range(12))  # 0, mid-epoch, epoch ends (3, 6, 9: after the row), the budget's end (11)
    full, saved = _with_checkpoints(p, steps)
    assert saved[3]["pos"] == 0 and len(saved[3]["rows"]) == 1 and saved[3]["perm"] is None
    assert saved[4]["pos"] == 1 and len(saved[4]["rows"]) == 1 and saved[4]["perm"] is not None
    assert len(saved[11]["rows"]) == 3  # the budget ends mid-epoch: its partial row is not in the checkpoint
    for step in steps:
        assert_identical(execute(p, start=saved[step]), full)
    # the stacked engine resumes every member from its own step, all in one stack
    for st in execute_stack([p] * len(steps), starts=[saved[s] for s in steps]):
        assert_same_run(full, st)


def test_a_checkpoint_survives_a_file_and_a_longer_budget_goes_on(tmp_path):
    bound = "cosine(0.4, decay_steps=11)"  # the 5-step run is the first 5 steps of the 11-step one
    _, saved = _with_checkpoints(_plan(bound, steps=5), [5])
    path = checkpoint.save(saved[5], tmp_path / "at5.pt")
    longer = _plan(bound, steps=11)
    assert_identical(execute(longer, start=checkpoint.load(path)), execute(longer))
    assert not (tmp_path / "at5.pt.part").exists()


def test_full_batch_resume():
    p = plan("line", "cosine(0.02)", RunOptions(steps=6), dtype="float64")
    full, saved = _with_checkpoints(p, [0, 2, 6])
    for s in (0, 2, 6):
        assert_identical(execute(p, start=saved[s]), full)


def test_bad_starts_are_one_line_errors():
    _, saved = _with_checkpoints(_plan(), [8])
    state = saved[8]
    cases = [
        (_plan(seed=3), "seed"),
        (_plan(optimizer="adam"), "optimizer"),
        (_plan(batch_size=4), "batch_size"),
        (_plan(steps=7), "past this run's 7 steps"),
    ]
    for p, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            execute(p, start=state)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="not a checkpoint"):
        execute(_plan(), start={"step": 3})
    with pytest.raises(ValueError, match="save_at needs on_save"):
        execute(_plan(), save_at=[3])
    with pytest.raises(ValueError, match="save_at"):
        execute(_plan(), save_at=[12], on_save=print)
    for name in ("sgd_sf", "adamw_sf"):  # their train/eval weights are not in the format: refused, not half-saved
        with pytest.raises(ValueError, match=f"schedule-free optimizer '{name}' are not supported"):
            execute(_plan(optimizer=name), save_at=[3], on_save=print)
        with pytest.raises(ValueError, match="schedule-free"):
            execute(_plan(optimizer=name), start=state)


@pytest.mark.parametrize("options", [
    {"optimizer": "sgd", "optimizer_kwargs": {"momentum": 0.9}, "plateau": PLATEAU},
    {"optimizer": "adamw", "optimizer_kwargs": {"amsgrad": True}},
    {"optimizer": "sgd"},
])
def test_the_stacked_engine_hands_out_the_sequential_checkpoints(options):
    plans = [_plan(seed=0, **options), _plan("cosine(0.3)", seed=1, steps=8, **options)]
    steps = [[0, 2, 3, 4, 11], [1, 6, 8]]
    stacked: dict = {}
    execute_stack(plans, save_at=steps, on_save=lambda k, c: stacked.__setitem__((k, c["step"]), c))
    assert sorted(stacked) == [(k, s) for k in (0, 1) for s in steps[k]]
    for k, p in enumerate(plans):
        full, saved = _with_checkpoints(p, steps[k])
        for s in steps[k]:
            a, b = stacked[(k, s)], saved[s]
            assert a.keys() == b.keys()
            assert all(a[key] == b[key] for key in ("config", "step", "epoch", "pos", "status"))
            assert len(a["rows"]) == len(b["rows"]) and all(
                r == pytest.approx(q, rel=1e-9) for r, q in zip(a["rows"], b["rows"]))
            assert (a["plateau"] is None) == (b["plateau"] is None)
            if b["plateau"] is not None:  # settings equal, counters and best to rounding
                assert a["plateau"].keys() == b["plateau"].keys()
                for key, v in b["plateau"].items():
                    assert a["plateau"][key] == (v if isinstance(v, str) or v is None else pytest.approx(v, rel=1e-9))
            assert (a["perm"] is None) == (b["perm"] is None) and torch.equal(a["generator"], b["generator"])
            assert a["perm"] is None or torch.equal(a["perm"], b["perm"])
            np.testing.assert_array_equal(a["step_lr"], b["step_lr"])
            np.testing.assert_allclose(a["step_loss"], b["step_loss"], rtol=1e-9, atol=0)
            for name, t in b["model"].items():
                np.testing.assert_allclose(a["model"][name].numpy(), t.numpy(), rtol=1e-9, atol=1e-12)
            assert a["optimizer"].keys() == b["optimizer"].keys()
            for i, state in b["optimizer"].items():
                assert a["optimizer"][i].keys() == state.keys()
                for key, t in state.items():
                    assert a["optimizer"][i][key].dtype == t.dtype, key
                    np.testing.assert_allclose(a["optimizer"][i][key].numpy(), t.numpy(), rtol=1e-9, atol=1e-12)
            # and the sequential trainer goes on from the stacked engine's checkpoint
            assert_same_run(execute(p, start=a), full)
