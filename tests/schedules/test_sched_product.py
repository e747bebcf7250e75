"""Products of schedules (`s1 * s2`) equal torch's ChainedScheduler of schedulers that multiply the rate,
and hand-computed values; their specs and configs read back."""

from __future__ import annotations

import numpy as np
import pytest
from sched_testutil import assert_matches, torch_lrs
from torch.optim import lr_scheduler as sched

import lrlab

RTOL_RECURSIVE = 1e-12  # torch's chainable schedulers update recursively: rounding only


def check(ours, ref, rtol, what):
    steps = list(range(len(ref)))
    assert_matches(ours(np.arange(len(ref))), ref, steps, rtol=rtol, what=what + " (array)")
    assert_matches([ours(t) for t in steps], ref, steps, rtol=rtol, what=what + " (scalar)")


@pytest.mark.parametrize(("t_max", "step_size", "gamma"), [(1000, 300, 0.5), (200, 7, 0.9), (50, 1, 0.99)])
def test_cosine_annealing_times_step_lr(t_max, step_size, gamma):
    """CosineAnnealingLR (eta_min=0) chained with StepLR, up to T_max (after it torch's cosine adds rather
    than multiplies: not a product)."""
    ref = torch_lrs(
        lambda o: sched.ChainedScheduler([sched.CosineAnnealingLR(o, t_max), sched.StepLR(o, step_size, gamma)]),
        0.1,
        t_max + 1,
    )
    ours = lrlab.cosine(0.1, decay_steps=t_max) * lrlab.step_decay(1.0, drop=gamma, step_size=step_size)
    check(ours, ref, RTOL_RECURSIVE, "CosineAnnealingLR * StepLR")


def test_three_chained_schedulers():
    ref = torch_lrs(
        lambda o: sched.ChainedScheduler(
            [sched.ExponentialLR(o, 0.99), sched.MultiStepLR(o, [30, 60], 0.5), sched.StepLR(o, 25, 0.8)]
        ),
        0.1,
        120,
    )
    ours = lrlab.exponential(0.1, 1, 0.99) * lrlab.multistep(1.0, [30, 60], 0.5) * lrlab.step_decay(1.0, 0.8, 25)
    check(ours, ref, RTOL_RECURSIVE, "ExponentialLR * MultiStepLR * StepLR")


def test_product_by_hand():
    s = lrlab.cosine(0.1, decay_steps=1000) * lrlab.step_decay(1.0, drop=0.5, step_size=300)
    assert s(0) == 0.1
    assert s(300) == lrlab.cosine(0.1, 1000)(300) * 0.5
    assert s(500) == pytest.approx(0.05 * 0.5, rel=1e-15)  # cos(pi / 2) = 0; one drop
    assert s(1000) == 0.0
    assert (s(np.arange(2000)) == np.array([s(t) for t in range(2000)])).all()
    zero_times_inf = lrlab.constant(0.0) * lrlab.step_decay(1.0, drop=1e300, step_size=1)
    assert zero_times_inf(5) == 0.0 and (zero_times_inf(np.arange(10)) == 0.0).all()


def test_product_specs_and_configs():
    a, b, c = lrlab.cosine(0.1, 100), lrlab.step_decay(1.0, 0.5, 30), lrlab.constant(2.0)
    assert repr(a * b) == "cosine(0.1, decay_steps=100) * step_decay(1.0, drop=0.5, step_size=30)"
    assert (a * b) * c == a * (b * c) == lrlab.product([a, b, c])  # flattened
    assert lrlab.parse(repr(a * b * c)) == lrlab.product([a, b, c])
    assert repr(a * (b * 0.5)) == f"{a!r} * ({b!r} * 0.5)"
    for s in (a * b, a * (b * 0.5), (a * b) * 0.5, 2 * a * b, (a * b).clip(0.01), lrlab.warmup(a * b, 10)):
        assert lrlab.parse(repr(s)) == s, repr(s)
        assert lrlab.from_config(s.to_config()) == s
    assert lrlab.parse("cosine(0.1, 100) * (step_decay(1.0, 0.5, 30) * constant(2.0))") == lrlab.product([a, b, c])
    assert (a * b).events(100) == [(100, "phase end"), (30, "boundary"), (60, "boundary"), (90, "boundary")]
    assert (lrlab.cosine(0.1) * b).stretch(50) == lrlab.cosine(0.1, 50) * b
    assert (a * lrlab.random_uniform(0.5, 1.0)).host_only
    with pytest.raises(ValueError, match="product: schedules must be a list of at least two schedules"):
        lrlab.product([a])
    with pytest.raises(ValueError, match="product: schedules must be a schedule"):
        lrlab.product([a, 0.5])
