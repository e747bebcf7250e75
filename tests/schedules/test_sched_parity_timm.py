"""lrlab's timm-style schedules equal timm's schedulers stepped per update (step_update(t), t_in_epochs=False).

timm computes with Python floats in its own order of operations (lr_min + 0.5 * (lr_max - lr_min) * (1 + cos)),
lrlab in Keras's (peak * ((1 - alpha) * half + alpha)), and `t**k / T**k` as `(t / T)**k`: they differ by
rounding, measured at most 1e-13 relative; asserted with rtol=1e-12. timm's scheduler modules are loaded
without timm's package __init__ (see timm_ref).
"""

from __future__ import annotations

import numpy as np
import pytest
from sched_testutil import assert_matches
from timm_ref import scheduler_module, timm_lrs

import lrlab

RTOL = 1e-12


def check(ours, ref, what):
    steps = list(range(len(ref)))
    assert_matches(ours(np.arange(len(ref))), ref, steps, rtol=RTOL, what=what + " (array)")
    assert_matches([ours(t) for t in steps], ref, steps, rtol=RTOL, what=what + " (scalar)")


@pytest.mark.parametrize(
    ("t_initial", "lr_min", "k"), [(100, 0.0, 1.0), (100, 0.0, 2.0), (50, 0.001, 0.5), (37, 0.01, 3.0), (1, 0.0, 2.0)]
)
def test_cosine_k_decay(t_initial, lr_min, k):
    cosine_lr = scheduler_module("cosine_lr")
    ref = timm_lrs(
        lambda o: cosine_lr.CosineLRScheduler(o, t_initial, lr_min=lr_min, k_decay=k, t_in_epochs=False),
        t_initial + 20,
    )
    ours = lrlab.cosine(0.1, t_initial, alpha=lr_min / 0.1, k_decay=k)
    check(ours, ref, f"CosineLRScheduler k_decay={k}")


def test_k_decay_bends_the_curve_by_hand():
    s = lrlab.cosine(1.0, 10, k_decay=2.0)
    assert s(5) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.25)), rel=1e-15)  # (5/10)**2 = 0.25
    assert s(0) == 1.0 and s(10) == 0.0 and s(20) == 0.0
    assert repr(s) == "cosine(1.0, decay_steps=10, k_decay=2.0)"
    assert lrlab.parse(repr(s)) == s and lrlab.from_config(s.to_config()) == s


def test_warmup_of_cosine_equals_timm_warmup_prefix():
    """timm's warmup_prefix=True (ramp from warmup_lr_init to the base rate, then the cosine from its start)
    is lrlab's warmup(cosine(...), warmup_t, start_lr=warmup_lr_init)."""
    cosine_lr = scheduler_module("cosine_lr")
    ref = timm_lrs(
        lambda o: cosine_lr.CosineLRScheduler(
            o, 60, lr_min=0.001, warmup_t=10, warmup_lr_init=0.01, warmup_prefix=True, k_decay=1.5, t_in_epochs=False
        ),
        90,
    )
    ours = lrlab.warmup(lrlab.cosine(0.1, 60, alpha=0.01, k_decay=1.5), 10, start_lr=0.01)
    check(ours, ref, "CosineLRScheduler warmup_prefix")


@pytest.mark.parametrize(
    ("t_initial", "lb", "ub", "lr_min"), [(100, -7.0, 3.0, 0.0), (40, -5.0, 1.0, 0.001), (1, -7.0, 3.0, 0.0),
                                          (73, -2.0, 2.0, 0.01)]
)  # fmt: skip
def test_tanh_decay(t_initial, lb, ub, lr_min):
    tanh_lr = scheduler_module("tanh_lr")
    ref = timm_lrs(
        lambda o: tanh_lr.TanhLRScheduler(o, t_initial, lb=lb, ub=ub, lr_min=lr_min, t_in_epochs=False),
        t_initial + 20,
    )
    ours = lrlab.tanh_decay(0.1, t_initial, lb=lb, ub=ub, end_lr=lr_min)
    check(ours, ref, f"TanhLRScheduler {t_initial} {lb} {ub} {lr_min}")


def test_tanh_decay_by_hand():
    s = lrlab.tanh_decay(1.0, 10, lb=-1.0, ub=1.0)
    assert s(5) == pytest.approx(0.5, rel=1e-15)  # tanh(0) = 0
    assert s(0) == pytest.approx(0.5 * (1 - np.tanh(-1.0)), rel=1e-15)
    assert s(9) == pytest.approx(0.5 * (1 - np.tanh(0.8)), rel=1e-15)
    assert s(10) == 0.0 and s(10**6) == 0.0
    assert 0 <= lrlab.tanh_decay(0.1, 10, ub=1e6)(5) < 1e-300  # exp capped: no overflow, no NaN
    with pytest.raises(ValueError, match=r"ub must be a finite number > lb \(-7.0\), got -8"):
        lrlab.tanh_decay(0.1, 10, ub=-8)


def test_warmup_of_tanh_decay_equals_timm_warmup_prefix():
    tanh_lr = scheduler_module("tanh_lr")
    ref = timm_lrs(
        lambda o: tanh_lr.TanhLRScheduler(
            o, 50, lr_min=0.001, warmup_t=8, warmup_lr_init=0.0, warmup_prefix=True, t_in_epochs=False
        ),
        70,
    )
    ours = lrlab.warmup(lrlab.tanh_decay(0.1, 50, end_lr=0.001), 8)
    # timm ramps to the base rate, lrlab to the schedule's first value, lower by (1 - tanh(lb)) / 2 ~ 8e-7
    steps = list(range(70))
    assert_matches(ours(np.arange(70))[8:], ref[8:], steps[8:], rtol=RTOL, what="after the warmup")
    assert_matches(ours(np.arange(8)), ref[:8], steps[:8], rtol=1e-6, what="the warmup")


NOISE = [
    ({"noise_range_t": 5}, "normal"),
    ({"noise_range_t": [10, 40], "noise_pct": 0.2, "noise_std": 0.5, "noise_seed": 7}, "normal"),
    ({"noise_range_t": [0, 60], "noise_pct": 0.05, "noise_std": 2.0, "noise_seed": 2**32 + 3}, "normal"),
    ({"noise_range_t": [3, 50], "noise_pct": 0.5, "noise_seed": 0}, "uniform"),
    ({"noise_range_t": 0, "noise_pct": 1.0, "noise_seed": 123}, "uniform"),
]


@pytest.mark.parametrize(("kwargs", "noise_type"), NOISE)
def test_noise_is_timms_bit_for_bit(kwargs, noise_type):
    """On a flat rate (lr_min = the base rate) timm's values are exactly lr + lr * noise: lrlab's are the same
    floats, drawn without torch."""
    cosine_lr = scheduler_module("cosine_lr")
    ref = timm_lrs(
        lambda o: cosine_lr.CosineLRScheduler(o, 1000, lr_min=0.1, t_in_epochs=False, **kwargs), 60, base_lr=0.1
    )
    if noise_type == "uniform":  # CosineLRScheduler has no noise_type: set it as timm's Scheduler reads it
        ref = timm_lrs(
            lambda o: _with_noise_type(
                cosine_lr.CosineLRScheduler(o, 1000, lr_min=0.1, t_in_epochs=False, **kwargs)
            ),
            60,
        )
    ours = lrlab.noise(lrlab.constant(0.1), noise_type=noise_type, **kwargs)
    steps = list(range(60))
    assert_matches(ours(np.arange(60)), ref, steps, rtol=0.0, what="noise (array)")
    assert_matches([ours(t) for t in steps], ref, steps, rtol=0.0, what="noise (scalar)")
    r = kwargs["noise_range_t"]
    inside = [t for t in steps if (r[0] <= t < r[1] if isinstance(r, list) else t >= r)]
    assert [t for t in steps if ref[t] != 0.1] == inside  # noise on exactly timm's range


def _with_noise_type(scheduler):
    scheduler.noise_type = "uniform"
    return scheduler


def test_noise_around_timm_schedules():
    tanh_lr = scheduler_module("tanh_lr")
    cosine_lr = scheduler_module("cosine_lr")
    kwargs = {"noise_range_t": [20, 90], "noise_pct": 0.3, "noise_std": 0.7, "noise_seed": 11}
    ref = timm_lrs(lambda o: tanh_lr.TanhLRScheduler(o, 100, lr_min=0.001, t_in_epochs=False, **kwargs), 110)
    check(lrlab.noise(lrlab.tanh_decay(0.1, 100, end_lr=0.001), **kwargs), ref, "TanhLRScheduler with noise")
    ref = timm_lrs(lambda o: cosine_lr.CosineLRScheduler(o, 100, k_decay=2.0, t_in_epochs=False, **kwargs), 110)
    check(lrlab.noise(lrlab.cosine(0.1, 100, k_decay=2.0), **kwargs), ref, "CosineLRScheduler with noise")


def test_noise_per_epoch_is_timms_t_in_epochs():
    """timm's default counts t in epochs (step(epoch) once an epoch): per_epoch(noise(...), steps_per_epoch)."""
    import torch

    cosine_lr = scheduler_module("cosine_lr")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = cosine_lr.CosineLRScheduler(optimizer, 30, noise_range_t=5, noise_seed=1)
    ours = lrlab.per_epoch(lrlab.noise(lrlab.cosine(0.1, 30), 5, noise_seed=1), 7)
    for epoch in range(40):
        scheduler.step(epoch)
        lr = optimizer.param_groups[0]["lr"]
        for t in range(epoch * 7, epoch * 7 + 7):
            assert ours(t) == pytest.approx(lr, rel=RTOL), (epoch, t)


def test_noise_rules():
    base = lrlab.cosine(0.1, 200)
    s = lrlab.noise(base, [50, 150], noise_pct=0.1, noise_std=1.0, noise_seed=5)
    steps = np.arange(220)
    values, plain = s(steps), base(steps)
    inside = (steps >= 50) & (steps < 150)
    assert (values[~inside] == plain[~inside]).all()
    ratio = values[inside] / plain[inside] - 1
    assert (np.abs(ratio) < 0.1 + 1e-12).all() and (ratio != 0).all()
    assert s(77) == lrlab.parse(repr(s))(77) == s(np.array([77]))[0]  # the same per (seed, step)
    assert lrlab.noise(base, [50, 150], noise_pct=0.1, noise_seed=6)(77) != s(77)
    assert s.host_only and s.events(300) == base.events(300)
    with pytest.raises(ValueError, match="noise_pct"):
        lrlab.noise(base, 5, noise_pct=1.5)
    with pytest.raises(ValueError, match="noise_pct"):
        lrlab.noise(base, 5, noise_pct=0.001, noise_std=1.0)
    with pytest.raises(ValueError, match="noise_range_t"):
        lrlab.noise(base, [5, 3])
    with pytest.raises(ValueError, match="noise_range_t"):
        lrlab.noise(base, [1, 2, 3])
    with pytest.raises(ValueError, match="noise_type"):
        lrlab.noise(base, 5, noise_type="cauchy")


def test_noise_needs_no_torch():
    """The noise draws are numpy's MT19937, not torch's generator: they work with torch not importable."""
    import json
    import subprocess
    import sys

    code = (
        "import importlib.abc, json, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, lrlab\n"
        "s = lrlab.parse('noise(cosine(0.1, 40), 3, noise_seed=9)')\n"
        "print(json.dumps([s(np.arange(50)).tolist(), s(17), 'torch' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    values, at_17, torch_loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    s = lrlab.noise(lrlab.cosine(0.1, 40), 3, noise_seed=9)
    assert values == s(np.arange(50)).tolist() and at_17 == s(17) and not torch_loaded
