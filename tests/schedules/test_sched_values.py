"""Values worked out by hand: the seeds' schedules, restart peaks, the host-only kinds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sched_testutil import seed_decay

import lrlab


def test_first_seed_decay_by_hand():
    """Seed 1 trains 20 steps at 0.025, 0.025/2, 0.025/3, 0.025/4, five steps each."""
    lr = 0.025
    expected = [lr] * 5 + [lr / 2] * 5 + [lr / 3] * 5 + [lr / 4] * 5
    s = lrlab.piecewise([4, 9, 14], [0.025, 0.0125, 0.025 / 3, 0.00625])
    assert [s(t) for t in range(20)] == expected
    assert list(s(np.arange(20))) == expected
    assert s(10_000) == lr / 4
    assert [lrlab.custom(seed_decay)(t) for t in range(20)] == expected


def test_second_seed_keras_examples_by_hand():
    exp = lrlab.exponential(0.1, 5, 0.95, staircase=True)
    assert [exp(t) for t in (0, 4, 5, 9, 10)] == [0.1, 0.1, 0.1 * 0.95, 0.1 * 0.95, 0.1 * 0.95**2]
    piece = lrlab.piecewise([125, 250, 375], [0.1, 0.075, 0.05, 0.025])
    assert [piece(t) for t in (0, 125, 126, 250, 251, 375, 376)] == [0.1, 0.1, 0.075, 0.075, 0.05, 0.05, 0.025]
    poly = lrlab.polynomial(0.1, 100, end_lr=0.001, power=1.0, cycle=True)
    assert poly(0) == 0.1 and poly(50) == pytest.approx(0.0505, rel=1e-15) and poly(100) == pytest.approx(0.001)
    # cycle: the second descent runs over 200 steps from the same start, so it is higher at the same step
    assert poly(101) == pytest.approx(0.099 * (1 - 101 / 200) + 0.001, rel=1e-15)
    inv = lrlab.inverse_time(0.1, 50, 0.1, staircase=True)
    assert [inv(t) for t in (0, 49, 50, 100)] == [0.1, 0.1, 0.1 / 1.1, 0.1 / 1.2]
    cos = lrlab.cosine(0.1, 500)
    assert cos(0) == 0.1 and cos(250) == pytest.approx(0.05, rel=1e-15) and cos(500) == 0.0 and cos(900) == 0.0
    sgdr = lrlab.cosine_restarts(0.1, 10, t_mul=2.0, m_mul=0.9)
    assert [sgdr(t) for t in (0, 10, 30, 70, 150)] == pytest.approx([0.1, 0.09, 0.081, 0.0729, 0.06561], rel=1e-15)
    assert sgdr(5) == pytest.approx(0.05, rel=1e-15) and sgdr(20) == pytest.approx(0.045, rel=1e-15)


def test_third_seed_formulas_by_hand():
    lr = 0.1
    for epoch in range(0, 40):
        # lr * drop ** floor(epoch / step_size) (StepLR's reading of the seed's step decay)
        assert lrlab.step_decay(lr, 0.5, 10)(epoch) == lr * 0.5 ** math.floor(epoch / 10)
        # lr * e^(-k t)
        assert lrlab.exponential(lr, 1, math.exp(-0.1))(epoch) == pytest.approx(lr * math.exp(-0.1 * epoch), rel=1e-13)
        # lr / (1 + decay * t)
        assert lrlab.inverse_time(lr, 1, 0.5)(epoch) == lr / (1 + 0.5 * epoch)
        # lr * (1 - t / max_t) ** power, held at 0 after max_t
        expected = lr * (1 - min(epoch, 30) / 30) ** 2
        assert lrlab.polynomial(lr, 30, end_lr=0.0, power=2.0)(epoch) == pytest.approx(expected, rel=1e-14, abs=1e-18)
    staircase = lrlab.exponential(0.1, 1000, 0.96, staircase=True)
    assert staircase(1875) == 0.1 * 0.96  # the seed's first epoch of 1875 batches logs lr 0.0960


def test_fourth_seed_epoch_schedule_by_hand():
    """0.001 for 10 epochs, then 0.001 * exp(0.1 * (10 - epoch)), one epoch = 7 steps."""
    tail = lrlab.exponential(0.001, 1, math.exp(-0.1))
    s = lrlab.per_epoch(lrlab.join([lrlab.constant(0.001), tail], [10]), 7)
    for epoch in range(30):
        expected = 0.001 if epoch < 10 else 0.001 * math.exp(0.1 * (10 - epoch))
        for step in range(epoch * 7, epoch * 7 + 7):
            assert s(step) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(
    ("first", "t_mul"), [(1, 3.0), (1, 10.0), (16, 1.5), (16, 1.25), (10, 2.0), (3, 2.0), (5, 1.0)]
)
def test_restart_steps_start_a_new_period_at_its_peak(first, t_mul):
    """At each restart the rate is the new peak initial_lr * m_mul ** k, even where log() rounds the period
    index down (numpy gives floor(log(121/1 * 2 + 1) / log(3)) = 4, not 5, at step 121 for (1, 3.0))."""
    s = lrlab.cosine_restarts(0.2, first, t_mul=t_mul, m_mul=0.5, alpha=0.1)
    start, length, k = 0.0, float(first), 0
    while start < 5000:
        if start == int(start):
            peak = 0.2 * ((1 - 0.1) * 0.5**k + 0.1)
            assert s(int(start)) == pytest.approx(peak, rel=1e-12), (k, start)
            assert s(np.array([int(start)]))[0] == s(int(start))
            if start and length / t_mul >= 2 and k < 20:  # the step before ends the previous period, low
                assert s(int(start) - 1) < s(int(start))
        start, length, k = start + length, length * t_mul, k + 1


def test_random_uniform_is_deterministic_bounded_and_seeded():
    a = lrlab.random_uniform(0.001, 0.1, seed=3)
    steps = np.arange(20_000)
    values = a(steps)
    assert ((values >= 0.001) & (values < 0.1)).all()
    assert np.array_equal(values, lrlab.random_uniform(0.001, 0.1, seed=3)(steps))
    assert [a(t) for t in range(200)] == list(values[:200])
    assert np.array_equal(lrlab.parse(repr(a))(steps), values)
    others = lrlab.random_uniform(0.001, 0.1, seed=4)(steps)
    assert (others != values).mean() > 0.999
    # roughly uniform: each tenth of the range holds about a tenth of the draws
    counts = np.histogram(values, bins=10, range=(0.001, 0.1))[0]
    assert (abs(counts - 2000) < 200).all(), counts
    assert len(set(values.tolist())) > 19_990
    assert lrlab.random_uniform(0.05, 0.05)(12) == 0.05
    # beyond 2**53 a scalar step, the same step in an array and as a float draw the same value
    assert a(2**60) == a(np.array([2**60]))[0] == a(float(2**60))


def test_custom_with_a_registered_function_round_trips():
    s = lrlab.custom(seed_decay)
    assert s.fn == "sched_testutil:seed_decay"
    assert lrlab.parse(repr(s)) == s == lrlab.custom("sched_testutil:seed_decay")
    assert lrlab.from_config(s.to_config()) == s
    assert s.host_only and lrlab.warmup(s, 3).host_only and not lrlab.cosine(0.1, 10).host_only
    assert np.array_equal(s(np.arange(30)), [seed_decay(t) for t in range(30)])


def test_custom_with_a_lambda_works_but_cannot_be_saved():
    s = lrlab.custom(lambda t: 0.1 / (1 + t))
    assert s(9) == 0.01
    with pytest.raises(ValueError, match="cannot be saved"):
        s.to_config()


def test_stretch_binds_left_out_lengths():
    s = lrlab.parse("warmup(cosine(0.1), 10)")
    assert not s.is_bound
    with pytest.raises(ValueError, match="stretch"):
        s(5)
    bound = s.stretch(110)
    assert bound == lrlab.warmup(lrlab.cosine(0.1, 100), 10)
    assert bound(110) == 0.0 and bound(10) == 0.1
    assert lrlab.one_cycle(0.1).stretch(50) == lrlab.one_cycle(0.1, 50)
    assert lrlab.cosine(0.1, 30).stretch(50) == lrlab.cosine(0.1, 30)


def test_clip_scale_and_equality():
    s = lrlab.cosine(0.1, 100)
    assert (s * 2)(0) == 0.2 and (2 * s)(0) == 0.2
    c = s.clip(0.01, 0.05)
    assert c(0) == 0.05 and c(100) == 0.01
    assert lrlab.cosine(0.1, 100) == lrlab.cosine(0.1, 100.0) == lrlab.parse("cosine(0.1, decay_steps=100)")
    assert lrlab.cosine(0.1, 100) != lrlab.cosine(0.1, 101)
    assert len({lrlab.cosine(0.1, 100), lrlab.cosine(0.1, 100), lrlab.constant(0.1)}) == 2
    with pytest.raises(AttributeError):
        s.initial_lr = 0.2
