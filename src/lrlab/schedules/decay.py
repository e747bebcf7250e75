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
    kind = "constant"
    summary = "the same rate at every step"

    def __init__(self, lr: float) -> None:
        self._set(lr=check.rate(self.kind, "lr", lr))

    def apply(self, xp: Namespace, t: Any) -> Any:
        return t * 0.0 + self.lr


class step_decay(Schedule):
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
        return self.initial_lr * self.drop ** xp.floordiv(t, self.step_size)


class multistep(Schedule):
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
        return self.initial_lr * self.gamma**passed


class piecewise(Schedule):
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

    Example:
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
        return self.initial_lr * self.decay_rate**p


class inverse_time(Schedule):
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
    return base**power


class polynomial(Schedule):
    """Polynomial decay, equal to Keras's PolynomialDecay (cycle included), to torch's PolynomialLR with
    end_lr=0 and to optax's polynomial_schedule. 1 - t / decay_steps is clamped at 0, so a fractional power
    stays finite under jax.jit where optax's gives NaN at the last step."""

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
