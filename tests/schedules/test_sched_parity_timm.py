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
