"""lrlab's schedules equal PyTorch's LR schedulers stepped once per optimizer step.

The value lrlab gives for step t is the lr the optimizer uses for its (t+1)-th update: we read
`param_groups[0]["lr"]` (and check `get_last_lr()`), then `optimizer.step()`, then `scheduler.step()`.
Schedulers that torch computes in closed form (MultiStepLR, CyclicLR, OneCycleLR) and StepLR at power 1
agree exactly or to the last bit; the chainable ones (StepLR, CosineAnnealingLR, PolynomialLR, LinearLR)
update the rate recursively, and CosineAnnealingWarmRestarts arranges eta_min differently, so they differ by
rounding: measured at most 5e-14 relative, asserted with rtol=1e-12.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sched_testutil import assert_matches, torch_lrs
from torch.optim import lr_scheduler as sched

import lrlab

RTOL_RECURSIVE = 1e-12


def check(ours, ref, rtol, what):
    steps = list(range(len(ref)))
    assert_matches([ours(t) for t in steps], ref, steps, rtol=rtol, what=what + " (scalar)")
    assert_matches(ours(np.arange(len(ref))), ref, steps, rtol=rtol, what=what + " (array)")


@pytest.mark.parametrize(
    ("lr", "gamma", "step_size", "n"), [(0.1, 0.5, 30, 200), (1.0, 0.9, 1, 300), (0.3, 0.1, 7, 60)]
)
def test_step_lr(lr, gamma, step_size, n):
    ref = torch_lrs(lambda o: sched.StepLR(o, step_size, gamma), lr, n)
    check(lrlab.step_decay(lr, gamma, step_size), ref, RTOL_RECURSIVE, "StepLR")


@pytest.mark.parametrize(("milestones", "gamma"), [([30, 80], 0.1), ([5, 5, 10], 0.5), ([0, 3], 0.5), ([1], 2.0)])
def test_multistep_lr(milestones, gamma):
    ref = torch_lrs(lambda o: sched.MultiStepLR(o, milestones, gamma), 0.1, 120)
    check(lrlab.multistep(0.1, milestones, gamma), ref, 0.0, "MultiStepLR")


@pytest.mark.parametrize(
    ("mode", "gamma", "up", "down"),
    [
        (mode, gamma, up, down)
        for (mode, gamma), (up, down) in itertools.product(
            [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.99), ("exp_range", 0.9)],
            [(10, None), (10, 5), (4, 6), (1, 1)],
        )
    ],
)
def test_cyclic_lr(mode, gamma, up, down):
    ref = torch_lrs(lambda o: sched.CyclicLR(o, 0.001, 0.1, up, down, mode, gamma), 0.1, 150, momentum=0.9)
    check(lrlab.cyclic(0.001, 0.1, up, down, mode, gamma), ref, 0.0, f"CyclicLR {mode} {up} {down}")


ONE_CYCLE = [
    (anneal, three_phase, total, pct)
    for anneal, three_phase in itertools.product(["cos", "linear"], [False, True])
    for total, pct in [(100, 0.3), (37, 0.25), (2, 0.3), (3, 0.3), (10, 0.05)]
]


def make_one_cycle(anneal, three_phase, total, pct):
    def make(optimizer):
        return sched.OneCycleLR(
            optimizer, 0.1, total_steps=total, pct_start=pct, anneal_strategy=anneal,
            three_phase=three_phase, div_factor=25.0, final_div_factor=1e4, cycle_momentum=False,
        )  # fmt: skip

    return make


@pytest.mark.parametrize(("anneal", "three_phase", "total", "pct"), ONE_CYCLE)
def test_one_cycle_lr(anneal, three_phase, total, pct):
    ref = torch_lrs(make_one_cycle(anneal, three_phase, total, pct), 0.1, total)
    ours = lrlab.one_cycle(0.1, total, pct, anneal=anneal, three_phase=three_phase)
    check(ours, ref, 0.0, f"OneCycleLR {anneal} three_phase={three_phase} {total} {pct}")


@pytest.mark.parametrize(("anneal", "three_phase"), [("cos", False), ("linear", False), ("linear", True)])
def test_one_cycle_past_the_end(anneal, three_phase):
    """torch overshoots below its floor at step total_steps (negative for linear) and raises after it;
    lrlab holds the floor max_lr / div_factor / final_div_factor from the last step on."""
    total = 50
    make = make_one_cycle(anneal, three_phase, total, 0.3)
    ref = torch_lrs(make, 0.1, total + 1)
    ours = lrlab.one_cycle(0.1, total, 0.3, anneal=anneal, three_phase=three_phase)
    floor = 0.1 / 25.0 / 1e4
    assert ref[total - 1] == ours(total - 1) == pytest.approx(floor, rel=1e-15)
    if anneal == "linear":
        assert ref[total] < 0
    else:
        assert ref[total] != ref[total - 1]
    assert [ours(t) for t in (total, total + 1, 10 * total)] == [ours(total - 1)] * 3
    assert (ours(np.arange(total - 1, 5 * total)) == ours(total - 1)).all()
    with pytest.raises(ValueError, match="Tried to step"):
        torch_lrs(make, 0.1, total + 2)


@pytest.mark.parametrize(("t_max", "eta_min"), [(50, 0.0), (30, 0.001), (1, 0.0), (200, 0.0)])
def test_cosine_annealing_lr(t_max, eta_min):
    ref = torch_lrs(lambda o: sched.CosineAnnealingLR(o, t_max, eta_min), 0.1, t_max + 1)
    check(lrlab.cosine(0.1, t_max, alpha=eta_min / 0.1), ref, RTOL_RECURSIVE, "CosineAnnealingLR")


def test_cosine_annealing_rises_after_t_max_but_lrlab_holds():
    t_max, eta_min = 20, 0.001
    ref = torch_lrs(lambda o: sched.CosineAnnealingLR(o, t_max, eta_min), 0.1, 2 * t_max + 1)
    ours = lrlab.cosine(0.1, t_max, alpha=eta_min / 0.1)
    assert ref[2 * t_max] == pytest.approx(0.1, rel=1e-9)  # torch: back up to the base rate
    after = ours(np.arange(t_max, 2 * t_max + 1))
    assert np.allclose(after, eta_min, rtol=1e-15, atol=0)
    assert (np.diff(ours(np.arange(0, 3 * t_max))) <= 0).all()


@pytest.mark.parametrize(
    ("t_0", "t_mult", "eta_min"), [(10, 1, 0.0), (10, 2, 0.001), (5, 3, 0.0), (1, 2, 0.0), (3, 1, 0.01)]
)
def test_cosine_annealing_warm_restarts(t_0, t_mult, eta_min):
    ref = torch_lrs(lambda o: sched.CosineAnnealingWarmRestarts(o, t_0, t_mult, eta_min), 0.1, 400)
    ours = lrlab.cosine_restarts(0.1, t_0, t_mul=t_mult, alpha=eta_min / 0.1)
    check(ours, ref, RTOL_RECURSIVE, f"CosineAnnealingWarmRestarts {t_0} {t_mult} {eta_min}")


@pytest.mark.parametrize(("total", "power"), [(50, 1.0), (20, 2.0), (30, 0.5), (1, 1.0)])
def test_polynomial_lr(total, power):
    ref = torch_lrs(lambda o: sched.PolynomialLR(o, total, power), 0.1, total + 20)
    check(lrlab.polynomial(0.1, total, end_lr=0.0, power=power), ref, RTOL_RECURSIVE, "PolynomialLR")


@pytest.mark.parametrize(("start", "end", "total"), [(0.1, 1.0, 10), (1.0, 0.0, 20), (0.5, 0.25, 7), (1 / 3, 1.0, 5)])
def test_linear_lr(start, end, total):
    ref = torch_lrs(lambda o: sched.LinearLR(o, start, end, total), 0.1, total + 10)
    check(lrlab.linear(0.1 * start, 0.1 * end, total), ref, RTOL_RECURSIVE, "LinearLR")
