"""The schedule-free optimizers (sgd_sf, adamw_sf) in the lab: a run equals a hand-written loop that uses the
schedulefree package directly (optimizer.train() before the steps, optimizer.eval() before every evaluation and for
the returned model), warmup_steps reaches the optimizer, the stacked engine falls back to the sequential trainer,
and a comparison ranks a schedule-free entry beside scheduled ones."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
schedulefree = pytest.importorskip("schedulefree")
pytest.importorskip("pandas")

from tiny_task import TINY  # noqa: E402

from lrlab import parse  # noqa: E402
from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.studies.compare import compare  # noqa: E402

CLASSES = {"sgd_sf": schedulefree.SGDScheduleFree, "adamw_sf": schedulefree.AdamWScheduleFree}


def hand_loop(optimizer: str, spec: str, epochs: int, seed: int = 0, **kwargs):
    """TINY trained by hand as its README says: (val losses at the averaged point x, the same at the training point
    y, final test loss, the final model at x)."""
    import torch.nn.functional as F

    data = TINY.load(seed)
    schedule = parse(spec).stretch(epochs * 2)  # 40 samples, batch 20: 2 steps per epoch
    torch.manual_seed(seed)
    model = TINY.model(seed).double()
    x, y = (torch.as_tensor(a, dtype=torch.float64) for a in (data.train.x, data.train.y))
    xv, yv = (torch.as_tensor(a, dtype=torch.float64) for a in (data.val.x, data.val.y))
    xt, yt = (torch.as_tensor(a, dtype=torch.float64) for a in (data.test.x, data.test.y))
    opt = CLASSES[optimizer](model.parameters(), lr=schedule(0), **kwargs)
    gen = torch.Generator().manual_seed(seed)
    val_x, val_y, step = [], [], 0
    for _ in range(epochs):
        model.train()
        opt.train()
        for idx in torch.randperm(len(x), generator=gen).split(20):
            for group in opt.param_groups:
                group["lr"] = schedule(step)
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x[idx]), y[idx]).backward()
            opt.step()
            step += 1
        model.eval()
        with torch.no_grad():
            val_y.append(float(F.binary_cross_entropy_with_logits(model(xv), yv)))  # at y: what eval() fixes
            opt.eval()
            val_x.append(float(F.binary_cross_entropy_with_logits(model(xv), yv)))
    with torch.no_grad():
        test = float(F.binary_cross_entropy_with_logits(model(xt), yt))
    return val_x, val_y, test, model


@pytest.mark.parametrize("optimizer, spec, kwargs", [
    ("adamw_sf", "constant(0.05)", {}),
    ("adamw_sf", "cosine(0.05)", {"warmup_steps": 3, "weight_decay": 0.01}),
    ("sgd_sf", "constant(0.5)", {"momentum": 0.8}),
])
def test_a_run_equals_the_hand_written_schedulefree_loop(optimizer, spec, kwargs):
    run = train(TINY, spec, optimizer=optimizer, epochs=4, dtype="float64", **kwargs)
    val_x, val_y, test, model = hand_loop(optimizer, spec, 4, **kwargs)
    np.testing.assert_allclose(run.history["val_loss"], val_x, rtol=1e-12)
    assert run.metrics["test_loss"] == pytest.approx(test, rel=1e-12)
    for (name, a), b in zip(run.model.named_parameters(), model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=name)
    # evaluated at the training point instead, the figures would differ: the switch matters here
    assert not np.allclose(val_y, val_x, rtol=1e-6)


def test_warmup_steps_reaches_the_optimizer():
    with_warmup = train(TINY, "constant(0.05)", optimizer="adamw_sf", epochs=3, dtype="float64", warmup_steps=4)
    without = train(TINY, "constant(0.05)", optimizer="adamw_sf", epochs=3, dtype="float64")
    assert with_warmup.config["optimizer_kwargs"] == {"warmup_steps": 4}
    assert with_warmup.history["val_loss"].tolist() != without.history["val_loss"].tolist()
    np.testing.assert_allclose(with_warmup.history["val_loss"], hand_loop("adamw_sf", "constant(0.05)", 3,
                                                                          warmup_steps=4)[0], rtol=1e-12)
    with pytest.raises(ValueError, match="warmup_stepz"):
        train(TINY, "constant(0.05)", optimizer="adamw_sf", epochs=1, warmup_stepz=4)


def test_the_stacked_engine_falls_back_to_the_sequential_trainer(capsys):
    c = compare(TINY, ["0.05", "0.1"], optimizer="adamw_sf", engine="stacked", epochs=2, dtype="float64", db=None,
                progress=False)
    err = capsys.readouterr().err
    assert "has no adamw_sf optimizer" in err and len(err.strip().splitlines()) == 1
    alone = train(TINY, "0.1", optimizer="adamw_sf", epochs=2, dtype="float64")
    np.testing.assert_array_equal(c.runs[1].history["val_loss"], alone.history["val_loss"])


def test_a_comparison_ranks_a_schedule_free_entry_beside_scheduled_ones(tmp_path):
    entries = ["cosine(0.05)", "constant(0.05)", "constant(0.05)@adamw_sf(warmup_steps=2)"]
    db = str(tmp_path / "runs.db")
    c = compare(TINY, entries, optimizer="adamw", epochs=3, seeds=2, dtype="float64", db=db, progress=False)
    assert c.labels == ["cosine(0.05)", "constant(0.05)", "constant(0.05)@adamw_sf(warmup_steps=2)"]
    sf = [r for r in c.runs if r.label.endswith("@adamw_sf(warmup_steps=2)")]
    assert [r.config["optimizer"] for r in sf] == ["adamw_sf", "adamw_sf"]
    assert sf[0].config["optimizer_kwargs"] == {"warmup_steps": 2}
    assert {r.config["optimizer"] for r in c.runs if r not in sf} == {"adamw"}
    alone = train(TINY, "constant(0.05)", optimizer="adamw_sf", epochs=3, dtype="float64", warmup_steps=2, seed=1)
    np.testing.assert_allclose(sf[1].history["val_loss"], alone.history["val_loss"], rtol=1e-12)
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(entries) and board["runs"].tolist() == [2, 2, 2]
    again = compare(TINY, entries, optimizer="adamw", epochs=3, seeds=2, dtype="float64", db=db, progress=False)
    assert all(r.model is None for r in again.runs)  # all reused from the store, each under its own optimizer
    with pytest.raises(ValueError, match="optimizer options"):
        compare(TINY, ["constant(0.05)@adamw_sf(warmup_steps=)"], db=None, progress=False)


def test_cli_optimizer_and_warmup(tmp_path, capsys):
    from lrlab.cli import main

    db = str(tmp_path / "r.db")
    assert main(["compare", "or3", "0.5", "0.5@sgd_sf(warmup_steps=2)", "--optimizer", "adamw_sf", "--opt",
                 "warmup_steps=3", "--epochs", "2", "--db", db, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "constant(0.5)@sgd_sf(warmup_steps=2)" in out
    assert main(["compare", "or3", "0.5", "--optimizer", "adam_sf", "--db", db]) == 2
    assert "--optimizer must be one of sgd, adam, adamw, sgd_sf, adamw_sf" in capsys.readouterr().err


def test_the_range_test_steps_a_schedule_free_optimizer():
    from lrlab.lab.studies.find import find_lr

    found = find_lr(TINY, seeds=2, optimizer="adamw_sf", steps=8, start_lr=1e-4, end_lr=1.0)
    assert [len(r.lrs) for r in found.runs] == [8, 8]
