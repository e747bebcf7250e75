import numpy as np
import pandas as pd
import pytest
from fakes import fake_comparison

from lrlab.viz.run_curves import _summary, curves_figure, pick_metric, plot_curves


def test_curves_png(tmp_path, picture):
    c = fake_comparison()
    out = plot_curves(c, tmp_path / "curves.png", title="fake")
    w, h = picture(out, min_size=(900, 300))
    assert w > h


def test_band_values():
    c = fake_comparison(seeds=(0, 1, 2))
    frame = c.history[c.history["schedule"] == "constant(0.1)"]
    _, mean, low, high = _summary(frame, "loss", "minmax")
    by_epoch = frame.groupby("epoch")["loss"]
    assert np.allclose(mean, by_epoch.mean()) and np.allclose(low, by_epoch.min()) and np.allclose(high, by_epoch.max())
    _, mean, low, high = _summary(frame, "loss", "std")
    assert np.allclose(high - mean, by_epoch.std(ddof=0)) and np.allclose(mean - low, by_epoch.std(ddof=0))


def test_panels_and_metric_choice():
    c = fake_comparison(seeds=(0,))
    assert pick_metric(c.history) == "val_accuracy"
    assert pick_metric(c.history.drop(columns="val_accuracy")) == "val_loss"
    fig = curves_figure(c)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["training loss", "val accuracy", "learning rate"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert len(fig.axes[0].lines) == 2  # one per schedule
    assert len(fig.axes[0].collections) == 0  # a single seed: no band


def test_bad_inputs(tmp_path):
    c = fake_comparison()
    with pytest.raises(ValueError, match="band"):
        plot_curves(c, tmp_path / "x.png", band="iqr")
    with pytest.raises(ValueError, match="metric"):
        plot_curves(c, tmp_path / "x.png", metric="val_f1")
    with pytest.raises(ValueError, match="column"):
        plot_curves(c.history.drop(columns="lr"), tmp_path / "x.png")


def _diverged_comparison():
    """Two schedules on 3 seeds; the second blows up at epoch 8 (1e285, then inf, then nothing) on seed 0."""
    c = fake_comparison(schedules=("constant(0.1)", "constant(1e10)"), seeds=(0,), epochs=20)
    h = c.history
    bad = h["schedule"] == "constant(1e10)"
    blow = bad & (h["epoch"] >= 8)
    h.loc[blow, "loss"] = 1e285
    h.loc[blow & (h["epoch"] == 9), ["loss", "val_loss"]] = np.inf
    h.loc[blow, "val_loss"] = np.inf
    c.history = h[~(bad & (h["epoch"] > 9))].reset_index(drop=True)
    c.runs[1].status = "diverged"
    c.runs[1].label = "constant(1e10)"
    return c


def test_diverged_run_draws_its_finite_part_and_a_mark(tmp_path, picture):
    c = _diverged_comparison()
    fig = curves_figure(c)
    loss_ax = fig.axes[0]
    lines = [ln for ln in loss_ax.lines if ln.get_label() and not ln.get_label().startswith("_")]
    labels = [ln.get_label() for ln in lines]
    assert labels == ["constant(0.1)", "constant(10000000000.0) (diverged)"]  # the canonical spec
    # its finite part is drawn: 7 healthy epochs and the 1e285 of epoch 8 (clipped just above the axis), then a
    # gap where it was inf
    ys = lines[1].get_ydata()
    low, high = loss_ax.get_ylim()
    assert np.isfinite(ys).sum() == 8 and high < ys[7] < 1e6
    # an × at the last finite epoch (8), pulled inside the axes, which the blow-up did not stretch
    crosses = [ln for ln in loss_ax.lines if ln.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [8.0]
    assert low <= crosses[0].get_ydata()[0] <= high and high < 1e6
    assert "last finite value before diverging" in [t.get_text() for t in fig.legends[0].get_texts()]
    picture(plot_curves(c, tmp_path / "div.png"), min_size=(900, 300))


def test_inf_and_nan_everywhere_never_crash(tmp_path, picture):
    c = fake_comparison(schedules=("constant(1e10)",), seeds=(0, 1), epochs=6)
    c.history.loc[c.history["epoch"] >= 3, ["loss", "val_loss", "val_accuracy"]] = [np.inf, np.nan, np.nan]
    c.history.loc[c.history["epoch"] == 2, "loss"] = 1e300
    picture(plot_curves(c, tmp_path / "all.png"), min_size=(900, 300))


def test_identical_runs_and_many_schedules_stay_apart():
    specs = [f"constant({0.01 * (k + 1):.2f})" for k in range(12)]
    c = fake_comparison(schedules=specs, seeds=(0,), epochs=5)
    twin = c.history[c.history["schedule"] == specs[0]].assign(schedule="twin")
    c.history = pd.concat([c.history, twin], ignore_index=True)
    fig = curves_figure(c)
    lines = [ln for ln in fig.axes[0].lines if not ln.get_label().startswith("_")]
    looks = [(ln.get_color(), str(ln.get_linestyle()), str(ln.get_dashes() if hasattr(ln, "get_dashes") else ""))
             for ln in lines]
    assert len(lines) == 13
    assert len({(ln.get_color(), ln.get_linestyle()) for ln in lines[:12]}) == 12, looks  # 12 schedules, 12 looks
    assert lines[12].get_label() == "twin (same curves)" and lines[12].get_linestyle() == "--"


def test_rates_that_differ_by_seed_are_drawn_per_seed_and_the_target_is_a_line():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from lrlab.viz.run_curves import curves_figure

    rows = []
    for seed, cut in ((0, 2), (1, 4)):  # a plateau halves seed 0's rate after epoch 2, seed 1's after epoch 4
        for epoch in range(1, 7):
            rows.append({"schedule": "constant(0.1)@plateau", "seed": seed, "epoch": epoch, "step": epoch,
                         "loss": 1.0 / epoch, "val_loss": 1.0 / epoch, "lr": 0.1 if epoch <= cut else 0.05})
    history = pd.DataFrame(rows)

    class Source:  # the part of a Comparison the picture reads
        def __init__(self):
            self.history = history

        def resolved_target(self):
            return 0.25

        def _val_column(self):
            return "val_loss"

    fig = curves_figure(Source())
    _, metric_ax, lr_ax = fig.axes[:3]
    levels = {tuple(line.get_ydata()) for line in lr_ax.get_lines()}
    assert len(lr_ax.get_lines()) == 2 and (0.1, 0.1, 0.05, 0.05, 0.05, 0.05) in levels
    assert all(0.075 not in ys for ys in levels)  # no mean level that no run had
    assert [line.get_label() for line in metric_ax.get_lines()].count("target") == 1
    assert "target" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_per_seed_draws_one_line_per_schedule_and_seed():
    c = fake_comparison(seeds=(0, 1, 2))
    fig = curves_figure(c, per_seed=True, title="fake")
    schedules = list(dict.fromkeys(c.history["schedule"]))
    expected = sorted(f"{name} · seed {seed}" for name in schedules for seed in (0, 1, 2))
    for ax, column in zip(fig.axes[:3], ("loss", "val_accuracy", "lr")):
        assert sorted(line.get_gid() for line in ax.lines) == expected  # every Line2D is one seed's, no mean
        assert len(ax.collections) == 0  # no band
        for line in ax.lines:  # each line is that seed's own values
            name, seed = line.get_gid().rsplit(" · seed ", 1)
            rows = c.history[(c.history["schedule"] == name) & (c.history["seed"] == int(seed))]
            assert np.allclose(line.get_ydata(), rows[column]) and np.allclose(line.get_xdata(), rows["epoch"])
    # one legend entry per schedule, not per seed
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["constant(0.1)", "cosine(0.1, decay_steps=200)"]
    assert fig.get_suptitle() == "fake (each of 3 seeds)"
    mean = curves_figure(c)
    assert len(mean.axes[0].lines) == 2 and len(mean.axes[0].collections) == 2  # the default: mean and band


def test_per_seed_marks_where_a_diverged_seed_stops():
    c = _diverged_comparison()
    fig = curves_figure(c, per_seed=True)
    crosses = [ln for ln in fig.axes[0].lines if ln.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [8.0]
