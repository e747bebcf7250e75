"""Keras 3 adapter: an lrlab schedule as a Keras `LearningRateSchedule`, plus two callbacks.

- `Schedule(s)` evaluates the schedule's own formula with `keras.ops`, so it runs inside compiled
  training on any backend, and saves with the model (`model.save` / `keras.models.load_model`, no
  `custom_objects`). It also holds a `scale` and a `min_lr` (Keras variables) that `ReduceOnPlateau` moves:
  the rate is `max(s(step) * scale, min_lr)`.
- `LRLogger()` puts each epoch's learning rate into `history.history["lr"]`.
- `ReduceOnPlateau(...)` is keras.callbacks.ReduceLROnPlateau, built on `lrlab.Plateau(convention="keras")`,
  that also works when the optimizer holds a `Schedule` (it scales the schedule).
- `MomentumScheduler(s)` sets the optimizer's `beta_1` (Adam family) or `momentum` (SGD, RMSprop) to `s(step)`
  before every batch (Keras 3 optimizers take only a number there: the documented callable `beta_1` is cast, not
  called).
- `epoch_function(s)` is `fn(epoch, lr) -> s(epoch)` for `keras.callbacks.LearningRateScheduler`.

Importing this module imports keras; `import lrlab` alone never does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from . import _check
from .plateau import Plateau, scaled_rate
from .rangetest import BETA, DIVERGE
from .schedules import SCALAR, Namespace, as_schedule
from .schedules import Schedule as _Schedule

__all__ = [
    "LRLogger",
    "MomentumScheduler",
    "ReduceOnPlateau",
    "Schedule",
    "current_lr",
    "epoch_function",
    "experiment",
    "find_lr",
    "namespace",
]


def namespace(dtype: str | None = None) -> Namespace:
    """The formula operations on `keras.ops`, computing in `dtype` (default: keras.config.floatx()).

    keras.ops.minimum, maximum, floor and ceil return float32 for float64 inputs on the torch and jax
    backends (Keras's type promotion caps at 32 bits), so they are written here with `where` and `trunc`,
    which keep the dtype; Python numbers become tensors of `dtype` first.

    `Schedule` evaluates every formula through it, so one formula per kind serves numpy, Keras and jax.

    Args:
        dtype: the float dtype to compute in ("float32", "float64", ...), or None for keras.config.floatx().

    Returns:
        An `lrlab.schedules.Namespace` named "keras".

    Examples:
        >>> import keras
        >>> from lrlab.keras import namespace
        >>> xp = namespace("float64")
        >>> t = keras.ops.convert_to_tensor([1.5, -1.5], dtype="float64")
        >>> keras.ops.convert_to_numpy(xp.floor(t)).tolist(), keras.backend.standardize_dtype(xp.floor(t).dtype)
        ([1.0, -2.0], 'float64')
    """
    ops = keras.ops
    dtype = dtype or keras.config.floatx()

    def tensor(x: Any) -> Any:
        return ops.convert_to_tensor(x, dtype=dtype) if isinstance(x, (int, float)) else x

    def minimum(a: Any, b: Any) -> Any:
        a, b = tensor(a), tensor(b)
        return ops.where(a <= b, a, b)

    def maximum(a: Any, b: Any) -> Any:
        a, b = tensor(a), tensor(b)
        return ops.where(a >= b, a, b)

    def floor(x: Any) -> Any:
        whole = ops.trunc(x)
        return ops.where(whole > x, whole - 1.0, whole)

    def ceil(x: Any) -> Any:
        whole = ops.trunc(x)
        return ops.where(whole < x, whole + 1.0, whole)

    return Namespace(
        name="keras",
        cos=ops.cos,
        exp=ops.exp,
        log=ops.log,
        sqrt=ops.sqrt,
        floor=floor,
        ceil=ceil,
        minimum=minimum,
        maximum=maximum,
        where=lambda c, a, b: ops.where(c, tensor(a), tensor(b)),
    )


def _number(name: str, value: Any) -> float:
    """A scale or a floor: a finite number >= 0 (0-d tensors and numpy scalars are read as numbers)."""
    if not _check.is_real(value) and getattr(value, "ndim", None) == 0:
        value = float(keras.ops.convert_to_numpy(value))
    return _check.rate("Schedule", name, value)


def _host_value(schedule: _Schedule, step: Any, dtype: str) -> Any:
    """schedule(step) computed on the host, for host-only kinds (random_uniform, custom).

    On the jax backend through `jax.pure_callback`, so it also traces in the compiled train step; elsewhere
    eagerly from the step's integer value. Written here rather than borrowed from lrlab.jax: adapters do not
    import each other.
    """
    ops = keras.ops
    if keras.backend.backend() != "jax":
        return ops.convert_to_tensor(schedule(int(ops.convert_to_numpy(step))), dtype=dtype)
    import jax
    import jax.numpy as jnp

    count = jnp.asarray(step)
    host_dtype = jnp.asarray(0.0).dtype  # float64 only with jax's x64 enabled

    def on_host(c: np.ndarray) -> np.ndarray:
        c = np.asarray(c)
        value = schedule(int(c)) if c.ndim == 0 else schedule(c.astype(np.int64))
        return np.asarray(value, dtype=host_dtype)

    shape = jax.ShapeDtypeStruct(count.shape, host_dtype)
    return ops.cast(jax.pure_callback(on_host, shape, count, vmap_method="expand_dims"), dtype)


@keras.saving.register_keras_serializable(package="lrlab")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """An lrlab schedule as a Keras LearningRateSchedule: `keras.optimizers.SGD(Schedule(s))`.

    The rate at step t is `max(s(t) * scale, min_lr)` (scale 1 and min_lr 0 unless `ReduceOnPlateau`
    moved them), computed in keras.config.floatx(). Host-only kinds (random_uniform, custom) are computed
    on the host from the step's integer value: eagerly on the torch backend (they do not trace under
    `jit_compile=True` there, nor inside a tensorflow graph: use `run_eagerly=True`), and through
    `jax.pure_callback` on the jax backend, where they also work in the compiled step.

    On the jax backend a compiled train step holds `scale` as a constant: `ReduceOnPlateau` rebuilds the step
    when it changes the scale; after setting it by hand, call `model.make_train_function(force=True)`.

    The step t is the optimizer's `iterations` (optimizer steps, not epochs: wrap the schedule in `per_epoch` to
    count epochs), so update t + 1 runs at `s(t)`. Registered as serializable ("lrlab>Schedule"): a model saved
    with it loads back without custom_objects, unless it holds an unnamed Python function (`custom(lambda ...)`).
    `scale` and `min_lr` are read and set as properties.

    Args:
        schedule: an lrlab Schedule, a spec string ("cosine(0.1, decay_steps=1000)") or a config dict.
        scale: the multiplier (a number >= 0; 1 unless resuming a reduced schedule).
        min_lr: the floor of the scaled rate (>= 0).
        total_steps: the run's length in optimizer steps (epochs x steps per epoch): lengths the spec leaves out
            ("cosine(0.1)") span it, as `.stretch(total_steps)`; lengths it sets stay.

    Raises:
        ValueError: a bad schedule, a negative or non-finite scale or min_lr, or a bad total_steps.

    Reference:
        Equals the lrlab schedule bit for bit in float64 for every kind except inverse_time (1 ulp), and to 1e-5
        relative in float32 (tests/test_keras_adapter.py, test_values_equal_schedule_in_float64,
        test_values_close_in_float32).

    Examples:
        >>> import keras
        >>> from lrlab.keras import Schedule
        >>> s = Schedule("linear(0.1, 0.0, steps=4)")
        >>> s
        lrlab.keras.Schedule(linear(0.1, steps=4))
        >>> [round(float(keras.ops.convert_to_numpy(s(t))), 6) for t in range(3)]
        [0.1, 0.075, 0.05]
        >>> opt = keras.optimizers.SGD(learning_rate=s)
    """

    def __init__(self, schedule: Any, scale: float = 1.0, min_lr: float = 0.0, *,
                 total_steps: int | None = None) -> None:
        super().__init__()
        if total_steps is None:
            self.schedule = as_schedule(schedule, who="lrlab.keras.Schedule")
        else:  # lengths the spec left out span the run (epochs x steps per epoch)
            total = _check.steps("lrlab.keras.Schedule", "total_steps", total_steps)
            self.schedule = as_schedule(schedule, who="lrlab.keras.Schedule", bound=False).stretch(total)
        self._scale = keras.Variable(_number("scale", scale), trainable=False, name="lrlab_scale")
        self._min_lr = keras.Variable(_number("min_lr", min_lr), trainable=False, name="lrlab_min_lr")

    @property
    def scale(self) -> float:
        """The multiplier applied to the schedule (ReduceOnPlateau lowers it)."""
        return float(keras.ops.convert_to_numpy(self._scale))

    @scale.setter
    def scale(self, value: float) -> None:
        self._scale.assign(_number("scale", value))

    @property
    def min_lr(self) -> float:
        """The floor of the scaled rate."""
        return float(keras.ops.convert_to_numpy(self._min_lr))

    @min_lr.setter
    def min_lr(self, value: float) -> None:
        self._min_lr.assign(_number("min_lr", value))

    def __call__(self, step: Any) -> Any:
        """The rate at optimizer step `step` (a Keras integer tensor or a number): `max(s(step) * scale, min_lr)`,
        a tensor of keras.config.floatx()."""
        ops = keras.ops
        dtype = keras.config.floatx()
        xp = namespace(dtype)
        if self.schedule.host_only:
            value = _host_value(self.schedule, step, dtype)
        else:
            t = ops.cast(step, dtype)
            # every number of the formula as a tensor of dtype: a length past 2**31 would overflow int32 in jax
            constant = lambda v: v if isinstance(v, bool) else ops.convert_to_tensor(float(v), dtype=dtype)  # noqa: E731
            value = ops.cast(self.schedule.apply_cast(xp, t, constant), dtype)
        return scaled_rate(xp, value, ops.cast(self._scale, dtype), ops.cast(self._min_lr, dtype))

    def get_config(self) -> dict[str, Any]:
        """Keras's serialization hook: the schedule's `to_config()`, `scale` and `min_lr`.

        Examples:
            >>> from lrlab.keras import Schedule
            >>> Schedule("linear(0.1, 0.0, steps=4)", scale=0.5).get_config()
            {'schedule': {'kind': 'linear', 'start_lr': 0.1, 'end_lr': 0.0, 'steps': 4}, 'scale': 0.5, 'min_lr': 0.0}
        """
        return {"schedule": self.schedule.to_config(), "scale": self.scale, "min_lr": self.min_lr}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        """The Schedule of a `get_config()` dict (what `keras.models.load_model` calls)."""
        return cls(**config)

    def __repr__(self) -> str:
        extra = "" if (self.scale, self.min_lr) == (1.0, 0.0) else f", scale={self.scale!r}, min_lr={self.min_lr!r}"
        return f"lrlab.keras.Schedule({self.schedule!r}{extra})"


def _inner(optimizer: Any) -> Any:
    """The optimizer that holds the rate (unwraps LossScaleOptimizer)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def current_lr(optimizer: Any) -> float:
    """The optimizer's current learning rate as Keras reports it: schedule(iterations), or the variable.

    With a schedule that is the rate of the next update (step `iterations`); `LRLogger` and `ReduceOnPlateau`
    read the rate through it.

    Args:
        optimizer: a Keras optimizer.

    Returns:
        The rate as a Python float (float32 precision by default).

    Examples:
        >>> import keras
        >>> from lrlab.keras import Schedule, current_lr
        >>> current_lr(keras.optimizers.SGD(Schedule("linear(0.1, 0.0, steps=4)")))
        0.1...
        >>> round(current_lr(keras.optimizers.SGD(0.01)), 6)
        0.01
    """
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class LRLogger(keras.callbacks.Callback):
    """Puts the learning rate into `history.history[key]` at the end of each epoch.

    The value is Keras's own reading, `optimizer.learning_rate`: for a schedule, schedule(iterations), i.e. the
    rate of the next step; for a plain float, the rate variable. Put it after a callback that changes the rate
    (ReduceOnPlateau) to log the rate after that change.

    Args:
        key: the history key to write (a non-empty string; "lr" by default).

    Raises:
        ValueError: key is not a non-empty string.

    Examples:
        >>> import keras, numpy as np
        >>> from lrlab.keras import LRLogger, Schedule
        >>> keras.utils.set_random_seed(0)
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(Schedule("linear(0.1, 0.0, steps=4)")), loss="mse")
        >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(-1, 1)
        >>> history = model.fit(x, 3 * x, batch_size=4, epochs=2, verbose=0, callbacks=[LRLogger()])
        >>> [round(lr, 6) for lr in history.history["lr"]]    # after 2 and 4 steps: s(2), s(4)
        [0.05, 0.0]
    """

    def __init__(self, key: str = "lr") -> None:
        super().__init__()
        if not isinstance(key, str) or not key:
            raise _check.fail("LRLogger", "key", "a non-empty string", key)
        self.key = key

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keras's hook: writes `current_lr(optimizer)` to `logs[key]` (Keras copies logs into the history)."""
        if logs is not None:
            logs[self.key] = current_lr(self.model.optimizer)


class ReduceOnPlateau(keras.callbacks.Callback):
    """keras.callbacks.ReduceLROnPlateau that also works when the optimizer holds a `Schedule`.

    The bad-epoch, cooldown and best-value rules are `lrlab.Plateau(convention="keras")`. With a plain float
    rate, a reduction sets `max(lr * factor, min_lr)` as Keras does, so the rates equal Keras's exactly. With a
    `lrlab.keras.Schedule`, it lowers the schedule's `scale` instead: the rate becomes
    `max(s(step) * scale, min_lr)`. Like Keras it writes the rate to `logs["learning_rate"]` (before reducing).
    A NaN metric is skipped with a warning (state unchanged) rather than counted as a bad epoch.

    Counted in epochs, like Keras's: one check at the end of each epoch. Its `plateau` attribute is the
    `lrlab.Plateau` holding the state. A missing metric warns, as Keras does.

    Args:
        monitor: the logs key to watch (e.g. "val_loss").
        factor: the multiplier at each reduction, in [0, 1).
        patience: bad epochs before a reduction (Keras: on the patience-th), an integer >= 0.
        mode: "min", "max", or "auto" (min for a loss; otherwise the direction of the compiled metric of that
            name, read at the first epoch end; ValueError when it cannot be told).
        min_delta: the improvement that counts (absolute, >= 0; its absolute value is used, as Keras does).
        cooldown: epochs after a reduction during which bad epochs are not counted.
        min_lr: the floor of the rate (>= 0).
        verbose: 1 prints a line at each reduction.

    Raises:
        ValueError: a bad setting. TypeError at train begin when the optimizer holds a schedule other than
            `lrlab.keras.Schedule` (Keras's own callback cannot scale one either).

    Reference:
        With a plain float rate, the rates equal keras.callbacks.ReduceLROnPlateau's exactly on many metric walks
        and settings (tests/test_keras_adapter.py, test_plain_float_rates_equal_keras_reduce_lr_on_plateau,
        test_real_fit_plain_float_equals_keras).

    Examples:
        >>> import keras, numpy as np
        >>> from lrlab.keras import LRLogger, ReduceOnPlateau, Schedule
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, kernel_initializer="zeros")])
        >>> model.compile(keras.optimizers.SGD(Schedule("constant(0.1)")), loss="mse")
        >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(-1, 1)
        >>> history = model.fit(x, 3 * x, batch_size=8, epochs=3, verbose=0, validation_data=(x, -3 * x),
        ...                     callbacks=[ReduceOnPlateau(factor=0.5, patience=1), LRLogger()])
        >>> [round(lr, 6) for lr in history.history["lr"]]   # val_loss rises: the scale halves at epochs 2, 3
        [0.1, 0.05, 0.025]
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        mode = _check.choice("ReduceOnPlateau", "mode", mode, ("auto", "min", "max"))
        if not isinstance(monitor, str) or not monitor:
            raise _check.fail("ReduceOnPlateau", "monitor", "a metric name", monitor)
        self.monitor = monitor
        self.mode = mode
        self.verbose = verbose
        self._settings = {
            "factor": factor,
            "patience": patience,
            "threshold": abs(min_delta) if isinstance(min_delta, (int, float)) else min_delta,
            "cooldown": cooldown,
            "min_lr": min_lr,
            "convention": "keras",
        }
        self.plateau = Plateau(mode="min" if mode == "auto" else mode, **self._settings)
        self._resolved = mode != "auto"

    # -- direction of the monitored metric (Keras's mode="auto" rules) ------------------------------
    def _resolve_mode(self) -> None:
        name = self.monitor.removeprefix("val_")
        mode = "min" if name == "loss" else None
        metrics: list[Any] = []
        for m in getattr(self.model, "metrics", []):
            inner = getattr(m, "metrics", None)
            metrics.extend(inner if isinstance(inner, list) else [m])
        for m in metrics:
            if getattr(m, "name", None) == name and hasattr(m, "_direction"):
                mode = "max" if m._direction == "up" else "min"
        if mode is None:
            raise ValueError(
                f"ReduceOnPlateau: cannot tell whether {self.monitor!r} should go down or up; pass mode='min' or "
                "mode='max'"
            )
        state = self.plateau.state_dict()
        self.plateau = Plateau(mode=mode, **self._settings)
        self.plateau.load_state_dict({**state, "mode": mode})
        self._resolved = True

    # -- callback hooks ---------------------------------------------------------------------------
    def _schedule(self) -> Schedule | None:
        held = _inner(self.model.optimizer)._learning_rate
        if isinstance(held, Schedule):
            return held
        if isinstance(held, keras.optimizers.schedules.LearningRateSchedule) or callable(held):
            raise TypeError(
                f"ReduceOnPlateau: the optimizer's rate is {held!r}; it can scale a plain float or a "
                "lrlab.keras.Schedule (wrap your schedule: lrlab.keras.Schedule(lrlab.parse(...)))"
            )
        return None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Keras's hook: resets the plateau's best value and counters (as Keras's callback does) and takes the
        scale from the optimizer's `Schedule`, if it holds one (a loaded model may arrive already reduced)."""
        self.plateau.reset()
        schedule = self._schedule()
        if schedule is not None:
            # The schedule's scale is the truth (a loaded model may arrive already reduced).
            self.plateau.scale = schedule.scale
            schedule.min_lr = self.plateau.min_lr

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keras's hook: logs the rate, feeds the monitored metric to the plateau and, on a reduction, lowers the
        schedule's scale or the float rate (skipping a NaN metric with a warning)."""
        if not self._resolved:
            self._resolve_mode()
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = current_lr(optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ReduceOnPlateau is conditioned on metric {self.monitor!r}, which is not available. "
                f"Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if isinstance(current, float) and math.isnan(current):
            warnings.warn(f"ReduceOnPlateau: {self.monitor} is NaN at epoch {epoch + 1}; epoch skipped", stacklevel=2)
            return
        if not self.plateau.step(current):
            return
        schedule = self._schedule()
        if schedule is not None:
            schedule.scale = self.plateau.scale
            if keras.backend.backend() == "jax":
                self.model.make_train_function(force=True)  # the jitted step holds the old scale as a constant
            new_lr = current_lr(optimizer)
        else:
            old_lr = current_lr(optimizer)
            if not old_lr > np.float32(self.plateau.min_lr):
                return
            new_lr = scaled_rate(SCALAR, old_lr, self.plateau.factor, self.plateau.min_lr)
            _inner(optimizer).learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceOnPlateau reducing learning rate to {new_lr}.")


def epoch_function(schedule: Any) -> Callable[..., float]:
    """`fn(epoch, lr) -> schedule(epoch)` for `keras.callbacks.LearningRateScheduler(fn)`: the rate of each epoch
    (the current `lr` Keras passes is not used). Same rates as `Schedule(per_epoch(schedule, steps_per_epoch))`,
    held in Keras's float variable instead of computed each step.

    Here the schedule's t counts epochs (0 for the first), not optimizer steps. The function carries the
    schedule as `fn.schedule`.

    Args:
        schedule: an lrlab Schedule, a spec string or a config dict.

    Returns:
        `fn(epoch, lr=None) -> float`; ValueError for an epoch that is not a whole number >= 0.

    Raises:
        ValueError: a bad schedule.

    Reference:
        With keras.callbacks.LearningRateScheduler, the same rates and weights as the rule written as a plain
        Keras function (tests/test_keras_adapter.py, test_epoch_function_with_keras_learning_rate_scheduler).

    Examples:
        >>> import keras
        >>> from lrlab.keras import epoch_function
        >>> fn = epoch_function("step_decay(0.1, 0.5, 2)")
        >>> [fn(epoch, None) for epoch in range(5)]
        [0.1, 0.1, 0.05, 0.05, 0.025]
        >>> callback = keras.callbacks.LearningRateScheduler(fn)
    """
    sched = as_schedule(schedule, who="lrlab.keras.epoch_function")

    def fn(epoch: int, lr: float | None = None) -> float:
        return float(sched(_check.steps("lrlab.keras.epoch_function", "epoch", epoch, minimum=0)))

    fn.schedule = sched  # type: ignore[attr-defined]
    return fn


class MomentumScheduler(keras.callbacks.Callback):
    """Drives the optimizer's momentum with a schedule: before every batch, `beta_1` (Adam, AdamW, Nadam, ...) or
    else `momentum` (SGD, RMSprop) is set to `schedule(step)`, step = optimizer.iterations (the update about to
    be made is number step + 1, as for the rate). The torch adapter's `momentum=` does the same.

    Keras 3 reads these as plain numbers inside the train step, so the step must run eagerly to see each new
    value: the torch backend's default (no jit_compile), or `run_eagerly=True` on any backend; a compiled step
    (jax, tensorflow, torch with jit_compile=True) is refused at train begin, since it would keep the first value.
    SGD and RMSprop keep a momentum buffer only when built with momentum > 0, so they must be.

    Args:
        schedule: the momentum schedule (an lrlab Schedule, a spec string or a config dict), in optimizer steps.

    Raises:
        ValueError: a bad schedule; at train begin, a compiled train step, an optimizer with neither beta_1 nor
            momentum, or SGD/RMSprop built with momentum 0.

    Reference:
        Trains like the hand-computed optimizer with the scheduled momentum (tests/test_keras_adapter.py,
        test_momentum_scheduler_trains_like_the_hand_computed_optimizer).

    Examples:
        >>> import keras, numpy as np
        >>> from lrlab.keras import MomentumScheduler
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.1, momentum=0.5), loss="mse")   # momentum > 0
        >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(-1, 1)
        >>> _ = model.fit(x, 3 * x, batch_size=4, epochs=1, verbose=0,
        ...               callbacks=[MomentumScheduler("linear(0.85, 0.95, steps=4)")])
        >>> round(model.optimizer.momentum, 6)     # set before update 2: s(1)
        0.875
    """

    def __init__(self, schedule: Any) -> None:
        super().__init__()
        self.schedule = as_schedule(schedule, who="lrlab.keras.MomentumScheduler")

    def _target(self) -> tuple[Any, str]:
        optimizer = _inner(self.model.optimizer)
        name = type(optimizer).__name__
        for attr in ("beta_1", "momentum"):
            value = getattr(optimizer, attr, None)
            if _check.is_real(value):
                if attr == "momentum" and not value > 0:
                    raise ValueError(
                        f"MomentumScheduler: {name} was built with momentum={value!r}; Keras keeps a momentum "
                        f"buffer only when it is > 0: build it with momentum > 0 (e.g. {name}(momentum=0.9))"
                    )
                return optimizer, attr
        raise ValueError(f"MomentumScheduler: {name} has neither a numeric beta_1 nor momentum to drive")

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Keras's hook: refuses a compiled train step (ValueError), then sets the first update's momentum."""
        model = self.model
        eager = model.run_eagerly or (keras.backend.backend() == "torch" and not model.jit_compile)
        if not eager:
            raise ValueError(
                f"MomentumScheduler: the {keras.backend.backend()} backend's compiled train step would keep the first "
                "momentum; compile the model with run_eagerly=True (or use the torch backend without jit_compile)"
            )
        self._set()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Keras's hook: sets the momentum (or beta_1) to `schedule(optimizer.iterations)` before the batch."""
        self._set()

    def _set(self) -> None:
        optimizer, attr = self._target()
        step = int(keras.ops.convert_to_numpy(optimizer.iterations))
        setattr(optimizer, attr, float(self.schedule(step)))


# -- the range test -----------------------------------------------------------------------------
def _variables(model: Any) -> list[Any]:
    """Every variable a range test moves: the model's (weights, batch-norm statistics, dropout seed states), the
    optimizer's (iterations, rate, moments) and the compiled metrics'."""
    seen: dict[int, Any] = {}
    for v in [*model.variables, *model.optimizer.variables, *(v for m in model.metrics for v in m.variables)]:
        seen.setdefault(id(v), v)
    return list(seen.values())


def find_lr(
    model: Any,
    x: Any,
    y: Any,
    *,
    batch_size: int = 32,
    shuffle: bool = True,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = BETA,
    diverge: float | None = DIVERGE,
    restore: bool = True,
    seed: int | None = 0,
) -> Any:
    """The learning-rate range test on a compiled Keras model: an `lrlab.rangetest.RangeTest` (rates, losses,
    smoothed losses, every rule's suggestion, `plot()`, `to_frame()`).

    Update t + 1 is `model.train_on_batch` on the next batch of (x, y) (numpy arrays; reshuffled each pass with
    numpy's generator of `seed` when `shuffle`, never the global one) at the rate
    `lrlab.rangetest.sweep(start_lr, end_lr, steps, mode)(t)`. Smoothing and stopping as `lrlab.torch.find_lr`.
    The optimizer holds a number as its rate, or an `lrlab.keras.Schedule` (the sweep then runs through the
    Schedule's scale and floor, put back afterwards, so a model compiled for `fit` is tested as it is); another
    LearningRateSchedule cannot be overridden: ValueError.

    restore=True puts back every variable the test moved (weights, batch-norm statistics, dropout seed states,
    the optimizer's iterations, rate and moments, the metrics) and the RNG states of numpy, random and (on the
    torch backend) torch, so training
    after `find_lr` equals training without it. An optimizer not built before the test stays built (its slots at
    their initial zeros).

    Args:
        model: a compiled Keras model (its optimizer holding a float rate or an lrlab.keras.Schedule).
        x: the inputs (a numpy array or anything `np.asarray` reads), one row per sample.
        y: the targets, as long as x.
        batch_size: samples per update, an integer >= 1.
        shuffle: reshuffle the samples at each pass (with numpy's generator of `seed`).
        start_lr: the rate of the first update (> 0).
        end_lr: the rate of the last planned update (> start_lr).
        steps: the number of updates (optimizer steps) planned, an integer >= 2.
        mode: "exp" or "linear" rise.
        beta: the smoothing of the loss, in [0, 1).
        diverge: stop after the smoothed loss exceeds this many times its best (> 1), or None.
        restore: put the variables and RNG states back afterwards.
        seed: the seed of the shuffling generator, also stored in the result.

    Returns:
        An `lrlab.rangetest.RangeTest`.

    Raises:
        ValueError: a bad setting, an uncompiled model, an optimizer holding a LearningRateSchedule other than
            an lrlab.keras.Schedule, no samples,
            or x and y of different lengths.

    Reference:
        The rates follow the sweep and the test stops on divergence, and training after it equals training
        without it (tests/test_keras_find_lr.py).

    Examples:
        >>> import keras, numpy as np
        >>> from lrlab.keras import find_lr
        >>> keras.utils.set_random_seed(0)
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.1), loss="mse")
        >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(-1, 1)
        >>> before = model.get_weights()[0].copy()
        >>> rt = find_lr(model, x, 3 * x, batch_size=8, start_lr=1e-3, end_lr=10.0, steps=20)
        >>> len(rt.lrs), rt.stopped, bool((model.get_weights()[0] == before).all())
        (20, None, True)
    """
    import random

    from .rangetest import RangeTest, Settings, Tracker

    settings = Settings(start_lr, end_lr, steps, mode, beta, diverge)
    batch_size = _check.whole("find_lr", "batch_size", batch_size, 1)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("find_lr: model must be compiled (model.compile(optimizer, loss)) before the range test")
    held = _inner(model.optimizer)._learning_rate
    if isinstance(held, keras.optimizers.schedules.LearningRateSchedule) and not isinstance(held, Schedule):
        raise ValueError(
            f"find_lr: the model's optimizer holds a {type(held).__name__}; compile it with a float learning rate "
            "or an lrlab.keras.Schedule for the range test"
        )
    # an lrlab Schedule runs the sweep through its floor: rate = max(s(step) * 0, min_lr) = min_lr; put back after
    swept = (held, held.scale, held.min_lr) if isinstance(held, Schedule) else None
    xs, ys = np.asarray(x), np.asarray(y)
    if len(xs) == 0:
        raise ValueError("find_lr: x holds no samples; the range test needs training data")
    if len(xs) != len(ys):
        raise ValueError(f"find_lr: x and y differ in length: {len(xs)} != {len(ys)}")
    model.optimizer.build(model.trainable_variables) if not model.optimizer.built else None
    saved = [(v, keras.ops.convert_to_numpy(v.value).copy()) for v in _variables(model)] if restore else []
    np_state, py_state = np.random.get_state(), random.getstate()
    torch_state = _torch_rng() if restore else None
    lazy = _lazy_builds(model) if restore else []
    schedule = settings.schedule
    rng = np.random.default_rng(seed)
    tracker = Tracker(settings.beta, settings.diverge)
    lrs: list[float] = []
    order = np.arange(len(xs))
    at = len(xs)
    try:
        for t in range(settings.steps):
            if at >= len(xs):
                order = rng.permutation(len(xs)) if shuffle else np.arange(len(xs))
                at = 0
            idx = order[at : at + batch_size]
            at += batch_size
            lr = schedule(t)
            if swept is not None:
                swept[0].scale, swept[0].min_lr = 0.0, lr
            else:
                model.optimizer.learning_rate = lr
            logs = model.train_on_batch(xs[idx], ys[idx], return_dict=True)
            lrs.append(lr)
            if tracker.add(float(logs["loss"])):
                break
    finally:
        if swept is not None:  # the optimizer's schedule as it was, restore or not
            swept[0].scale, swept[0].min_lr = swept[1], swept[2]
        if restore:
            for v, value in saved:
                v.assign(value)
            np.random.set_state(np_state)
            random.setstate(py_state)
            if torch_state is not None:
                import torch

                torch.set_rng_state(torch_state)
            for obj, name, value in lazy:
                setattr(obj, name, value)
    return RangeTest.from_tracker(lrs, tracker, settings, seed=seed)


def _lazy_builds(model: Any) -> list[tuple[Any, str, Any]]:
    """What Keras builds at a model's first training call and then skips (the compiled loss and metrics, the
    train function), as (object, attribute, value) to put back: a first `fit` after the test then builds them as it
    would have, drawing the same batch (and the same random numbers) for it."""
    out: list[tuple[Any, str, Any]] = [(model, "train_function", getattr(model, "train_function", None))]
    for name in ("_compile_loss", "_compile_metrics"):
        part = getattr(model, name, None)
        if part is not None and hasattr(part, "built"):
            out.append((part, "built", part.built))
    return out


def _torch_rng() -> Any:
    """torch's CPU RNG state on the torch backend (its training steps draw from it), else None."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch.get_rng_state()


def experiment(
    build: Callable[[int], Any],
    x: Any,
    y: Any = None,
    *,
    validation_data: Any = None,
    epochs: int,
    metric: str | None,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    mode: str | None = None,
    version: str | int = "1",
    name: str | None = None,
    fit_kwargs: dict[str, Any] | None = None,
) -> Callable[[Any], Any]:
    """A Keras `model.fit` as a target of the lab's studies, in one line: `compare(experiment(...), specs)`.

    Every run calls `build(run.seed)` for a compiled model, gives its optimizer the run's schedule (a `Schedule`
    holding the plateau's scale, when the entry has one), fits it for the run's epochs and tells the run what fit
    did: each update's loss (read from the loss tracker's sum and count, so it is the update's own loss, not
    Keras's running mean of the epoch) and each epoch's logs (`run.report`; a pruned or diverged run stops there,
    inside fit; a study's budget in steps ends fit at its last update). The result is a training function declared
    for the lab (`lrlab.lab.experiment` turns it into an
    Experiment; the studies accept it as it is); it does not import the lab.

    Args:
        build: build(seed) -> a compiled Keras model (its optimizer's rate is replaced by the run's schedule).
        x: the inputs as `fit` takes them (arrays, a dict of arrays, a `keras.utils.PyDataset`), or a function
            seed -> such data or a generator (a generator is used up by one run, so pass the function making it).
        y: the targets, for array inputs.
        validation_data: as `fit` takes it; its metrics (val_*) are reported every epoch.
        epochs: the epochs of a run (a study may ask another budget).
        metric: the reported figure ranked, e.g. "val_accuracy" (None: the final training loss).
        batch_size: as `fit` takes it (arrays only; Keras's default is 32).
        steps_per_epoch: updates per epoch; needed for generators, found from the data otherwise.
        mode: "max" or "min" (default: from the metric's name).
        version: bump it when what `build` or the data train changes (stored runs of another version are not reused).
        name: how runs are stored (default: build's name).
        fit_kwargs: more keyword arguments for `fit` (callbacks are added to the lab's).

    Returns:
        The training function, fn(run), carrying its declaration (`fn.__lrlab_experiment__`).

    Raises:
        ValueError: a bad setting, a generator object as x, or data whose steps per epoch cannot be found.

    Examples:
        >>> import keras, numpy as np
        >>> import lrlab.keras
        >>> def build(seed):
        ...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ...     model.compile(keras.optimizers.SGD(), loss="mse")
        ...     return model
        >>> x = np.zeros((64, 2), "float32"); y = np.zeros((64, 1), "float32")
        >>> fn = lrlab.keras.experiment(build, x, y, epochs=2, batch_size=16, metric=None)
        >>> fn.__lrlab_experiment__["steps_per_epoch"], fn.__lrlab_experiment__["name"]
        (4, 'build')
    """
    who = "lrlab.keras.experiment"
    if not callable(build):
        raise _check.fail(who, "build", "a function seed -> compiled model", build)
    _check.whole(who, "epochs", epochs, 1)
    _check.whole(who, "batch_size", batch_size, 1, optional=True)
    _check.whole(who, "steps_per_epoch", steps_per_epoch, 1, optional=True)
    if fit_kwargs is not None and not isinstance(fit_kwargs, dict):
        raise _check.fail(who, "fit_kwargs", "a dict of fit's keyword arguments", fit_kwargs)
    extra = dict(fit_kwargs or {})
    for taken in ("epochs", "x", "y", "validation_data", "batch_size", "steps_per_epoch", "verbose"):
        if taken in extra:
            raise ValueError(f"{who}: fit_kwargs must not hold {taken!r}, got {extra[taken]!r} (the builder sets it)")
    if hasattr(x, "__next__") and not isinstance(x, keras.utils.PyDataset):
        raise ValueError(f"{who}: x is a generator, got {_check.shown(x)}; a generator is used up by one run: pass "
                         "a function seed -> generator")
    spe = steps_per_epoch if steps_per_epoch is not None else _steps_per_epoch(x, batch_size)
    if spe is None:
        raise ValueError(f"{who}: steps_per_epoch is needed for x={_check.shown(x)} (its length is unknown)")
    user_callbacks = list(extra.pop("callbacks", []) or [])
    data_fn = x if callable(x) and not isinstance(x, keras.utils.PyDataset) else None

    def train(run: Any) -> None:
        model = build(run.seed)
        if getattr(model, "optimizer", None) is None:
            raise ValueError(f"{who}: build({run.seed}) returned a model without an optimizer: compile it")
        schedule = Schedule(run.schedule)
        _inner(model.optimizer).learning_rate = schedule
        data = data_fn(run.seed) if data_fn is not None else x
        generator = hasattr(data, "__next__") and not isinstance(data, keras.utils.PyDataset)
        model.fit(data, y, batch_size=batch_size, epochs=run.epochs, validation_data=validation_data, verbose=0,
                  steps_per_epoch=spe if generator else steps_per_epoch,
                  callbacks=[*user_callbacks, _LabCallback(run, schedule)], **extra)

    train.__lrlab_experiment__ = {  # type: ignore[attr-defined]
        "epochs": epochs, "steps_per_epoch": spe, "metric": metric, "mode": mode, "version": version,
        "name": name if name is not None else getattr(build, "__name__", None),
        "module": getattr(build, "__module__", None)}
    return train


def _steps_per_epoch(x: Any, batch_size: int | None) -> int | None:
    """Updates per epoch of fit on x: len(x) for a PyDataset, ceil(samples / batch_size) for arrays, else None."""
    if isinstance(x, keras.utils.PyDataset):
        return len(x)
    if callable(x):
        return None
    leaves = keras.tree.flatten(x)
    if not leaves or not hasattr(leaves[0], "shape"):
        return None
    return math.ceil(int(leaves[0].shape[0]) / (batch_size or 32))


class _LabCallback(keras.callbacks.Callback):
    """What `experiment` tells the run: each update's loss (the loss tracker's sum and count differences: Keras's
    batch `logs["loss"]` is the epoch's running mean, weighted by batch size), each epoch's logs, and the plateau's
    scale copied onto the optimizer's Schedule after each report."""

    def __init__(self, run: Any, schedule: Schedule) -> None:
        super().__init__()
        self.run, self.schedule = run, schedule
        self.tracker: Any = None
        self.sums = (0.0, 0.0)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.tracker = next((m for m in self.model.metrics if m.name == "loss" and hasattr(m, "count")), None)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.sums = (0.0, 0.0)  # Keras resets its metrics at every epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.tracker is None:  # no loss tracker (a custom train_step): the batch's logged loss
            if logs and "loss" in logs:
                self.run.log_step(float(logs["loss"]))
                self._stop_at_budget()
            return
        total = float(keras.ops.convert_to_numpy(self.tracker.total))
        count = float(keras.ops.convert_to_numpy(self.tracker.count))
        self.run.log_step((total - self.sums[0]) / max(count - self.sums[1], 1e-12))
        self.sums = (total, count)
        self._stop_at_budget()

    def _stop_at_budget(self) -> None:
        """A budget in steps (compare(..., steps=N)) ends fit at its last update, inside the last epoch."""
        if self.run.config.get("steps") is not None and len(self.run.step_loss) >= self.run.steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        numbers = {k: float(keras.ops.convert_to_numpy(v)) for k, v in (logs or {}).items()
                   if k != "learning_rate" and np.size(keras.ops.convert_to_numpy(v)) == 1}
        self.run.report(epoch + 1, **numbers)  # raises to stop fit when the study prunes the run
        if self.run.plateau is not None:
            self.schedule.scale, self.schedule.min_lr = self.run.plateau.scale, self.run.plateau.min_lr
