"""`lrlab.lightning.experiment`: a LightningModule's own training in the lab with one line (issue 22), trained for
real on the CPU: compare 3 schedules x 2 seeds (leaderboard, store reuse), the rates the module's own optimizer ran
at, the per-step losses its training_step computed, a plateau entry (reduced at once, not one update late), tune
pruning trials inside fit, and the Trainer's count of updates checked against the run's."""

from __future__ import annotations

import logging

import numpy as np
import pytest

L = pytest.importorskip("lightning")
torch = pytest.importorskip("torch")

import lrlab.lightning  # noqa: E402
from lrlab import parse  # noqa: E402
from lrlab.lab import compare  # noqa: E402

logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]
EPOCHS, SPE = 3, 6  # 192 samples in batches of 32
STEPS = EPOCHS * SPE
SEEN: list[dict] = []  # per module built, in order: the rates and losses of its updates, the epochs it began


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                       torch.nn.Linear(16, 2))
        self.seen = {"rates": [], "losses": [], "epochs": 0}
        SEEN.append(self.seen)

    def on_train_epoch_start(self):
        self.seen["epochs"] += 1

    def training_step(self, batch, batch_idx):
        self.seen["rates"].append(self.optimizers().param_groups[0]["lr"])
        loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
        self.seen["losses"].append(float(loss.detach()))
        return loss

    def validation_step(self, batch, batch_idx):
        out = self.net(batch[0])
        self.log("val_loss", torch.nn.functional.cross_entropy(out, batch[1]))
        self.log("val_accuracy", (out.argmax(1) == batch[1]).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0, momentum=0.9)


class Data(L.LightningDataModule):
    def setup(self, stage):
        g = torch.Generator().manual_seed(7)
        x = torch.randn(256, 8, generator=g)
        y = (x[:, 0] + x[:, 1] > 0).long()
        self.train, self.val = torch.utils.data.TensorDataset(x[:192], y[:192]), torch.utils.data.TensorDataset(
            x[192:], y[192:])

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.train, batch_size=32, shuffle=True)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val, batch_size=64)


def tiny(version="1", **kw):
    kw.setdefault("max_epochs", EPOCHS)
    return lrlab.lightning.experiment(Net, Data(), monitor="val_accuracy", version=version,
                                      trainer_kwargs={"accelerator": "cpu"}, **kw)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    db = tmp_path_factory.mktemp("lightning") / "runs.db"
    SEEN.clear()
    return db, compare(tiny(), SPECS, seeds=2, db=db, progress=False), list(SEEN)


def test_compare_trains_ranks_and_reuses(compared):
    db, c, _ = compared
    assert [(r.label, r.seed, r.status) for r in c.runs] == [(s, seed, "ok") for seed in (0, 1) for s in SPECS]
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and board["runs"].tolist() == [2, 2, 2]
    assert c.ranking.metric == "val_accuracy" and board["val_accuracy"].is_monotonic_decreasing
    for run in c.runs:
        assert list(run.history["epoch"]) == [1, 2, 3] and {"val_loss", "val_accuracy"} <= set(run.history.columns)
        assert run.config["task_identity"] == {"experiment": "Net", "version": "1"}
    SEEN.clear()
    again = compare(tiny(), SPECS, seeds=2, db=db, progress=False)
    assert all(r.reused for r in again.runs) and SEEN == []
    bumped = compare(tiny(version="2"), SPECS[:1], seeds=1, db=db, progress=False)
    assert not bumped.runs[0].reused and bumped.runs[0].status == "ok"


def test_the_modules_optimizer_ran_each_update_at_the_schedules_rate(compared):
    _, c, seen = compared
    for run, s in zip(c.runs, seen):
        want = parse(run.label).stretch(STEPS)(np.arange(STEPS))
        np.testing.assert_allclose(s["rates"], want, rtol=0, atol=0)
        np.testing.assert_allclose(run.step_lr, want, rtol=1e-12)


def test_the_logged_losses_are_what_training_step_computed(compared):
    _, c, seen = compared
    for run, s in zip(c.runs, seen):
        np.testing.assert_allclose(run.step_loss, s["losses"], rtol=1e-7)
        np.testing.assert_allclose(run.history["loss"], np.reshape(s["losses"], (EPOCHS, SPE)).mean(1), rtol=1e-6)


def test_the_labs_seed_reaches_the_module_and_the_dataloader(compared):
    _, c, _ = compared
    first = c.runs[0]
    again = compare(tiny(), [first.label], seeds=[first.seed], db=None, progress=False).runs[0]
    assert np.array_equal(again.step_loss, first.step_loss)


def test_a_plateau_reduces_the_very_next_update():
    SEEN.clear()
    spec = "constant(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)"
    run = compare(tiny(), [spec], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "ok"
    np.testing.assert_allclose(SEEN[-1]["rates"], [0.1] * 12 + [0.05] * 6, rtol=1e-12)
    np.testing.assert_allclose(run.step_lr, SEEN[-1]["rates"], rtol=1e-12)


def test_a_diverging_run_stops_inside_fit():
    SEEN.clear()
    run = compare(tiny(), ["constant(1e30)"], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "diverged" and SEEN[-1]["epochs"] <= 1 and len(run.step_loss) < STEPS


def test_tune_prunes_trials_inside_fit(tmp_path):
    pytest.importorskip("optuna")
    from lrlab.lab import tune

    SEEN.clear()
    result = tune(tiny(max_epochs=4), "constant(loguniform(1e-4, 1))", trials=8, confirm=0,
                  storage=tmp_path / "t.db", progress=False, sampler="random")
    trials = result.trials
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    for (_, trial), s in zip(trials.iterrows(), SEEN[:8]):
        assert s["epochs"] == (trial["epochs"] if trial["state"] == "PRUNED" else 4)


def test_the_trainers_count_of_updates_must_be_the_runs():
    run = compare(tiny(steps_per_epoch=5), ["cosine(0.1)"], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "failed" and "the Trainer counts 18 updates but the run's schedule is bound to 15" in \
        run.error


def test_builder_settings_are_checked_in_one_line():
    with pytest.raises(ValueError, match="max_epochs must be"):
        lrlab.lightning.experiment(Net, Data(), max_epochs=0, monitor=None)
    with pytest.raises(ValueError, match="give a datamodule or train_dataloaders"):
        lrlab.lightning.experiment(Net, max_epochs=1, monitor=None)
    with pytest.raises(ValueError, match="must not hold 'max_epochs'"):
        lrlab.lightning.experiment(Net, Data(), max_epochs=1, monitor=None, trainer_kwargs={"max_epochs": 2})


def test_the_labs_range_test_sweeps_fit_and_stops_it():
    from lrlab.lab import find_lr

    SEEN.clear()
    found = find_lr(tiny(max_epochs=10), seeds=1, start_lr=1e-4, end_lr=100.0, steps=30)
    test = found.runs[0]
    assert len(test.lrs) == 30 or test.stopped == "diverged"
    want = test.settings.schedule(np.arange(len(test.lrs)))
    np.testing.assert_allclose(SEEN[-1]["rates"], want, rtol=0, atol=0)  # the module's optimizer ran the sweep


def test_a_trainer_of_several_processes_is_refused_in_one_line():
    fn = lrlab.lightning.experiment(Net, Data(), max_epochs=1, monitor=None,
                                    trainer_kwargs={"accelerator": "cpu", "devices": 2, "strategy": "ddp_spawn"})
    run = compare(fn, ["cosine(0.1)"], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "failed" and "a run trains in one process; got a Trainer of 2 processes" in run.error
