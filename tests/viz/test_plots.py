import hashlib

import numpy as np
import pytest

import lrlab
from lrlab.viz.plots import plot_schedules, schedule_events


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
