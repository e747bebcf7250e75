"""The range test's framework-free part: the sweep, the smoothing and stopping rule, the suggestion rules.

Every rule is checked on hand-computed curves, and against a plain restatement of its reference's loop (fastai's
valley and slide, Lightning's suggestion) on many random curves. torch-lr-finder's rule is checked against the
real package in tests/test_torch_find_lr.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lrlab
from lrlab import rangetest as rt


# -- restatements of the references' loops (from their sources, in plain Python) ----------------------------
def fastai_valley(lrs: list[float], losses: list[float]) -> float:
    """fastai/callback/schedule.py `valley`: a double loop over (i, j) growing the longest decreasing run ending
    at i; the longest's end is remembered the moment a longer one appears, its start as end - length."""
    n = len(losses)
    longest = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end, start = i, i - longest[i]
    third = (end - start) / 3
    return lrs[start + int(third) + int(third / 2)]


def fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0) -> float:
    """fastai `slide`: walk (right, left) = (-1, -1 - lr_diff) leftwards while the gradients there differ by more
    than thresh."""
    grad = np.gradient(np.asarray(losses, dtype=float))
    right, left = -1, -1 - lr_diff
    found = lrs[left]
    while left >= -len(losses) and abs(grad[right] - grad[left]) > thresh:
        found = lrs[left]
        right, left = right - 1, left - 1
    return float(found) * adjust_value


def lightning_suggestion(lrs, losses, skip_begin=10, skip_end=1) -> float:
    """Lightning `_LRFinder.suggestion`: drop the ends, drop non-finite losses, argmin of d loss / d lr."""
    kept = [(lr, loss) for lr, loss in zip(lrs[skip_begin:-skip_end], losses[skip_begin:-skip_end])
            if math.isfinite(loss)]
    x = np.array([k[0] for k in kept])
    y = np.array([k[1] for k in kept])
    return float(x[int(np.argmin(np.gradient(y, x)))])


def curves(count: int, seed: int = 0):
    """Random range-test-like curves: a noisy descent, a minimum, a climb (some with plateaus and ties)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        n = int(rng.integers(20, 120))
        lrs = 1e-6 * (1e7 ** (np.arange(n) / (n - 1)))
        x = np.linspace(0, 1, n)
        base = 2.0 - 1.5 * x + 4.0 * np.maximum(x - rng.uniform(0.5, 0.9), 0) ** 2
        losses = base + rng.normal(0, rng.choice([0.0, 0.01, 0.1]), n)
        if k % 5 == 0:
            losses = np.round(losses, 1)  # ties
        yield lrs, losses


# -- the sweep --------------------------------------------------------------------------------------------
def test_the_sweep_is_an_lrlab_schedule_from_start_to_end() -> None:
    s = rt.sweep(1e-7, 10.0, 100)
    assert isinstance(s, lrlab.Schedule)
    assert s(0) == 1e-7
    assert s(99) == pytest.approx(10.0, rel=1e-12)
    assert s(50) == 1e-7 * (10.0 / 1e-7) ** (50 / 99)  # torch-lr-finder's ExponentialLR, bit for bit
    ratios = np.diff(np.log(s(np.arange(100))))
    assert np.allclose(ratios, ratios[0])
    lin = rt.sweep(0.1, 1.1, 11, "linear")
    assert [round(lin(t), 12) for t in range(11)] == [round(0.1 + 0.1 * t, 12) for t in range(11)]


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"start_lr": 1.0, "end_lr": 1.0}, "start_lr must be < end_lr, got start_lr=1.0, end_lr=1.0"),
        ({"start_lr": 2.0, "end_lr": 1.0}, "start_lr must be < end_lr"),
        ({"steps": 1}, "steps must be a whole number in [2, 2**53], got 1"),
        ({"start_lr": 0.0}, "start_lr must be a finite number > 0, got 0.0"),
        ({"mode": "cos"}, "mode must be one of 'exp', 'linear', got 'cos'"),
        ({"diverge": 1.0}, "diverge must be a finite number > 1"),
        ({"beta": 1.0}, "beta must be in [0, 1), got 1.0"),
    ],
)
def test_bad_settings_are_value_errors_naming_them(kwargs, names) -> None:
    with pytest.raises(ValueError) as err:
        rt.Settings(**kwargs)
    assert names in str(err.value)


# -- smoothing and stopping -------------------------------------------------------------------------------
def test_smoothing_is_the_bias_corrected_average() -> None:
    # by hand, beta 0.5: avg 0.5*1 = 0.5 -> 0.5/0.5 = 1; avg 0.25+1.5 = 1.75 -> 1.75/0.75; avg 0.875+0.5=1.375 -> /0.875
    got = rt.smooth([1.0, 3.0, 1.0], beta=0.5)
    assert got.tolist() == pytest.approx([1.0, 1.75 / 0.75, 1.375 / 0.875], rel=1e-15)
    assert rt.smooth([2.0] * 50).tolist() == pytest.approx([2.0] * 50, rel=1e-12)  # no bias toward 0


def test_the_tracker_stops_after_the_update_that_diverges() -> None:
    t = rt.Tracker(beta=0.0, diverge=4.0)  # beta 0: the smoothed loss is the loss
    for loss in (3.0, 1.0, 2.0, 3.9):
        assert not t.add(loss)
    assert t.add(4.5)  # 4.5 > 4 * 1.0
    assert t.stopped == "diverged" and t.losses == [3.0, 1.0, 2.0, 3.9, 4.5] and t.smoothed == t.losses
    nan = rt.Tracker(diverge=None)
    assert not nan.add(1e30) and nan.add(float("nan")) and nan.stopped == "not finite"
    assert rt.Tracker().smoothed == []


# -- the rules on hand-computed curves --------------------------------------------------------------------
LRS6 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_valley_by_hand() -> None:
    # the longest decreasing run is 3, 1, 0.5, 0.4 (length 4, ending at index 4): start 4 - 4 = 0,
    # 4 / 3 = 1.33 -> 0 + int(1.33) + int(0.67) = index 1
    assert rt.valley(LRS6, [3, 1, 2, 0.5, 0.4, 5]) == 2.0
    # a straight descent of 100 points: end 99, length 100, start -1: -1 + 33 + 16 = index 48
    lrs = np.arange(100.0) + 1
    assert rt.valley(lrs, -lrs) == 49.0
    assert rt.valley([1.0, 2.0], [2.0, 1.0]) == 2.0  # start -1 + 0 + 0: fastai's index -1, the last
    assert math.isnan(rt.valley([], []))


def test_steep_minimum_by_hand() -> None:
    lrs = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    losses = [2.0, 1.9, 1.0, 0.8, 3.0]  # drops per decade: -0.1, -0.9, -0.2, +2.2
    assert rt.steep(lrs, losses) == 1e-2
    assert rt.minimum(lrs, losses) == pytest.approx(0.1)
    assert rt.minimum(lrs, [1.0, 0.5, 0.5, 2.0, 3.0]) == pytest.approx(1e-3)  # first of ties
    # steep is against log(rate): uneven spacing changes the answer, where the index gradient would not
    assert rt.steep([1.0, 1.1, 100.0], [3.0, 2.9, 1.0]) == 1.0  # -0.1/log(1.1) = -1.05 beats -1.9/log(91) = -0.42


def test_slide_by_hand() -> None:
    lrs = 10.0 ** np.arange(20)
    line = 5.0 - 0.1 * np.arange(20)  # the gradient never changes: the first pair already agrees
    assert rt.slide(lrs, line) == lrs[20 - 1 - 15]
    bowl = 0.01 * np.arange(20) ** 2  # gradients 15 points apart differ by 0.3 > 0.005 everywhere: walk to the left
    assert rt.slide(lrs, bowl) == lrs[0]
    assert math.isnan(rt.slide(lrs[:15], line[:15]))


def test_gradient_by_hand() -> None:
    lrs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    losses = [1.0, 0.9, 0.5, 0.45, 0.44, 0.9]
    # np.gradient: -0.1, -0.25, -0.225, -0.03, 0.225, 0.46 -> index 1
    assert rt.gradient(lrs, losses, skip_start=0, skip_end=0) == 2.0
    assert rt.gradient(lrs, losses, skip_start=2, skip_end=0) == 4.0
    # against the rate itself (Lightning), the uneven spacing moves it: -0.1, -0.133, -0.1375, -0.00875, ...
    assert rt.gradient(lrs, losses, skip_start=0, skip_end=0, spacing="lr") == 4.0
    assert math.isnan(rt.gradient(lrs, losses))  # 10 + 5 skipped leave nothing


# -- the rules against their references, on many curves -----------------------------------------------------
def test_valley_and_slide_equal_fastais_loops() -> None:
    checked = 0
    for lrs, losses in curves(60):
        assert rt.valley(lrs, losses) == fastai_valley(list(lrs), list(losses))
        for kw in ({}, {"lr_diff": 5, "thresh": 0.02}, {"thresh": 0.0, "adjust_value": 0.5}):
            assert rt.slide(lrs, losses, **kw) == fastai_slide(lrs, losses, **kw)
        checked += 1
    assert checked == 60


def test_gradient_with_lr_spacing_equals_lightnings_suggestion() -> None:
    for lrs, losses in curves(40, seed=1):
        losses = losses.copy()
        losses[len(losses) // 2] = np.nan  # Lightning drops non-finite points
        assert rt.gradient(lrs, losses, skip_end=1, spacing="lr") == lightning_suggestion(list(lrs), list(losses))


def test_suggest_uses_each_references_window() -> None:
    n = 100
    lrs = rt.sweep(1e-7, 10.0, n)(np.arange(n))
    rng = np.random.default_rng(3)
    smoothed = rt.smooth(2.0 - np.linspace(0, 1, n) + rng.normal(0, 0.05, n))
    got = rt.suggest(lrs, smoothed, n)
    w = slice(n // 10, n - 5)  # fastai's lr_find: recorder.lrs[num_it//10:-5]
    assert got["valley"] == fastai_valley(list(lrs[w]), list(smoothed[w]))
    assert got["slide"] == fastai_slide(lrs[w], smoothed[w])
    assert got["minimum"] == lrs[w][np.argmin(smoothed[w])] / 10
    assert got["gradient"] == lrs[10:-5][np.argmin(np.gradient(smoothed[10:-5]))]
    # a non-finite point cuts fastai's window there
    cut = smoothed.copy()
    cut[60] = np.inf
    assert rt.suggest(lrs, cut, n)["minimum"] == lrs[10:60][np.argmin(smoothed[10:60])] / 10


def test_results_over_seeds_give_medians_and_spreads() -> None:
    s = rt.Settings(steps=40)
    runs = []
    for seed, scale in enumerate((1.0, 1.3, 0.8)):
        t = rt.Tracker()
        lrs = []
        for i in range(40):
            lrs.append(s.schedule(i))
            if t.add(2.0 - scale * i / 40 + (0.0 if i < 30 + seed else 50.0)):
                break
        runs.append(rt.RangeTest.from_tracker(lrs, t, s, seed=seed))
    found = rt.FindResult(runs)
    assert found.losses.shape == (3, max(len(r.lrs) for r in runs))
    assert np.isnan(found.losses[0, -1]) or len(runs[0].lrs) == found.losses.shape[1]
    for rule in rt.RULES:
        per = found.per_seed[rule]
        assert found.spread[rule] == (min(per), max(per))
        assert found.suggestions[rule] == sorted(per)[1]  # median of 3
    frame = found.to_frame()
    assert list(frame.columns) == ["seed", "step", "lr", "loss", "smoothed"]
    assert len(frame) == sum(len(r.lrs) for r in runs)


def test_the_picture_marks_every_suggestion_and_is_reproducible(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    s = rt.Settings(steps=60)
    runs = []
    for seed in range(3):
        t = rt.Tracker()
        lrs = []
        rng = np.random.default_rng(seed)
        for i in range(60):
            lrs.append(s.schedule(i))
            if t.add(2.0 - i / 60 + rng.normal(0, 0.02) + (0.0 if i < 50 else 10.0 * (i - 49))):
                break
        runs.append(rt.RangeTest.from_tracker(lrs, t, s, seed=seed))
    found = rt.FindResult(runs, label="synthetic")
    fig = found.plot(tmp_path / "a.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "synthetic"
    labels = ax.get_legend_handles_labels()[1]
    for rule in rt.RULES:
        assert f"{rule} {found.suggestions[rule]:.3g}" in labels
    found.plot(tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    single = runs[0].plot(tmp_path / "one.svg")
    assert "loss" in single.axes[0].get_legend_handles_labels()[1]
    with pytest.raises(ValueError, match="must end in"):
        found.plot(tmp_path / "a.jpg")
