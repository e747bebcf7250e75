"""Monotone decays: constant, step, multistep, piecewise, exponential, inverse time, polynomial, linear.

Each formula follows its reference's order of operations, so values agree with it to the last bit
or two in float64.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule, multiples


class constant(Schedule):
    """Constant rate: the same learning rate at every step.

    The baseline every other schedule is compared with, and a building block for `join` (a plateau between two
    phases) and `per_epoch`.

    Formula, at optimizer step t:

        lr(t) = lr

    Args:
        lr: the rate at every step (>= 0).

    Reference:
        Equals optax `constant_schedule(lr)`, checked inside `join` in test_join_schedules of
        tests/schedules/test_sched_parity_optax.py (to 1e-13 relative). Keras and torch need no schedule for a
        constant rate (a float). torch's `ConstantLR(factor, total_iters)` is a different schedule (the rate times
        `factor` for `total_iters` steps, then the full rate): write it as
        `join([constant(lr * factor), constant(lr)], [total_iters])`.

    Examples:
        >>> from lrlab import constant, join
        >>> s = constant(0.1)
        >>> s(0), s(1000)
        (0.1, 0.1)
        >>> j = join([constant(0.01), constant(0.1)], [5])
        >>> j(4), j(5)
        (0.01, 0.1)
    """

    kind = "constant"
    summary = "the same rate at every step"

    def __init__(self, lr: float) -> None:
        self._set(lr=check.rate(self.kind, "lr", lr))

    def apply(self, xp: Namespace, t: Any) -> Any:
        return t * 0.0 + self.lr


class step_decay(Schedule):
    """Step decay: the rate is multiplied by `drop` once every `step_size` steps.

    The classic staircase of torch's StepLR: hold a rate for a fixed number of steps, then cut it by a fixed
    factor (often 0.1 or 0.5). The same curve as `exponential(initial_lr, step_size, drop, staircase=True)`.

    Formula, at optimizer step t:

        lr(t) = initial_lr * drop ** (t // step_size)

    Args:
        initial_lr: the rate at step 0 (>= 0).
        drop: the factor applied at each boundary (> 0; above 1 the rate grows). torch calls it `gamma`.
        step_size: the period, in optimizer steps (an integer >= 1); wrap the schedule in `per_epoch` to count in
            epochs, as StepLR stepped once per epoch does.

    Reference:
        Equals torch `StepLR(optimizer, step_size, gamma=drop)` stepped once per optimizer step with the
        optimizer's lr = initial_lr (note the argument order: lrlab's `drop` comes before `step_size`). StepLR
        multiplies the rate recursively, lrlab computes the power in closed form: they differ by rounding, to
        1e-12 relative, tested in test_step_lr of tests/schedules/test_sched_parity_torch.py.

    Examples:
        >>> from lrlab import step_decay
        >>> s = step_decay(0.1, drop=0.5, step_size=30)
        >>> s(0), s(29), s(30), s(60)
        (0.1, 0.1, 0.05, 0.025)
    """

    kind = "step_decay"
    summary = "multiply by `drop` every `step_size` steps (torch StepLR)"

    def __init__(self, initial_lr: float, drop: float, step_size: int) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            drop=check.positive(k, "drop", drop),
            step_size=check.steps(k, "step_size", step_size),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return multiples(self.step_size, steps, "boundary")

    def apply(self, xp: Namespace, t: Any) -> Any:
        if not self.initial_lr:  # 0 * drop ** k stays 0 where a growing drop ** k overflows
            return t * 0.0
        return self.initial_lr * xp.pow(self.drop, xp.floordiv(t, self.step_size))


class multistep(Schedule):
    """Multi-step decay: the rate is multiplied by `gamma` at each milestone step.

    A staircase with irregular steps, as torch's MultiStepLR: the usual "divide by 10 at 50% and 75% of
    training".

    Formula, at optimizer step t:

        lr(t) = initial_lr * gamma ** (number of milestones m with m <= t)

    Args:
        initial_lr: the rate at step 0 (>= 0).
        milestones: the steps at which the rate is multiplied by `gamma`, in optimizer steps (integers >= 0 in
            non-decreasing order; a milestone given twice multiplies twice, as torch does).
        gamma: the factor applied at each milestone (> 0; above 1 the rate grows).

    Reference:
        Equals torch `MultiStepLR(optimizer, milestones, gamma)` stepped once per optimizer step with the
        optimizer's lr = initial_lr, exactly (bit for bit), tested in test_multistep_lr of
        tests/schedules/test_sched_parity_torch.py (repeated milestones and a milestone at 0 included).

    Examples:
        >>> from lrlab import multistep
        >>> s = multistep(0.1, [30, 80], gamma=0.5)
        >>> s(29), s(30), s(80)
        (0.1, 0.05, 0.025)
    """

    kind = "multistep"
    summary = "multiply by `gamma` at each milestone (torch MultiStepLR)"

    def __init__(self, initial_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            milestones=check.increasing_steps(k, "milestones", milestones, strict=False),
            gamma=check.positive(k, "gamma", gamma),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(m, "boundary") for m in self.milestones]

    def apply(self, xp: Namespace, t: Any) -> Any:
        if not self.initial_lr:  # 0 * gamma ** k stays 0 where a growing gamma ** k overflows
            return t * 0.0
        passed = t * 0.0
        for milestone in self.milestones:
            passed = passed + xp.where(t >= milestone, 1.0, 0.0)
        return self.initial_lr * xp.pow(self.gamma, passed)


class piecewise(Schedule):
    """Piecewise constant: `values[i]` up to and including step `boundaries[i]`, then the next value.

    Any staircase given by its values rather than by a factor, as Keras's PiecewiseConstantDecay. The pieces are
    right-inclusive: the new value starts at the step after a boundary.

    Formula, at optimizer step t:

        lr(t) = values[0]    for t <= boundaries[0]
        lr(t) = values[i]    for boundaries[i - 1] < t <= boundaries[i]
        lr(t) = values[-1]   for t > boundaries[-1]

    Args:
        boundaries: the last step of each piece but the last, in optimizer steps (numbers >= 0 in strictly
            increasing order; whole numbers are stored as ints).
        values: the rate of each piece (each >= 0), one more entry than `boundaries`.

    Reference:
        Equals Keras 3 `PiecewiseConstantDecay(boundaries, values)` (to 1e-15 relative), tested step by step,
        boundaries and their neighbours included, in test_piecewise_is_right_inclusive of
        tests/schedules/test_sched_parity_keras.py. optax's `piecewise_constant_schedule` takes multiplicative
        scales instead of values and is not compared.

    Examples:
        >>> from lrlab import piecewise
        >>> s = piecewise([100, 200], [0.1, 0.01, 0.001])
        >>> s(100), s(101), s(201)
        (0.1, 0.01, 0.001)
    """

    kind = "piecewise"
    summary = "values[i] up to and including boundaries[i] (Keras PiecewiseConstantDecay)"

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        k = self.kind
        bounds = check.number_list(k, "boundaries", boundaries)
        if any(not b >= 0 for b in bounds) or any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"{k}: boundaries must be numbers >= 0 in increasing order, got {boundaries!r}")
        rates = check.rates(k, "values", values)
        if len(rates) != len(bounds) + 1:
            raise ValueError(
                f"{k}: values must have one more entry than boundaries ({len(bounds) + 1}), got {values!r}"
            )
        self._set(boundaries=[int(b) if b == int(b) else float(b) for b in bounds], values=rates)

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(math.floor(b) + 1, "boundary") for b in self.boundaries]  # right-inclusive: b + 1 is new

    def apply(self, xp: Namespace, t: Any) -> Any:
        out = t * 0.0 + self.values[-1]
        for boundary, value in zip(reversed(self.boundaries), reversed(self.values[:-1])):
            out = xp.where(t <= boundary, value, out)
        return out


class exponential(Schedule):
    """Exponential decay: the rate is multiplied by `decay_rate` every `decay_steps` steps, smoothly or in stairs.

    The classic decay of Keras and TensorFlow: a fixed fraction of the rate is lost per period, so the rate halves
    (or falls tenfold) over the same number of steps wherever it is.

    Formula, at optimizer step t:

        lr(t) = initial_lr * decay_rate ** (t / decay_steps)      (staircase=False)
        lr(t) = initial_lr * decay_rate ** (t // decay_steps)     (staircase=True)

    Args:
        initial_lr: the rate at step 0 (>= 0).
        decay_steps: the period, in optimizer steps (an integer >= 1); wrap the schedule in `per_epoch` to count
            in epochs.
        decay_rate: the factor per period (> 0; above 1 the rate grows).
        staircase: True drops the rate once per period (integer division of t), False decays it at every step.

    Reference:
        Equals Keras 3 `ExponentialDecay(initial_lr, decay_steps, decay_rate, staircase)` (to 1e-15 relative) and
        optax `exponential_decay(initial_lr, decay_steps, decay_rate, staircase=staircase)` (to 1e-13), tested
        step by step in tests/schedules/test_sched_parity_keras.py and test_sched_parity_optax.py. optax's
        `transition_begin` and `end_value` have no counterpart: write `join([constant(lr), exponential(...)],
        [begin])` and `.clip(end_value)`.

    Examples:
        >>> from lrlab import exponential
        >>> s = exponential(0.1, decay_steps=10, decay_rate=0.5)
        >>> s(0), s(10), s(20)
        (0.1, 0.05, 0.025)
        >>> round(s(15), 6)
        0.035355
        >>> exponential(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(15)
        0.05
    """

    kind = "exponential"
    summary = "initial_lr * decay_rate ** (t / decay_steps), floored if staircase (Keras ExponentialDecay)"

    def __init__(self, initial_lr: float, decay_steps: int, decay_rate: float, staircase: bool = False) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            decay_steps=check.steps(k, "decay_steps", decay_steps),
            decay_rate=check.positive(k, "decay_rate", decay_rate),
            staircase=check.boolean(k, "staircase", staircase),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return multiples(self.decay_steps, steps, "boundary") if self.staircase else []

    def apply(self, xp: Namespace, t: Any) -> Any:
        if not self.initial_lr:  # 0 * decay_rate ** p stays 0 where a growing decay_rate ** p overflows
            return t * 0.0
        p = xp.floordiv(t, self.decay_steps) if self.staircase else t / self.decay_steps
        return self.initial_lr * xp.pow(self.decay_rate, p)


class inverse_time(Schedule):
    """Inverse-time decay: the rate falls as 1 / (1 + decay_rate * t / decay_steps), smoothly or in stairs.

    A slow, hyperbolic decay (the 1/t rate of stochastic approximation) as Keras's InverseTimeDecay: it falls
    quickly at first and ever more slowly, never reaching 0.

    Formula, at optimizer step t:

        lr(t) = initial_lr / (1 + decay_rate * t / decay_steps)      (staircase=False)
        lr(t) = initial_lr / (1 + decay_rate * (t // decay_steps))   (staircase=True)

    Args:
        initial_lr: the rate at step 0 (>= 0).
        decay_steps: the time scale, in optimizer steps (an integer >= 1); wrap the schedule in `per_epoch` to
            count in epochs.
        decay_rate: how fast the rate falls per `decay_steps` (>= 0; 0 keeps it constant).
        staircase: True changes the rate once per period (integer division of t), False at every step.

    Reference:
        Equals Keras 3 `InverseTimeDecay(initial_lr, decay_steps, decay_rate, staircase)` (to 1e-15 relative),
        tested step by step in test_inverse_time of tests/schedules/test_sched_parity_keras.py. torch and optax
        have no inverse-time schedule.

    Examples:
        >>> from lrlab import inverse_time
        >>> s = inverse_time(0.1, decay_steps=10, decay_rate=0.5)
        >>> round(s(10), 6), round(s(15), 6)
        (0.066667, 0.057143)
        >>> round(inverse_time(0.1, decay_steps=10, decay_rate=0.5, staircase=True)(15), 6)
        0.066667
    """

    kind = "inverse_time"
    summary = "initial_lr / (1 + decay_rate * t / decay_steps) (Keras InverseTimeDecay)"

    def __init__(self, initial_lr: float, decay_steps: int, decay_rate: float, staircase: bool = False) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            decay_steps=check.steps(k, "decay_steps", decay_steps),
            decay_rate=check.rate(k, "decay_rate", decay_rate),
            staircase=check.boolean(k, "staircase", staircase),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return multiples(self.decay_steps, steps, "boundary") if self.staircase else []

    def apply(self, xp: Namespace, t: Any) -> Any:
        p = xp.floordiv(t, self.decay_steps) if self.staircase else t / self.decay_steps
        return self.initial_lr / (1 + self.decay_rate * p)


def _power(xp: Namespace, base: Any, power: float) -> Any:
    """base ** power, computed the same way on Python floats and on arrays.

    numpy (and torch) compute `array ** 2.0` as a square and `array ** 0.5` as a square root, while Python's
    `**` calls pow(), which can differ in the last bit; spelling both out keeps s(t) == s(array)[t].
    """
    if power == 2.0:
        return base * base
    if power == 0.5:
        return xp.sqrt(base)
    return xp.pow(base, power)


class polynomial(Schedule):
    """Polynomial decay from `initial_lr` to `end_lr` over `decay_steps` steps, then held (or restarted if `cycle`).

    power=1 is a straight line, power=2 a decay that slows towards its end, power=0.5 one that falls fastest at
    its end. As Keras's PolynomialDecay, the default `end_lr` is 1e-4, not 0.

    Formula, at optimizer step t:

        lr(t) = (initial_lr - end_lr) * (1 - min(t, decay_steps) / decay_steps) ** power + end_lr    (cycle=False)
        lr(t) = (initial_lr - end_lr) * (1 - t / D) ** power + end_lr                              (cycle=True)

    where D = decay_steps * max(1, ceil(t / decay_steps)): with `cycle` the decay restarts after each multiple of
    decay_steps, stretched to the next multiple, so each restart jumps to a lower peak.

    Args:
        initial_lr: the rate at step 0 (>= 0).
        decay_steps: the length of the decay, in optimizer steps (an integer >= 1); None leaves it to
            `.stretch(total_steps)` (the schedule cannot be evaluated until then). Wrap the schedule in
            `per_epoch` to count in epochs.
        end_lr: the rate reached at `decay_steps` (>= 0; may be above initial_lr, then the rate grows).
        power: the exponent of the polynomial (> 0).
        cycle: True restarts the decay after each multiple of `decay_steps` (Keras's cycle), False holds end_lr.

    Reference:
        Equals Keras 3 `PolynomialDecay(initial_lr, decay_steps, end_lr, power, cycle)` (to 1e-15 relative,
        test_polynomial in tests/schedules/test_sched_parity_keras.py); torch `PolynomialLR(optimizer,
        total_iters=decay_steps, power=power)` with end_lr=0.0 (to 1e-12, test_polynomial_lr in
        test_sched_parity_torch.py; torch has no end value and no cycle); and optax `polynomial_schedule(
        initial_lr, end_lr, power, decay_steps)` (to 1e-13, test_polynomial_schedule in
        test_sched_parity_optax.py; optax's `transition_begin` has no counterpart, use `join`). Difference:
        1 - t / decay_steps is clamped at 0, so under jax.jit, where XLA's t * (1 / decay_steps) can land a hair
        above 1 at the last step, a fractional power stays finite where optax's gives NaN
        (test_polynomial_stays_finite_under_jit_where_optax_gives_nan).

    Examples:
        >>> from lrlab import polynomial
        >>> s = polynomial(0.1, decay_steps=100, end_lr=0.001, power=2.0)
        >>> s(0), round(s(50), 6), s(100), s(150)
        (0.1, 0.02575, 0.001, 0.001)
        >>> polynomial(0.1).stretch(1000)
        polynomial(0.1, decay_steps=1000)
    """

    kind = "polynomial"
    summary = "from initial_lr to end_lr as (1 - t/decay_steps) ** power (Keras PolynomialDecay)"
    length_param = "decay_steps"

    def __init__(
        self,
        initial_lr: float,
        decay_steps: int | None = None,
        end_lr: float = 1e-4,
        power: float = 1.0,
        cycle: bool = False,
    ) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            decay_steps=check.steps(k, "decay_steps", decay_steps, optional=True),
            end_lr=check.rate(k, "end_lr", end_lr),
            power=check.positive(k, "power", power),
            cycle=check.boolean(k, "cycle", cycle),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        if self.cycle:
            return multiples(self.decay_steps, steps, "restart")
        return [(int(self.decay_steps), "phase end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        decay_steps = self.decay_steps
        if self.cycle:
            multiplier = xp.where(t == 0, 1.0, xp.ceildiv(t, decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            t = xp.minimum(t, decay_steps)
        # XLA turns t / decay_steps into t * (1 / decay_steps), which can land a hair above 1 at the end:
        # the clamp keeps (1 - p) ** 0.5 from giving NaN under jit (optax's polynomial_schedule does).
        p = t / decay_steps
        return (self.initial_lr - self.end_lr) * _power(xp, xp.maximum(1 - p, 0.0), self.power) + self.end_lr


class linear(Schedule):
    """Linear schedule: a straight line from `start_lr` to `end_lr` over `steps` steps, then held at `end_lr`.

    The simplest warmup (start_lr below end_lr) or decay to zero (end_lr=0, the default), as optax's
    linear_schedule and torch's LinearLR.

    Formula, at optimizer step t:

        lr(t) = (start_lr - end_lr) * (1 - min(t, steps) / steps) + end_lr

    Args:
        start_lr: the rate at step 0 (>= 0).
        end_lr: the rate reached at step `steps` and held after it (>= 0).
        steps: the length of the line, in optimizer steps (an integer >= 1); None leaves it to
            `.stretch(total_steps)` (the schedule cannot be evaluated until then). Wrap the schedule in
            `per_epoch` to count in epochs.

    Reference:
        Equals optax `linear_schedule(start_lr, end_lr, steps)` (to 1e-13 relative, test_linear_schedule in
        tests/schedules/test_sched_parity_optax.py; optax's `transition_begin` has no counterpart, use `join`)
        and torch `LinearLR(optimizer, start_factor, end_factor, total_iters)` with an optimizer lr of `lr` as
        `linear(lr * start_factor, lr * end_factor, total_iters)` (to 1e-12: LinearLR updates the rate
        recursively; test_linear_lr in test_sched_parity_torch.py).

    Examples:
        >>> from lrlab import linear
        >>> s = linear(0.0, 0.1, steps=10)
        >>> s(0), s(5), s(10), s(20)
        (0.0, 0.05, 0.1, 0.1)
        >>> linear(0.1).stretch(100)
        linear(0.1, steps=100)
    """

    kind = "linear"
    summary = "straight line from start_lr to end_lr over `steps`, then end_lr (optax linear_schedule)"
    length_param = "steps"

    def __init__(self, start_lr: float, end_lr: float = 0.0, steps: int | None = None) -> None:
        k = self.kind
        self._set(
            start_lr=check.rate(k, "start_lr", start_lr),
            end_lr=check.rate(k, "end_lr", end_lr),
            steps=check.steps(k, "steps", steps, optional=True),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(int(self.steps), "phase end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        frac = 1 - xp.minimum(t, self.steps) / self.steps
        return (self.start_lr - self.end_lr) * frac + self.end_lr
