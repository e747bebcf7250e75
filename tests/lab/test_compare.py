"""Comparisons: entries (specs, "@plateau(...)" suffixes), the leaderboard's figures recomputed by hand from the
runs, its ranking by the validation figure (never by the test figure; the training loss, said so, without a
validation split), the joint history, epochs to target, divergence that does not stop a comparison, and the files
written."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

import lrlab  # noqa: E402
from lrlab.lab.ranking import Ranking, ranking  # noqa: E402
from lrlab.lab.run import Run  # noqa: E402
from lrlab.lab.studies.compare import Comparison, compare, split_entry  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, Task  # noqa: E402
from lrlab.plateau import Plateau  # noqa: E402


def _load(seed: int) -> Data:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = (x[:, 0] ** 2 + x[:, 1] ** 2 > 1.2).astype(np.int64)
    return Data(Split(x[:120], y[:120]), Split(x[120:160], y[120:160]), Split(x[160:], y[160:]))


def _model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 12), torch.nn.ReLU(), torch.nn.Linear(12, 2))


RING = Task(name="ring", description="test task", loss="ce", load=_load, model=_model, epochs=8, batch_size=30)


def _reg_load(seed: int) -> Data:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1))
    y = 3 * x + 0.1 * rng.normal(size=(60, 1))
    return Data(Split(x[:40], y[:40]), Split(x[40:50], y[40:50]), Split(x[50:], y[50:]))


REG = Task(name="reg", description="test regression", loss="mse", load=_reg_load,
           model=lambda seed: torch.nn.Linear(1, 1, dtype=torch.float64), epochs=5, batch_size=None,
           dtype="float64")


@pytest.fixture(scope="module")
def comparison():
    specs = ["constant(0.1)", "cosine(0.5)", "constant(0.05)@plateau(factor=0.5, patience=1)", "constant(1e9)"]
    return compare(RING, specs, seeds=3, db=None, progress=False)


def test_entries():
    s, p, own = split_entry("constant(0.05)@plateau(factor=0.5,patience=10,min_lr=1e-5)")
    assert s == lrlab.constant(0.05) and own
    assert p.settings() == Plateau(factor=0.5, patience=10, min_lr=1e-5).settings()
    assert split_entry("cosine(0.1)") == (lrlab.parse("cosine(0.1)"), None, False)
    assert split_entry(0.01)[0] == lrlab.constant(0.01)
    s, p, own = split_entry((lrlab.constant(0.1), {"factor": 0.2}))
    assert (s, p.settings(), own) == (lrlab.constant(0.1), Plateau(factor=0.2).settings(), True)
    with pytest.raises(ValueError, match="plateau"):
        split_entry("constant(0.1)@cosine(0.1)")
    with pytest.raises(ValueError, match="unknown option"):
        split_entry("constant(0.1)@plateau(factr=0.5)")


def test_runs_labels_and_divergence_goes_on(comparison):
    runs = comparison.runs
    assert len(runs) == 12
    labels = ["constant(0.1)", "cosine(0.5)", "constant(0.05)@plateau(factor=0.5, patience=1)",
              "constant(1000000000.0)"]
    assert comparison.labels == labels
    assert [r.label for r in runs] == labels * 3 and [r.seed for r in runs] == [0] * 4 + [1] * 4 + [2] * 4
    assert [r.status for r in runs if r.label == "constant(1000000000.0)"] == ["diverged"] * 3
    assert all(r.status == "ok" for r in runs if r.label != "constant(1000000000.0)")
    cos = next(r for r in runs if r.label == "cosine(0.5)")
    assert cos.config["schedule"] == "cosine(0.5, decay_steps=32)"  # 8 epochs x 4 steps
    plat = next(r for r in runs if "plateau" in r.label)
    assert plat.config["plateau"]["factor"] == 0.5 and plat.config["plateau"]["patience"] == 1


def test_leaderboard_figures_by_hand(comparison):
    board = comparison.leaderboard
    assert comparison.metric == "accuracy" and comparison.rank_column == "val_accuracy"
    # ranked by mean final val accuracy over the seeds, schedules with a diverged run last
    def means(key):
        return {label: np.mean([r.metrics[key] for r in comparison.runs if r.label == label])
                for label in comparison.labels if label != "constant(1000000000.0)"}

    val, test = means("val_accuracy"), means("test_accuracy")
    assert list(board["schedule"]) == [*sorted(val, key=val.get, reverse=True), "constant(1000000000.0)"]
    assert len(set(val.values())) == 3, "the test needs distinct means to check the order"
    assert sorted(val, key=val.get) != sorted(test, key=test.get), "here the test figure would rank otherwise"
    # runs that ended at or below chance (the validation split's most common class, 0.525) are counted
    assert list(board.columns[3:8]) == ["no_progress", "val_accuracy", "val_accuracy_std", "test_accuracy",
                                        "test_accuracy_std"]
    stalled = {label: sum(r.metrics["val_accuracy"] <= r.metrics["chance_val_accuracy"] for r in comparison.runs
                          if r.label == label) for label in val}
    assert dict(zip(board["schedule"], board["no_progress"])) == {**stalled, "constant(1000000000.0)": 0}
    last = board.iloc[-1]
    assert last["diverged"] == 3 and math.isnan(last["test_accuracy"]) and math.isnan(last["test_loss"])
    target = comparison.resolved_target()
    best_any = max(max(r.history["val_accuracy"]) for r in comparison.runs if r.status == "ok")
    assert target == pytest.approx(0.98 * best_any)
    for row in board.to_dict("records"):
        runs = [r for r in comparison.runs if r.label == row["schedule"]]
        test = np.array([r.metrics["test_accuracy"] for r in runs])
        final_val = np.array([r.metrics["val_accuracy"] for r in runs])
        best = np.array([r.history["val_accuracy"].max() for r in runs])
        assert row["runs"] == 3
        assert row["val_accuracy"] == pytest.approx(final_val.mean(), nan_ok=True)
        assert row["val_accuracy_std"] == pytest.approx(final_val.std(ddof=1), nan_ok=True)
        assert row["test_accuracy"] == pytest.approx(test.mean(), nan_ok=True)  # NaN if any seed diverged
        assert row["test_accuracy_std"] == pytest.approx(test.std(ddof=1), nan_ok=True)
        assert row["best_val_accuracy"] == pytest.approx(best.mean(), nan_ok=True)
        assert row["wall_s"] == pytest.approx(np.mean([r.wall_s for r in runs]))
        hits = []
        for r in runs:
            ok = r.history[r.history["val_accuracy"] >= target]
            if len(ok):
                hits.append(ok["epoch"].iloc[0])
        assert row["reached"] == f"{len(hits)}/3"
        if hits:
            assert row["epochs_to_target"] == pytest.approx(np.mean(hits))
        else:
            assert math.isnan(row["epochs_to_target"])
        assert row["diverged"] == sum(r.status != "ok" for r in runs)


def test_explicit_target(comparison):
    c = compare(RING, ["constant(0.1)"], seeds=1, db=None, progress=False, target=1e-9)
    assert c.resolved_target() == 1e-9
    assert c.leaderboard["epochs_to_target"].iloc[0] == 1.0  # reached at once
    assert c.runs[0].history["val_accuracy"].max() < 1.0, "the test needs a run that never reaches 100%"
    c = compare(RING, ["constant(0.1)"], seeds=1, db=None, progress=False, target=1.0)
    assert math.isnan(c.leaderboard["epochs_to_target"].iloc[0]) and c.leaderboard["reached"].iloc[0] == "0/1"


@pytest.mark.parametrize("target", [0.0, -1, 1.01, 5, math.nan, "0.9", True])
def test_an_accuracy_target_outside_0_1_is_refused_before_training(target, monkeypatch):
    monkeypatch.setattr(sys.modules["lrlab.lab.engines.train"], "execute", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=r"target must be an accuracy in \(0, 1\]"):
        compare(RING, ["constant(0.1)"], db=None, progress=False, target=target)


@pytest.mark.parametrize("target", [0.0, -1, math.inf])
def test_a_loss_target_must_be_positive(target, monkeypatch):
    monkeypatch.setattr(sys.modules["lrlab.lab.engines.train"], "execute", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match="target must be a loss > 0"):
        compare(REG, ["constant(0.1)"], db=None, progress=False, target=target)
    assert Comparison(task=REG, runs=[], target=5).resolved_target() == 5.0  # a loss may be above 1
    with pytest.raises(ValueError, match="target"):
        Comparison(task=RING, runs=[], target=5)


def test_the_table_finds_the_target_once(comparison, monkeypatch):
    """The default target looks at every run: working it out per run made the table quadratic in runs."""
    calls = []
    real = Comparison.resolved_target

    def counted(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Comparison, "resolved_target", counted)
    table = comparison.table
    assert len(calls) == 1 and len(table) == len(comparison.runs)
    target = real(comparison)
    assert table["epochs_to_target"].tolist() == pytest.approx(
        [comparison.epochs_to_target(r, target) for r in comparison.runs], nan_ok=True)


def test_joint_history(comparison):
    h = comparison.history
    assert list(h.columns[:3]) == ["schedule", "seed", "run_id"]
    assert len(h) == sum(len(r.history) for r in comparison.runs)
    one = h[(h["schedule"] == "cosine(0.5)") & (h["seed"] == 2)]
    pd.testing.assert_frame_equal(one.drop(columns=["schedule", "seed", "run_id"]).reset_index(drop=True),
                                  comparison.runs[9].history)


def test_write(comparison, tmp_path):
    paths = comparison.write(tmp_path / "out")
    assert [p.name for p in paths] == ["runs.csv", "history.csv", "leaderboard.csv"]
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert {"schedule", "seed", "final_loss", "test_loss", "test_accuracy", "wall_s", "status"} <= set(runs.columns)
    assert len(runs) == 12 and runs["status"].tolist().count("diverged") == 3
    r = comparison.runs[1]
    row = runs.iloc[1]
    assert row["schedule"] == r.label and row["seed"] == r.seed
    assert row["final_loss"] == pytest.approx(r.metrics["loss"]) and row["test_loss"] == pytest.approx(
        r.metrics["test_loss"])
    hist = pd.read_csv(tmp_path / "out" / "history.csv")
    assert len(hist) == len(comparison.history)
    # a diverged run's figures are written as empty cells (read back as NaN), not as numbers
    diverged = runs[runs["status"] == "diverged"]
    assert diverged[["final_loss", "test_loss", "test_accuracy"]].isna().all().all()
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert board["schedule"].iloc[-1] == "constant(1000000000.0)" and math.isnan(board["test_accuracy"].iloc[-1])
    assert not hasattr(comparison, "to_html")  # HTML is lrlab.viz.report's job, not the lab's


def _run(label: str, seed: int, test_accuracy: float, status: str = "ok", val_accuracy: float | None = None,
         loss: float | None = None, has_val: bool = True) -> Run:
    """A made-up finished run: a short val history and final figures (NaN when it diverged, as train sets them);
    the final val accuracy is the test accuracy unless given, and has_val=False leaves out every val_ figure."""
    val_accuracy = test_accuracy if val_accuracy is None else val_accuracy
    acc = [0.5, val_accuracy if status == "ok" else 0.9]
    history = pd.DataFrame({"epoch": [1, 2], "step": [4, 8], "lr": [0.1, 0.1], "loss": [0.7, 0.3],
                            "val_loss": [0.7, 0.3], "val_accuracy": acc})
    ok = status == "ok"
    figure = test_accuracy if ok else math.nan
    metrics = {"loss": (figure if loss is None else loss) if ok else math.nan, "val_loss": figure,
               "val_accuracy": val_accuracy if ok else math.nan, "test_loss": figure, "test_accuracy": figure,
               "epochs_done": 2, "steps": 8}
    if not has_val:
        history = history.drop(columns=["val_loss", "val_accuracy"])
        metrics = {k: v for k, v in metrics.items() if not k.startswith("val_")}
    config = {"task": "ring", "label": label, "schedule": label, "seed": seed}
    return Run(config=config, history=history, step_lr=np.zeros(8), step_loss=np.zeros(8), metrics=metrics,
               wall_s=1.0, status=status)


def test_a_schedule_diverged_on_some_seeds_ranks_last_with_nan_figures():
    """The survivors of "risky" score best of all, but one of its seeds diverged: its mean is not theirs."""
    runs = [_run("risky", 0, 0.99), _run("risky", 1, 0.97), _run("risky", 2, math.nan, "diverged"),
            _run("wild", 0, math.nan, "diverged"), _run("wild", 1, 0.98), _run("wild", 2, math.nan, "diverged"),
            _run("safe", 0, 0.80), _run("safe", 1, 0.82), _run("safe", 2, 0.84),
            _run("better", 0, 0.90), _run("better", 1, 0.91), _run("better", 2, 0.92)]
    c = Comparison(task=RING, runs=runs, labels=["risky", "wild", "safe", "better"])
    board = c.leaderboard
    assert list(board["schedule"]) == ["better", "safe", "risky", "wild"]  # fewest diverged first among the last
    assert board["diverged"].tolist() == [0, 0, 1, 2]
    risky = board.set_index("schedule").loc["risky"]
    assert math.isnan(risky["test_accuracy"]) and math.isnan(risky["test_accuracy_std"])
    assert math.isnan(risky["test_loss"])
    assert board.set_index("schedule").loc["better", "test_accuracy"] == pytest.approx(0.91)


def test_the_leaderboard_ranks_by_the_validation_figure_not_the_test_figure():
    """By test accuracy the order would be b, c, a; by the final val accuracy (what is ranked) it is a, c, b."""
    runs = [_run(label, seed, test, val_accuracy=val)
            for seed in (0, 1) for label, val, test in (("b", 0.80, 0.95), ("c", 0.85, 0.80), ("a", 0.90, 0.70))]
    c = Comparison(task=RING, runs=runs, labels=["b", "c", "a"])
    assert c.ranking == Ranking("val_accuracy", True, test="test_accuracy")
    board = c.leaderboard
    assert list(board["schedule"]) == ["a", "c", "b"]
    assert board["val_accuracy"].tolist() == pytest.approx([0.90, 0.85, 0.80])
    assert board["test_accuracy"].tolist() == pytest.approx([0.70, 0.80, 0.95])  # beside, not ranked
    assert c.table.set_index(["schedule", "seed"]).loc[("a", 1), "val_accuracy"] == pytest.approx(0.90)


def test_equal_validation_figures_keep_the_given_order_and_diverged_runs_rank_last():
    runs = [_run("late", 0, 0.7, val_accuracy=0.9), _run("early", 0, 0.95, val_accuracy=0.9),
            _run("broken", 0, math.nan, "diverged"), _run("poor", 0, 0.99, val_accuracy=0.5)]
    for labels in (["late", "early", "broken", "poor"], ["broken", "early", "late", "poor"]):
        board = Comparison(task=RING, runs=runs, labels=labels).leaderboard
        ties = [label for label in labels if label in ("late", "early")]
        assert list(board["schedule"]) == [*ties, "poor", "broken"]


def test_a_loss_task_ranks_by_its_final_val_loss_lower_first():
    def reg_run(label, val_loss, test_loss):
        run = _run(label, 0, 0.5)
        run.metrics.update(val_loss=val_loss, test_loss=test_loss)
        run.metrics.pop("val_accuracy"), run.metrics.pop("test_accuracy")
        return run

    c = Comparison(task=REG, runs=[reg_run("x", 0.3, 0.1), reg_run("y", 0.2, 0.4)], labels=["x", "y"])
    assert (c.rank_column, c.higher_is_better, c.ranking.test) == ("val_loss", False, "test_loss")
    assert list(c.leaderboard["schedule"]) == ["y", "x"]


def _load_no_val(seed: int) -> Data:
    data = _load(seed)
    empty = Split(data.val.x[:0], data.val.y[:0])
    return Data(data.train, empty, data.test)


NOVAL = Task(name="ring_noval", description="no validation split", loss="ce", load=_load_no_val, model=_model,
             epochs=4, batch_size=30)


def test_a_task_without_a_validation_split_ranks_by_the_final_training_loss_and_says_so(capsys):
    c = compare(NOVAL, ["constant(0.01)", "constant(0.3)", "cosine(0.1)"], db=None, progress=False)
    assert all("val_loss" not in r.metrics and "val_loss" not in r.history for r in c.runs)
    rank = c.ranking
    assert (rank.metric, rank.column, rank.higher_is_better, rank.test) == ("loss", "final_train_loss", False,
                                                                           "test_accuracy")
    assert rank.note == "task 'ring_noval' has no validation split"
    assert "ranked by the final training loss" in rank.describe() and rank.note in rank.describe()
    board = c.leaderboard
    losses = {r.label: r.metrics["loss"] for r in c.runs}
    assert list(board["schedule"]) == sorted(losses, key=losses.get)
    assert board["final_train_loss"].tolist() == pytest.approx(sorted(losses.values()))
    assert "test_accuracy" in board and "best_loss" in board and "val_accuracy" not in board
    from lrlab.cli.lab import print_leaderboard

    print_leaderboard(c)
    out = " ".join(capsys.readouterr().out.split())
    assert "final_train_loss" in out and "has no validation split" in out and "training loss" in out


def test_a_comparison_ranks_by_a_declared_metric():
    """What another kind of target (a user's training function) plugs in: its own metric and direction."""
    runs = [_run("a", 0, 0.9, val_accuracy=0.9), _run("b", 0, 0.6, val_accuracy=0.6)]
    runs[0].metrics["val_loss"], runs[1].metrics["val_loss"] = 0.5, 0.2
    c = Comparison(task=RING, runs=runs, labels=["a", "b"], rank_by=ranking("val_loss"))
    assert c.ranking == Ranking("val_loss", False, test="test_loss") and c.rank_column == "val_loss"
    assert list(c.leaderboard["schedule"]) == ["b", "a"]
    for r, f1 in zip(runs, (0.1, 0.7)):
        r.metrics["val_f1"] = f1
    c = Comparison(task=RING, runs=runs, labels=["a", "b"], rank_by=ranking("val_f1", higher_is_better=True))
    assert list(c.leaderboard["schedule"]) == ["b", "a"] and "val_f1" in c.leaderboard
    with pytest.raises(ValueError, match="direction of metric 'val_f1' is not known"):
        ranking("val_f1")
    with pytest.raises(ValueError, match="rank_by must be"):
        Comparison(task=RING, runs=runs, rank_by="val_loss")


def test_regression_ranks_by_loss():
    c = compare(REG, ["constant(0.3)", "constant(0.001)"], db=None, progress=False)
    assert c.metric == "loss" and not c.higher_is_better and c.rank_column == "val_loss"
    board = c.leaderboard
    assert list(board["schedule"]) == ["constant(0.3)", "constant(0.001)"]
    assert "val_loss" in board and "best_val_loss" in board and "test_loss" in board and "test_accuracy" not in board
    best = min(min(r.history["val_loss"]) for r in c.runs)
    assert c.resolved_target() == pytest.approx(1.1 * best)


def test_global_plateau_and_own_suffix():
    c = compare(REG, ["constant(0.3)", "constant(0.2)@plateau(factor=0.1)"], plateau="factor=0.5", db=None,
                progress=False)
    assert c.runs[0].config["plateau"]["factor"] == 0.5 and c.runs[0].label == "constant(0.3)@plateau(factor=0.5)"
    assert c.runs[1].config["plateau"]["factor"] == 0.1


def test_bad_comparisons():
    with pytest.raises(ValueError, match="listed twice"):
        compare(REG, ["constant(0.1)", "0.1"], db=None, progress=False)
    with pytest.raises(ValueError, match="at least one"):
        compare(REG, [], db=None, progress=False)
    with pytest.raises(ValueError, match="seeds"):
        compare(REG, ["0.1"], seeds=0, db=None, progress=False)
    with pytest.raises(ValueError):
        compare(REG, ["0.1", "cosine("], db=None, progress=False)


def test_progress_object_gets_one_bar_per_run():
    events = []

    class Bars:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            events.append("closed")

        def bar(self, label, seed, epochs):
            events.append(("bar", label, seed, epochs))

            class Bar:
                def update(self, epoch, loss, lr):
                    events.append(("epoch", epoch))

                def done(self, status):
                    events.append(("done", status))

            return Bar()

    compare(REG, ["0.1"], seeds=[4], db=None, progress=Bars())
    assert events == [("bar", "constant(0.1)", 4, 5), *[("epoch", e) for e in range(1, 6)], ("done", "ok"), "closed"]
