"""Properties every schedule has, checked with hypothesis over every kind and their compositions:
round trips through repr/parse and JSON config, value equality and hashing, identical scalar and array
values, sane values, and ValueError as the only error."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_strategies import may_grow, schedules

import lrlab

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_STEPS = np.arange(10_001)


@SETTINGS
@given(schedules)
def test_repr_parses_back_to_an_equal_schedule(s):
    again = lrlab.parse(repr(s))
    assert again == s
    assert hash(again) == hash(s)
    assert repr(again) == repr(s)


@SETTINGS
@given(schedules)
def test_config_round_trips_through_json(s):
    config = s.to_config()
    text = json.dumps(config, allow_nan=False)
    again = lrlab.from_config(json.loads(text))
    assert again == s and hash(again) == hash(s)
    assert lrlab.from_config(text) == s


def overflow_step(s, steps):
    """The step a schedule's ValueError says its rate overflows at, over these steps; None when it does not."""
    try:
        s(np.asarray(steps))
    except ValueError as exc:
        match = re.search(r"overflows at step (\d+)", str(exc))
        assert match, str(exc)
        return int(match.group(1))
    return None


@SETTINGS
@given(schedules, st.lists(st.integers(0, 50_000), min_size=1, max_size=40))
def test_scalar_and_array_values_are_identical(s, extra):
    steps = sorted(set(extra) | {0, 1, 2, 9_999, 10_000})
    first = overflow_step(s, steps)
    if first is not None:  # a growing rate: a ValueError from the step it overflows on, on both paths
        with pytest.raises(ValueError, match=f"overflows at step {first}"):
            s(first)
        steps = [t for t in steps if t < first]
    array = s(np.array(steps))
    assert isinstance(array, np.ndarray) and array.dtype == np.float64 and array.shape == (len(steps),)
    for t, expected in zip(steps, array):
        value = s(t)
        assert type(value) is float
        assert value == expected or (math.isnan(value) and math.isnan(expected)), (t, value, expected)
        assert s(np.int64(t)) == value and s(float(t)) == value


@SETTINGS
@given(schedules)
def test_values_are_non_negative_and_finite_unless_growth_was_asked(s):
    first = overflow_step(s, ALL_STEPS)
    if first is not None:
        assert may_grow(s), f"{s!r} overflows at step {first}"
        return
    values = s(ALL_STEPS)
    assert not np.isnan(values).any(), f"NaN at step {int(np.argmax(np.isnan(values)))}"
    assert (values >= 0).all(), f"negative at step {int(np.argmax(values < 0))}"
    if not may_grow(s):
        assert np.isfinite(values).all(), f"inf at step {int(np.argmax(~np.isfinite(values)))}"
    assert s(np.array([], dtype=np.int64)).shape == (0,)
    assert s(ALL_STEPS[:10_000].reshape(100, 100)).shape == (100, 100)


@SETTINGS
@given(schedules, st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-300), st.just(float("nan"))))
def test_negative_or_nan_steps_raise_value_error(s, step):
    with pytest.raises(ValueError, match="step"):
        s(step)
    with pytest.raises(ValueError, match="step"):
        s(np.array([0.0, step]))


@pytest.mark.parametrize(
    "step", [float("inf"), "3", b"3", None, True, [1, "a"], ["1"], 1j, object(), np.array([1.0, np.inf])]
)
def test_steps_that_are_not_steps_raise_value_error(step):
    for s in (lrlab.cosine(0.1, 100), lrlab.random_uniform(0.0, 1.0), lrlab.parse("warmup(cosine(0.1, 10), 5)")):
        with pytest.raises(ValueError, match="step"):
            s(step)


def test_array_like_steps():
    s = lrlab.cosine(0.1, 100)
    assert np.array_equal(s([0, 50, 100]), s(np.array([0, 50, 100])))
    assert np.array_equal(s(np.arange(5, dtype=np.int32)), s(np.arange(5)))
    assert s(np.float64(50.0)) == s(50) and type(s(np.float64(50.0))) is float
    assert s(np.array(50)).shape == ()


@SETTINGS
@given(schedules, st.sampled_from([2**53 + 1, 2**64, 10**400]))
def test_huge_integer_steps_give_a_value_or_value_error(s, step):
    try:
        value = s(step)
    except ValueError as exc:
        assert "step" in str(exc)
    else:
        assert type(value) is float and value >= 0


CATALOGUE = [
    "constant(0.1)",
    "step_decay(0.1, drop=0.5, step_size=7)",
    "step_decay(0.1, drop=1.5, step_size=100)",
    "multistep(0.1, [5, 5, 20, 3000], gamma=0.5)",
    "piecewise([4, 9, 14, 2500.5], [0.025, 0.0125, 0.008, 0.00625, 0.001])",
    "exponential(0.1, 7, 0.5)",
    "exponential(0.1, 1000, 0.96, staircase=True)",
    "inverse_time(0.1, 7, 0.5)",
    "polynomial(0.1, 12345, end_lr=0.001, power=0.5, cycle=True)",
    "polynomial(0.1, 12345, end_lr=0.001, power=2.0)",
    "polynomial(0.1, 9999, end_lr=0.0, power=1.7, cycle=True)",
    "linear(0.0, 0.1, 17777)",
    "cosine(0.1, 20000, alpha=0.01)",
    "cosine(0.0, 15000, alpha=0.1, warmup_target=0.1, warmup_steps=1000)",
    "cosine_restarts(0.1, 1, t_mul=3.0, m_mul=0.5, alpha=0.01)",
    "cosine_restarts(0.1, 16, t_mul=1.5)",
    "cosine_restarts(0.1, 777, t_mul=1.0, m_mul=0.9)",
    'cyclic(0.001, 0.1, 1000, 500, mode="exp_range", gamma=0.9999)',
    'cyclic(0.001, 0.1, 400, mode="triangular2")',
    'one_cycle(0.1, 20000, anneal="linear", three_phase=True)',
    "one_cycle(0.1, 13333, pct_start=0.25)",
    "inverse_sqrt(0.1, 1000)",
    'wsd(0.1, 20000, 1000, 5000, end_lr=0.01, decay="1-sqrt")',
    'wsd(0.1, 20000, 1000, 5000, decay="cosine")',
    "random_uniform(0.001, 0.1, seed=7)",
    "warmup(cosine(0.1, 15000), 1000, start_lr=0.01)",
    "join([linear(0.0, 0.1, 1000), exponential(0.1, 100, 0.5)], [1000]).clip(0.001, 0.05) * 2",
    "per_epoch(step_decay(0.1, 0.5, 2), 700)",
]


@pytest.mark.parametrize("spec", CATALOGUE)
def test_scalar_and_array_identical_over_20000_steps(spec):
    s = lrlab.parse(spec)
    steps = np.arange(20_001)
    array = s(steps)
    scalar = np.array([s(t) for t in range(20_001)])
    bad = np.nonzero(array != scalar)[0]
    assert not len(bad), f"{spec}: {len(bad)} steps differ, first {bad[0]}: {scalar[bad[0]]!r} vs {array[bad[0]]!r}"


@pytest.mark.parametrize("spec", CATALOGUE)
def test_compiled_scalar_path_equals_the_formula(spec):
    """The fast path is the formula traced and compiled (host-only kinds keep apply); same values."""
    from lrlab.schedules import SCALAR

    s = lrlab.parse(spec)
    s(0)
    assert hasattr(s._scalar, "source") != s.host_only
    assert s._entry is not type(s)._entry
    for t in [0, 1, 2, 7, 99, 100, 101, 999, 1000, 1001, 4999, 5000, 12_345, 20_000, 10**6]:
        try:
            expected = s.apply(SCALAR, t)
        except OverflowError:  # Python floats overflow where numpy gives inf (an inf rate: a ValueError)
            if overflow_step(s, [t]) is not None:
                with pytest.raises(ValueError, match=f"overflows at step {t}"):
                    s(t)
                continue
            expected = float(s(np.array([t]))[0])
        assert s(t) == expected
