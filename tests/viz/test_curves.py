import numpy as np
import pytest
from fakes import fake_comparison

from lrlab.viz.curves import _summary, curves_figure, pick_metric, plot_curves


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
