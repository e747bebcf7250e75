"""`lrlab.keras.find_lr`: the range test on a compiled Keras model, everything put back afterwards."""

from __future__ import annotations

import random

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import lrlab.keras as lk  # noqa: E402
from lrlab import rangetest as rt  # noqa: E402


def data(n: int = 96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x[:, :1] - 0.5 * x[:, 1:2]).astype("float32")
    return x, y


def model(fit_first: bool = True):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.BatchNormalization(), keras.layers.Dropout(0.3), keras.layers.Dense(1)])
    m.compile(keras.optimizers.Adam(1e-3), "mse")
    x, y = data()
    if fit_first:
        m.fit(x, y, batch_size=32, epochs=1, verbose=0)  # moments and iterations exist before the test
    np.random.seed(5)
    random.seed(5)
    return m


def trained(m):
    x, y = data()
    m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True)
    return [w.copy() for w in m.get_weights()] + [keras.ops.convert_to_numpy(v.value) for v in m.optimizer.variables]


def test_the_rates_follow_the_sweep_and_the_test_stops_on_divergence() -> None:
    m = model()
    x, y = data()
    got = lk.find_lr(m, x, y, start_lr=1e-5, end_lr=1e4, steps=80)
    sweep = rt.sweep(1e-5, 1e4, 80)
    assert got.lrs.tolist() == [sweep(t) for t in range(len(got.lrs))]
    assert got.stopped in ("diverged", "not finite") and len(got.lrs) < 80
    assert got.smoothed.tolist() == rt.smooth(got.losses).tolist()
    assert set(got.suggestions) == set(rt.RULES)


@pytest.mark.parametrize("fit_first", [True, False])
def test_training_after_find_lr_equals_training_without(fit_first: bool) -> None:
    m = model(fit_first)
    before = [w.copy() for w in m.get_weights()]
    x, y = data()
    got = lk.find_lr(m, x, y, steps=30, start_lr=1e-4, end_lr=1.0)
    assert len(got.lrs) == 30
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    assert float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)) == pytest.approx(1e-3)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    with_test = trained(m)
    np.random.seed(5)
    random.seed(5)
    assert np.array_equal(np_state, np.random.get_state()[1]) and py_state == random.getstate()
    without = trained(model(fit_first))
    assert len(with_test) == len(without)
    assert all(np.array_equal(a, b) for a, b in zip(with_test, without))


def test_without_restore_the_weights_move() -> None:
    m = model()
    before = [w.copy() for w in m.get_weights()]
    x, y = data()
    lk.find_lr(m, x, y, steps=10, restore=False)
    assert not all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


def test_bad_input_is_a_value_error_naming_it() -> None:
    m = model(False)
    x, y = data()
    with pytest.raises(ValueError, match="x holds no samples"):
        lk.find_lr(m, x[:0], y[:0])
    with pytest.raises(ValueError, match=r"start_lr must be < end_lr, got start_lr=1\.0, end_lr=0\.1"):
        lk.find_lr(m, x, y, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match=r"steps must be a whole number in \[2, 2\*\*53\], got 1"):
        lk.find_lr(m, x, y, steps=1)
    m2 = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    m2.compile(keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), "mse")
    with pytest.raises(ValueError, match="holds a ExponentialDecay; compile it with a float learning rate or an "
                                         r"lrlab\.keras\.Schedule"):
        lk.find_lr(m2, x, y)


def test_a_model_compiled_with_an_lrlab_schedule_is_tested_as_with_a_float_and_keeps_its_schedule() -> None:
    x, y = data()

    def compiled(rate):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        m.compile(keras.optimizers.SGD(rate, momentum=0.9), "mse")
        return m

    schedule = lk.Schedule("cosine(0.1, decay_steps=40)", scale=0.5, min_lr=1e-4)
    with_schedule, with_float = compiled(schedule), compiled(0.1)
    a = lk.find_lr(with_schedule, x, y, batch_size=16, steps=30, end_lr=1.0)
    b = lk.find_lr(with_float, x, y, batch_size=16, steps=30, end_lr=1.0)
    np.testing.assert_allclose(a.lrs, b.lrs, rtol=0)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-6)  # the sweep's rates reached the updates
    assert with_schedule.optimizer._learning_rate is schedule
    assert (schedule.scale, schedule.min_lr) == (0.5, pytest.approx(1e-4, rel=1e-6))
    # and training afterwards runs at the schedule again: the first update's rate is cosine(0) x 0.5
    assert lk.current_lr(with_schedule.optimizer) == pytest.approx(0.05, rel=1e-6)
