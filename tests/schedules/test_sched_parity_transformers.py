"""inverse_sqrt and wsd equal transformers' get_inverse_sqrt_schedule and get_wsd_schedule (LambdaLR on torch).

transformers' WSD warmup starts at min_lr_ratio * peak, not at 0, and lrlab's wsd does the same. lrlab
takes end_lr where transformers takes min_lr_ratio = end_lr / peak_lr, so values may differ in the last
bit: asserted with rtol=1e-15.
"""

from __future__ import annotations

import pytest
from sched_testutil import assert_matches, torch_lrs

import lrlab

RTOL = 1e-15


def check(ours, ref, what):
    steps = list(range(len(ref)))
    import numpy as np

    assert_matches([ours(t) for t in steps], ref, steps, rtol=RTOL, what=what + " (scalar)")
    assert_matches(ours(np.arange(len(ref))), ref, steps, rtol=RTOL, what=what + " (array)")


@pytest.mark.parametrize(("warmup", "timescale"), [(10, None), (0, None), (100, 50), (1, 3), (0, 7)])
def test_inverse_sqrt(warmup, timescale):
    from transformers.optimization import get_inverse_sqrt_schedule

    ref = torch_lrs(lambda o: get_inverse_sqrt_schedule(o, warmup, timescale), 0.1, 300)
    check(lrlab.inverse_sqrt(0.1, warmup, timescale), ref, f"inverse_sqrt({warmup}, {timescale})")


@pytest.mark.parametrize("decay", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize(
    ("total", "warmup", "decay_steps", "ratio"),
    [(100, 10, 20, 0.0), (100, 10, 20, 0.1), (50, 0, 50, 0.25), (60, 60, 0, 0.0), (40, 5, 1, 0.5), (30, 0, 0, 0.0)],
)
def test_wsd(decay, total, warmup, decay_steps, ratio):
    from transformers.optimization import get_wsd_schedule

    peak = 0.1

    def make(optimizer):
        return get_wsd_schedule(
            optimizer, warmup, decay_steps, num_training_steps=total, decay_type=decay, min_lr_ratio=ratio
        )

    ref = torch_lrs(make, peak, total + 15)
    ours = lrlab.wsd(peak, total, warmup, decay_steps, end_lr=peak * ratio, decay=decay)
    check(ours, ref, f"wsd({total}, {warmup}, {decay_steps}, {ratio}, {decay})")
