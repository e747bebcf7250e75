"""lrlab.keras on Keras 3 (torch backend): the schedule's values, real fit/save/load, LRLogger, ReduceOnPlateau.

The small case is the 3-input OR gate of the second seed: 8 rows, one Dense(1, sigmoid), batch 8, so one
optimizer step per epoch and the rate logged at the end of epoch e is s(e + 1).
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import lrlab  # noqa: E402
from every_kind import SPECS  # noqa: E402
from lrlab.keras import LRLogger, ReduceOnPlateau, Schedule  # noqa: E402

X = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype="float32")
Y = X.max(axis=1, keepdims=True)

STEPS = np.arange(0, 90)


@pytest.fixture
def float64():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(previous)


def values(ks: Schedule) -> np.ndarray:
    """The Keras schedule at each of STEPS, fed as the optimizer feeds it (an int64 tensor)."""
    ops = keras.ops
    return np.array([float(ops.convert_to_numpy(ks(ops.convert_to_tensor(t, dtype="int64")))) for t in STEPS])


def or_model(lr, seed: int | None = None) -> keras.Model:
    init = "zeros" if seed is None else keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="binary_crossentropy")
    return model


def held(model: keras.Model):
    return model.optimizer._learning_rate  # Keras 3 has no public getter for the schedule object


# -- values ------------------------------------------------------------------------------------------------
def test_specs_cover_every_kind():
    kinds = {lrlab.parse(spec).kind for spec in SPECS}
    kinds |= {c.kind for spec in SPECS for c in lrlab.parse(spec).children()}
    assert kinds == set(lrlab.KINDS)


def _torch_pow_is_libm() -> bool:
    """Whether torch's float64 power of -0.5 is libm's pow (torch 2.13 computes it as 1 / sqrt(x): 1 ulp off at 2)."""
    import torch

    return torch.pow(torch.tensor(2.0, dtype=torch.float64), -0.5).item() == math.pow(2.0, -0.5)


@pytest.mark.parametrize("spec", SPECS)
def test_values_equal_schedule_in_float64(spec, float64):
    s = lrlab.parse(spec)
    got, want = values(Schedule(s)), s(STEPS)
    # Bit for bit except inverse_time: torch computes python_float / tensor as reciprocal * float (1 ulp); and the
    # kinds taking a square root's reciprocal where torch computes x ** -0.5 as 1 / sqrt(x) (1 ulp, measured).
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
    rsqrt = ("inverse_sqrt" in spec or "1-sqrt" in spec) and not _torch_pow_is_libm()
    if s.kind != "inverse_time" and not rsqrt:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("spec", SPECS)
def test_values_close_in_float32(spec):
    assert keras.config.floatx() == "float32"
    s = lrlab.parse(spec)
    np.testing.assert_allclose(values(Schedule(s)), s(STEPS), rtol=1e-5, atol=1e-9)


def test_keras_namespace_keeps_float64(float64):
    # keras.ops.minimum/floor alone would return float32 here; the adapter's namespace must not.
    xp = lrlab.keras.namespace()
    t = keras.ops.convert_to_tensor([2.9999999999, 7.5], dtype="float64")
    for out in (xp.minimum(t, 5), xp.maximum(t, 5.0), xp.floor(t), xp.ceil(t), xp.where(t > 3, 1.0, t)):
        assert str(keras.ops.convert_to_numpy(out).dtype) == "float64"
    assert keras.ops.convert_to_numpy(xp.floor(t)).tolist() == [2.0, 7.0]
    assert keras.ops.convert_to_numpy(xp.ceil(t)).tolist() == [3.0, 8.0]
    assert keras.ops.convert_to_numpy(xp.floor(-t)).tolist() == [-3.0, -8.0]


def test_schedule_accepts_spec_and_config_and_rejects_bad_input():
    s = lrlab.parse("cosine(0.1, decay_steps=100)")
    assert Schedule("cosine(0.1, decay_steps=100)").schedule == s
    assert Schedule(s.to_config()).schedule == s
    with pytest.raises(ValueError, match="stretch"):
        Schedule("cosine(0.1)")
    with pytest.raises(ValueError, match="schedule must be"):
        Schedule(0.1)
    with pytest.raises(ValueError, match="scale"):
        Schedule(s, scale=-1.0)
    assert Schedule(lrlab.parse("cosine(0.1)").stretch(50)).schedule == lrlab.parse("cosine(0.1, decay_steps=50)")


# -- training, saving, loading -------------------------------------------------------------------------------
def test_first_update_uses_the_rate_at_step_zero():
    # Zero weights: p = 0.5 on every row; BCE gradient is X^T (p - y) / 8 = -0.25 per weight, -0.375 for the bias.
    s = lrlab.parse("step_decay(0.2, 0.5, 1)")  # 0.2 for the first update, 0.1 for the second
    model = or_model(Schedule(s))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.layers[0].weights)
    np.testing.assert_allclose(kernel.ravel(), [0.25 * 0.2] * 3, rtol=1e-6)
    np.testing.assert_allclose(bias, [0.375 * 0.2], rtol=1e-6)


def test_fit_save_load_brings_the_schedule_back(tmp_path):
    s = lrlab.parse("warmup(cosine(0.1, decay_steps=40, alpha=0.05), 4)")
    model = or_model(Schedule(s), seed=1)
    model.fit(X, Y, batch_size=8, epochs=6, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the class is registered as "lrlab>Schedule"
    assert isinstance(held(loaded), Schedule)
    assert held(loaded).schedule == s
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    assert lrlab.keras.current_lr(loaded.optimizer) == pytest.approx(s(6), rel=1e-6)
    loaded.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_saved_scale_and_min_lr_come_back(tmp_path):
    s = lrlab.parse("exponential(0.1, 10, 0.5)")
    model = or_model(Schedule(s, scale=0.25, min_lr=0.001))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = held(keras.models.load_model(tmp_path / "m.keras"))
    assert (loaded.schedule, loaded.scale, loaded.min_lr) == (s, 0.25, pytest.approx(0.001))


def test_custom_schedule_without_importable_fn_says_why_it_cannot_save(tmp_path):
    model = or_model(Schedule(lrlab.custom(lambda t: 0.1)))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="cannot be saved"):
        model.save(tmp_path / "m.keras")


# -- LRLogger --------------------------------------------------------------------------------------------------
def test_lr_logger_with_a_schedule_matches_hand_computed_rates(float64):
    # exponential(0.1, 5, 0.95, staircase=True); after epoch e the optimizer has made e + 1 steps.
    model = or_model(Schedule("exponential(0.1, 5, 0.95, staircase=True)"))
    history = model.fit(X, Y, batch_size=8, epochs=12, verbose=0, callbacks=[LRLogger()])
    hand = [0.1] * 4 + [0.1 * 0.95] * 5 + [0.1 * 0.95 * 0.95] * 3
    np.testing.assert_allclose(history.history["lr"], hand, rtol=1e-15)


def test_lr_logger_with_a_plain_float():
    model = or_model(0.05)
    history = model.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[LRLogger(key="rate")])
    assert history.history["rate"] == [float(np.float32(0.05))] * 3


def test_host_only_schedule_trains_on_the_host(float64):
    s = lrlab.parse("random_uniform(0.01, 0.1, seed=7)")
    model = or_model(Schedule(s))
    history = model.fit(X, Y, batch_size=8, epochs=5, verbose=0, callbacks=[LRLogger()])
    assert history.history["lr"] == [s(e + 1) for e in range(5)]


# -- ReduceOnPlateau -----------------------------------------------------------------------------------------
def drive(callback, metrics, monitor="val_loss", lr=0.1):
    """Feed one metric per epoch to a callback on a compiled model; the rate after each epoch."""
    model = or_model(lr)
    callback.set_model(model)
    callback.on_train_begin()
    rates, logged = [], []
    for epoch, value in enumerate(metrics):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(lrlab.keras.current_lr(model.optimizer))
    return rates, logged


def walks():
    rng = random.Random(11)
    out = []
    for _ in range(12):
        value, seq = 1.0, []
        for _ in range(60):
            value += rng.choice([-0.01, -0.002, 0.0, 0.00005, 0.003, 0.01])
            seq.append(value)
        out.append(seq)
    out.append([0.5] * 40)
    out.append([1.0, 0.9, 0.8] + [0.8] * 10 + [0.7] + [0.70005] * 20 + [math.inf, 0.6] + [0.6] * 10)
    return out


SETTINGS = [
    dict(patience=2),
    dict(patience=1, cooldown=2, factor=0.5),
    dict(patience=3, min_lr=0.004, factor=0.3),
    dict(patience=0, min_delta=0.005),
    dict(patience=2, cooldown=1, min_lr=1e-3, min_delta=0.0),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_plain_float_rates_equal_keras_reduce_lr_on_plateau(settings):
    for seq in walks():
        ours = drive(ReduceOnPlateau(**settings), seq)
        theirs = drive(keras.callbacks.ReduceLROnPlateau(**settings), seq)
        assert ours == theirs


def test_max_mode_equals_keras():
    for seq in walks():
        acc = [1.0 - v / 2 for v in seq if math.isfinite(v)]
        ours = drive(ReduceOnPlateau(monitor="val_acc", mode="max", patience=2), acc, monitor="val_acc")
        theirs = drive(
            keras.callbacks.ReduceLROnPlateau(monitor="val_acc", mode="max", patience=2), acc, monitor="val_acc"
        )
        assert ours == theirs


def fit_with(callback, lr, epochs=25):
    keras.utils.set_random_seed(3)
    model = or_model(lr, seed=2)
    return model, model.fit(
        X, Y, batch_size=8, epochs=epochs, verbose=0, validation_data=(X, Y), callbacks=[callback, LRLogger()]
    )


def test_real_fit_plain_float_equals_keras():
    settings = dict(patience=2, min_delta=0.02, factor=0.5, min_lr=0.01)
    model_a, ours = fit_with(ReduceOnPlateau(**settings), 0.5)
    model_b, theirs = fit_with(keras.callbacks.ReduceLROnPlateau(**settings), 0.5)
    assert ours.history == theirs.history
    assert len(set(ours.history["lr"])) > 2  # it did reduce, more than once
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_keras_own_callback_raises_with_a_schedule():
    with pytest.raises(TypeError, match="not settable"):
        fit_with(keras.callbacks.ReduceLROnPlateau(patience=1, min_delta=1.0), Schedule("cosine(0.5, 100)"))


def test_real_fit_with_a_schedule_scales_it(tmp_path):
    s = lrlab.parse("cosine(0.5, decay_steps=100, alpha=0.1)")
    settings = dict(patience=2, min_delta=0.02, factor=0.5, min_lr=0.03)
    model, history = fit_with(ReduceOnPlateau(**settings), Schedule(s))
    # Replay val_loss through a fresh Plateau with Keras's rules: the rate after epoch e is
    # max(s(e + 1) * scale_e, min_lr).
    plateau = lrlab.Plateau(convention="keras", patience=2, threshold=0.02, factor=0.5, min_lr=0.03)
    expected, scales = [], []
    for epoch, loss in enumerate(history.history["val_loss"]):
        plateau.step(loss)
        scales.append(plateau.scale)
        expected.append(max(s(epoch + 1) * plateau.scale, 0.03))
    assert min(scales) <= 0.25  # at least two reductions happened
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-6)
    assert held(model).scale == scales[-1]
    # The logged "learning_rate" is the rate before that epoch's reduction, as Keras logs it.
    before = [max(s(e + 1) * ([1.0, *scales][e]), 0.03) for e in range(len(scales))]
    np.testing.assert_allclose(history.history["learning_rate"], before, rtol=1e-6)
    # The reduced scale is saved with the model.
    model.save(tmp_path / "m.keras")
    assert held(keras.models.load_model(tmp_path / "m.keras")).scale == scales[-1]


def test_scale_is_used_by_the_update():
    model = or_model(Schedule("constant(0.2)", scale=0.5))
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].bias), [0.375 * 0.1], rtol=1e-6)


def test_auto_mode_reads_the_metric_direction():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    callback = ReduceOnPlateau(monitor="val_accuracy")
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[callback])
    assert callback.plateau.mode == "max"
    callback = ReduceOnPlateau(monitor="val_mystery")
    with pytest.raises(ValueError, match="mode='min'"):
        callback.set_model(model)
        callback.on_epoch_end(0, {"val_mystery": 1.0})


def test_bad_arguments_and_other_schedules():
    with pytest.raises(ValueError, match="mode"):
        ReduceOnPlateau(mode="down")
    with pytest.raises(ValueError, match="factor"):
        ReduceOnPlateau(factor=1.5)
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    with pytest.raises(TypeError, match=r"lrlab\.keras\.Schedule"):
        drive(ReduceOnPlateau(), [1.0], lr=keras_schedule)


def test_nan_metric_is_skipped_with_a_warning():
    callback = ReduceOnPlateau(patience=1)
    with pytest.warns(UserWarning, match="NaN"):
        rates, _ = drive(callback, [1.0, math.nan, math.nan, 1.0])
    assert rates == [float(np.float32(0.1))] * 3 + [pytest.approx(0.01)]
    assert callback.plateau.epochs == 2


# -- another backend: jax, where the train step is compiled with jax.jit ----------------------------------
JAX_BACKEND_SCRIPT = """
import json, os
import numpy as np, keras, lrlab
from lrlab.keras import LRLogger, ReduceOnPlateau, Schedule

X = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype="float32")
Y = X.max(axis=1, keepdims=True)

def model(lr, weights=None):
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")])
    m.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy", jit_compile=True)
    if weights is not None:
        m.set_weights(weights)
    return m

def bias(m):
    return float(keras.ops.convert_to_numpy(m.layers[0].bias)[0])

out = {"backend": keras.backend.backend()}
for spec in ("step_decay(0.2, 0.5, 1)", "random_uniform(0.1, 0.3, seed=2)"):
    m = model(Schedule(spec))
    m.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    out[spec] = [bias(m), 0.375 * lrlab.parse(spec)(0)]

m = model(Schedule("constant(0.5)"))
h = m.fit(X, Y, batch_size=8, epochs=4, verbose=0, validation_data=(X, Y),
          callbacks=[ReduceOnPlateau(patience=1, min_delta=10.0, factor=0.5), LRLogger()])
out["lr"] = h.history["lr"]
scale = m.optimizer._learning_rate.scale
twin = model(Schedule("constant(0.5)", scale=scale), m.get_weights())
m.fit(X, Y, batch_size=8, epochs=1, verbose=0)
twin.fit(X, Y, batch_size=8, epochs=1, verbose=0)
out["next_step"] = [bias(m), bias(twin)]

# MomentumScheduler: refused with a compiled step, exact with run_eagerly=True (the test compares to its simulation).
import sys
sys.path.insert(0, os.environ["LRLAB_TESTS"])
from test_keras_adapter import fit_weights
momentum = lrlab.keras.MomentumScheduler("linear(0.95, 0.5, 6)")
try:
    fit_weights(keras.optimizers.SGD(Schedule("exponential(0.5, 4, 0.5)"), momentum=0.9), [momentum], 5)
except ValueError as exc:
    out["compiled"] = str(exc)
out["eager"] = fit_weights(
    keras.optimizers.SGD(Schedule("exponential(0.5, 4, 0.5)"), momentum=0.9), [momentum], 5, run_eagerly=True
).tolist()

# A model saved by the torch backend, loaded in this fresh process (import lrlab.keras is all it needs).
import os
loaded = keras.models.load_model(os.environ["LRLAB_SAVED_MODEL"])
out["loaded"] = [repr(loaded.optimizer._learning_rate.schedule), int(loaded.optimizer.iterations.numpy())]
print(json.dumps(out))
"""


def test_compiled_training_on_the_jax_backend(tmp_path):
    pytest.importorskip("jax")
    import json
    import subprocess
    import sys

    s = lrlab.parse("cosine(0.1, decay_steps=50, alpha=0.1)")
    model = or_model(Schedule(s))
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0)
    model.save(tmp_path / "torch.keras")
    env = {**os.environ, "KERAS_BACKEND": "jax", "LRLAB_SAVED_MODEL": str(tmp_path / "torch.keras"),
           "LRLAB_TESTS": os.path.dirname(__file__)}
    proc = subprocess.run(
        [sys.executable, "-c", JAX_BACKEND_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    for spec in ("step_decay(0.2, 0.5, 1)", "random_uniform(0.1, 0.3, seed=2)"):
        got, want = out[spec]
        assert got == pytest.approx(want, rel=1e-6)
    assert out["lr"] == [0.5, 0.25, 0.125, 0.0625]
    got, want = out["next_step"]  # the compiled step uses the reduced scale (it is rebuilt on a reduction)
    assert got == want
    assert out["loaded"] == [repr(s), 3]
    assert "run_eagerly=True" in out["compiled"]
    want = simulate("sgd", lrlab.parse("exponential(0.5, 4, 0.5)"), lrlab.parse("linear(0.95, 0.5, 6)"), 10)
    np.testing.assert_allclose(out["eager"], want, rtol=1e-5)


# -- adapters do not import each other -------------------------------------------------------------------------
def test_adapters_do_not_import_each_other():
    import ast
    import pathlib

    adapters = {"torch", "keras", "jax"}
    src = pathlib.Path(lrlab.__file__).parent
    for name in sorted(adapters):
        tree = ast.parse((src / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".")
                if node.level == 1:  # from .x import ... / from . import x
                    targets = [parts[0]] if node.module else [a.name for a in node.names]
                elif parts[0] == "lrlab":
                    targets = parts[1:2] or [a.name for a in node.names]
                else:
                    targets = []
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("lrlab.")]
            else:
                continue
            assert not (set(targets) & (adapters - {name})), f"lrlab/{name}.py imports {targets} (line {node.lineno})"


# -- momentum driven by a schedule ---------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def simulate(optimizer: str, lrs, momenta, steps: int, batch: int = 4):
    """The OR model (zero weights) trained by hand in float64: batches in order, BCE's gradient X^T (p - y) / n.
    SGD: Keras's rule v = m v - lr g, w += v. Adam: Keras's rule with the beta_1 of each step (its bias
    correction 1 - beta_1 ** t uses that same value), beta_2 = 0.999, epsilon = 1e-7."""
    Xb = np.hstack([X.astype(np.float64), np.ones((8, 1))])
    w, v, m2 = np.zeros(4), np.zeros(4), np.zeros(4)
    for t in range(steps):
        i = (t * batch) % 8
        xb, yb = Xb[i : i + batch], Y[i : i + batch, 0].astype(np.float64)
        g = xb.T @ (_sigmoid(xb @ w) - yb) / len(yb)
        lr, mom = lrs(t), momenta(t)
        if optimizer == "sgd":
            v = mom * v - lr * g
            w = w + v
        else:
            v = v + (g - v) * (1 - mom)
            m2 = m2 + (g * g - m2) * (1 - 0.999)
            alpha = lr * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - mom ** (t + 1))
            w = w - v * alpha / (np.sqrt(m2) + 1e-7)
    return w


def fit_weights(optimizer, callbacks, epochs: int, run_eagerly: bool = False) -> np.ndarray:
    dtype = keras.config.floatx()  # given explicitly: Keras's global dtype policy keeps the floatx of its first use
    dense = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros", dtype=dtype)
    model = keras.Sequential([keras.Input((3,), dtype=dtype), dense])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", run_eagerly=run_eagerly)
    model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
    kernel, bias = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in model.layers[0].weights)
    return np.concatenate([kernel.ravel(), bias])


class Recorder(keras.callbacks.Callback):
    """The optimizer's beta_1 or momentum as the update of each batch used it."""

    def __init__(self, attr):
        super().__init__()
        self.attr, self.seen = attr, []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(getattr(self.model.optimizer, self.attr))


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_momentum_scheduler_trains_like_the_hand_computed_optimizer(kind, float64):
    m = lrlab.parse("linear(0.95, 0.5, 6)")  # 2 steps per epoch, 5 epochs: moves for 6 steps, then holds
    s = lrlab.parse("exponential(0.5, 4, 0.5)")
    if kind == "sgd":
        optimizer, attr = keras.optimizers.SGD(Schedule(s), momentum=0.9), "momentum"
    else:
        optimizer, attr = keras.optimizers.Adam(Schedule(s), beta_1=0.9), "beta_1"
    recorder = Recorder(attr)
    got = fit_weights(optimizer, [lrlab.keras.MomentumScheduler(m), recorder], epochs=5)
    assert recorder.seen == [m(t) for t in range(10)]
    want = simulate(kind, s, m, 10)
    # Keras's BCE (p clipped to [1e-7, 1 - 1e-7], through torch's binary_cross_entropy) is not exactly p - y: even
    # one plain SGD(0.1) step differs from the hand gradient in the 9th digit, and 10 momentum steps reach the
    # 8th, hence rtol 1e-6 for the weights while the momenta themselves are compared exactly above.
    np.testing.assert_allclose(got, want, rtol=1e-6)
    fixed = simulate(kind, s, lambda t: 0.9, 10)  # the schedule made a difference far beyond the tolerance
    assert np.abs(fixed - want).max() > 1e-3


def test_momentum_scheduler_refuses_what_it_cannot_drive():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    for optimizer, match in [
        (keras.optimizers.SGD(0.1), r"SGD was built with momentum=0\.0; .* momentum > 0"),
        (keras.optimizers.Adagrad(0.1), "Adagrad has neither a numeric beta_1 nor momentum"),
    ]:
        model.compile(optimizer=optimizer, loss="binary_crossentropy")
        with pytest.raises(ValueError, match=match):
            model.fit(X, Y, epochs=1, verbose=0, callbacks=[lrlab.keras.MomentumScheduler("constant(0.9)")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5), loss="binary_crossentropy", jit_compile=True)
    with pytest.raises(ValueError, match="run_eagerly=True"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[lrlab.keras.MomentumScheduler("constant(0.9)")])
    with pytest.raises(ValueError, match="stretch"):
        lrlab.keras.MomentumScheduler("cosine(0.9)")


# -- keras.callbacks.LearningRateScheduler ---------------------------------------------------------------------
def test_epoch_function_with_keras_learning_rate_scheduler():
    """Keras's own callback, given lrlab's function or the same rule written as a plain Keras function: same rates
    and weights; and the same as the per-step Schedule of per_epoch(s, steps_per_epoch)."""
    s = lrlab.parse("step_decay(0.4, 0.5, 2)")
    fn = lrlab.keras.epoch_function(s)
    assert fn(3, 0.123) == s(3) == 0.4 * 0.5 and fn.schedule == s

    def run(lr, callbacks):
        keras.utils.set_random_seed(0)
        model = or_model(lr, seed=4)
        history = model.fit(X, Y, batch_size=4, epochs=7, verbose=0, shuffle=False, callbacks=[*callbacks, LRLogger()])
        return history.history["lr"], model.get_weights()

    def by_hand(epoch, lr):
        return 0.4 * 0.5 ** (epoch // 2)

    lr_mine, w_mine = run(0.01, [keras.callbacks.LearningRateScheduler(fn)])
    lr_ref, w_ref = run(0.01, [keras.callbacks.LearningRateScheduler(by_hand)])
    assert lr_mine == lr_ref == [float(np.float32(s(e))) for e in range(7)]
    for a, b in zip(w_mine, w_ref):
        np.testing.assert_array_equal(a, b)
    _, w_step = run(Schedule(lrlab.per_epoch(s, 2)), [])
    for a, b in zip(w_mine, w_step):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match=r"epoch_function: epoch must be a whole number in \[0, 2\*\*53\], got -1"):
        fn(-1, 0.1)
    with pytest.raises(ValueError, match="epoch_function: schedule must be"):
        lrlab.keras.epoch_function(0.1)


# -- "rate times scale, with a floor": one function on every namespace -----------------------------------------
def test_scaled_rate_is_one_formula_on_every_namespace(float64):
    from lrlab.plateau import scaled_rate
    from lrlab.schedules import NUMPY, SCALAR

    lrs = np.array([0.0, 1e-6, 0.003, 0.1, 2.0])
    for scale, floor in [(1.0, 0.0), (0.25, 1e-3), (0.01, 0.05)]:
        want = [max(lr * scale, floor) for lr in lrs]
        assert [scaled_rate(SCALAR, float(lr), scale, floor) for lr in lrs] == want
        assert scaled_rate(NUMPY, lrs, scale, floor).tolist() == want
        t = keras.ops.convert_to_tensor(lrs, dtype="float64")
        got = scaled_rate(lrlab.keras.namespace(), t, scale, floor)
        assert keras.ops.convert_to_numpy(got).tolist() == want
    # torch's rule: reductions one by one, each skipped (with all later ones) when it lowers the rate by <= eps
    rule = dict(factor=0.5, reductions=30, eps=1e-4)
    by_hand = []
    for lr in lrs:
        r = float(lr)
        for _ in range(30):
            new = max(r * 0.5, 1e-5)
            if r - new <= 1e-4:
                break
            r = new
        by_hand.append(max(r, 1e-5))
    assert [scaled_rate(SCALAR, float(lr), None, 1e-5, **rule) for lr in lrs] == by_hand
    assert scaled_rate(NUMPY, lrs, None, 1e-5, **rule).tolist() == by_hand
    assert by_hand[3] == 0.1 * 0.5**9  # 0.1 stops falling once a step would be <= 1e-4 (at 0.1 / 2**9)
