import hashlib

import numpy as np
import pytest

import lrlab
from lrlab.viz.schedule_plots import plot_schedules, schedule_events


def test_events_from_parameters():
    assert schedule_events(lrlab.parse("piecewise([30, 60], [0.1, 0.05, 0.01])"), 100) == [
        (31, "boundary"), (61, "boundary")]
    assert schedule_events(lrlab.parse("multistep(0.1, [50, 100])"), 100) == [(50, "boundary")]
    restarts = schedule_events(lrlab.parse("cosine_restarts(0.1, 20, t_mul=2.0)"), 150)
    assert restarts == [(20, "restart"), (60, "restart"), (140, "restart")]
    assert schedule_events(lrlab.parse("one_cycle(0.1, total_steps=100)"), 100) == [(30, "warmup end")]
    assert schedule_events(lrlab.parse("warmup(multistep(0.1, [10]), 5)"), 100) == [
        (5, "warmup end"), (15, "boundary")]
    joined = lrlab.parse("join([constant(0.1), step_decay(0.05, 0.5, 20)], [40])")
    assert schedule_events(joined, 100) == [(40, "boundary"), (60, "boundary"), (80, "boundary")]


def test_events_mark_real_changes():
    # every marked boundary/restart is a step where the value actually jumps relative to the step before
    for spec in ["piecewise([30, 60], [0.1, 0.05, 0.01])", "multistep(0.1, [25, 70], gamma=0.5)",
                 "cosine_restarts(0.1, 20, t_mul=2.0, m_mul=0.9)", "step_decay(0.1, 0.5, 15)",
                 "exponential(0.1, 10, 0.5, staircase=True)"]:
        s = lrlab.parse(spec)
        lr = s(np.arange(150))
        for t, kind in schedule_events(s, 150):
            assert kind in ("boundary", "restart")
            assert abs(lr[t] - lr[t - 1]) > 1e-6 * lr[0], (spec, t)
            assert abs(lr[t - 1] - lr[t - 2]) < abs(lr[t] - lr[t - 1]), (spec, t)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_formats(tmp_path, suffix, picture):
    specs = ["piecewise([30, 60], [0.1, 0.05, 0.01])", "cosine(0.1)", "one_cycle(0.1)"]
    out = plot_schedules([lrlab.parse(s) for s in specs], 100, tmp_path / f"s{suffix}")
    data = out.read_bytes()
    if suffix == ".png":
        picture(out, min_size=(600, 300))
    elif suffix == ".svg":
        assert b"<svg" in data[:500] and b"learning rate" in data
    else:
        assert data.startswith(b"%PDF")


def test_plot_deterministic_and_log(tmp_path, picture):
    s = [lrlab.parse("warmup(cosine(0.1, decay_steps=90), 10)")]
    a = plot_schedules(s, 100, tmp_path / "a.png", log=True)
    b = plot_schedules(s, 100, tmp_path / "b.png", log=True)
    picture(a)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    c = plot_schedules(s, 100, tmp_path / "c.svg", steps_per_epoch=10)
    d = plot_schedules(s, 100, tmp_path / "d.svg", steps_per_epoch=10)
    assert c.read_bytes() == d.read_bytes()
    assert b"epoch" in c.read_bytes()


def test_bad_suffix_and_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"\.jpg"):
        plot_schedules([lrlab.parse("constant(0.1)")], 10, tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()
    with pytest.raises(ValueError, match="steps"):
        plot_schedules([lrlab.parse("constant(0.1)")], 0, tmp_path / "x.png")
    with pytest.raises(ValueError, match="labels"):
        plot_schedules([lrlab.parse("constant(0.1)")], 10, tmp_path / "x.png", labels=["a", "b"])


def test_cli_plot_writes_file(tmp_path, capsys, picture):
    from lrlab.cli import main

    out = tmp_path / "p.png"
    assert main(["plot", "cosine(0.1)", "multistep(0.1, [30])", "--steps", "50", "-o", str(out)]) == 0
    picture(out)
    assert main(["plot", "cosine(0.1)", "-o", str(tmp_path / "p.gif")]) == 2
    assert ".gif" in capsys.readouterr().err


def test_labels_wrap_drop_defaults_and_stay_unique():
    from lrlab.viz._figure import labels

    long = "exponential(0.1, decay_steps=5, decay_rate=0.95, staircase=True)"
    out = labels([long, "cosine(0.1, decay_steps=100, alpha=0.0)", "constant(0.1)", "constant(0.100000001)",
                  "not a spec", "not a spec", "piecewise([4, 9], [0.025, 0.0125, 0.008333333333333333])"])
    assert out[0].replace("\n", " ") == long and "staircase=True" in out[0]  # wrapped whole, never cut
    assert all(len(line) <= 44 for line in out[0].splitlines())
    assert out[1] == "cosine(0.1, decay_steps=100)"  # alpha=0.0 is the default: noise
    assert out[2:4] == ["constant(0.1)", "constant(0.100000001)"]  # shortening would make them equal: kept
    assert out[4:6] == ["not a spec #1", "not a spec #2"]
    assert "0.0083333" in out[6] and "0.008333333333" not in out[6]
    assert len(set(out)) == len(out)


def test_long_runs_are_sampled_but_keep_every_jump():
    from lrlab.viz.schedule_plots import POINTS, curve_points

    s = lrlab.parse("multistep(0.1, [123457, 654321], gamma=0.5)")
    t, lr = curve_points(s, 1_000_000)
    assert len(t) <= 6 * POINTS and t[0] == 0 and t[-1] == 999_999
    for m in (123457, 654321):  # the exact step of each drop is among the points, with the step before it
        assert m in t and m - 1 in t
        assert lr[list(t).index(m)] < lr[list(t).index(m - 1)]
    big = lrlab.parse("warmup(multistep(0.1, [70000017]), 1000003)")
    t, lr = curve_points(big, 100_000_000)
    assert len(t) <= 4 * POINTS + 10 and {1_000_003, 71_000_020, 71_000_019} <= set(t.tolist())
    assert np.array_equal(lr, big(t))


def test_plot_accepts_spec_strings_and_a_long_run(tmp_path, picture):
    out = plot_schedules(["cosine(0.1)", "step_decay(0.1, 0.5, 20000000)"], 100_000_000, tmp_path / "s.png")
    picture(out, min_size=(600, 300))
    plot_schedules("constant(0.1)", 10, tmp_path / "one.png")


def test_log_axis_with_no_positive_rate_says_so():
    from lrlab.viz.schedule_plots import schedules_figure

    fig = schedules_figure([lrlab.parse("constant(0)")], 50, log=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear"
    assert any("log axis" in t.get_text() for t in ax.texts)
    fig = schedules_figure([lrlab.parse("constant(0)"), lrlab.parse("constant(0.1)")], 50, log=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "constant(0.0) (never > 0: not drawn on a log axis)", "constant(0.1)"]


def test_few_steps_draw_the_last_step_flat():
    from lrlab.viz.schedule_plots import schedules_figure

    fig = schedules_figure([lrlab.parse("polynomial(0.1, decay_steps=50, end_lr=0.0, power=2.0)")], 50,
                           steps_per_epoch=1)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() and not ln.get_label().startswith("_")]
    x, y = line.get_xdata(), line.get_ydata()
    assert x[-1] == 50 and y[-1] == y[-2]  # epoch 49 holds its rate until 50: no drop drawn at the end


def test_preview_uses_the_terminal_width_and_samples(monkeypatch):
    import os

    from lrlab.viz.terminal import preview

    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((50, 20)))
    text = preview([lrlab.parse("cosine(0.1, decay_steps=100000000)")], 100_000_000)
    axis = next(line for line in text.splitlines() if "+--" in line)
    assert axis.count("-") == 50 - 14
    text = preview([lrlab.parse("constant(0)")], 20, log=True, width=30)
    assert "log axis" in text


def test_a_momentum_has_its_own_axis_and_markers_sit_on_top():
    import matplotlib

    matplotlib.use("Agg")
    from lrlab import parse
    from lrlab.viz.schedule_plots import schedules_figure

    fig = schedules_figure([parse("one_cycle(0.1, 100)"), parse("one_cycle(0.1, 100).momentum()")], 100)
    rate_ax, momentum_ax = fig.axes
    assert rate_ax.get_ylabel() == "learning rate" and momentum_ax.get_ylabel() == "momentum"
    assert max(max(line.get_ydata()) for line in rate_ax.get_lines() if len(line.get_ydata()) > 2) <= 0.1 + 1e-9
    assert min(min(line.get_ydata()) for line in momentum_ax.get_lines() if len(line.get_ydata()) > 2) >= 0.8
    markers = [line for ax in fig.axes for line in ax.get_lines()
               if line.get_marker() not in ("None", None, "") and len(line.get_xdata())]  # (not the legend's keys)
    curves = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() in ("None", None, "")]
    assert markers and min(m.get_zorder() for m in markers) > max(c.get_zorder() for c in curves)
    names = [t.get_text() for t in rate_ax.get_legend().get_texts()]
    assert "warmup end" in names and any("momentum, right axis" in n for n in names)
