"""Schedules made of schedules: warmup, join, per_epoch, scale (`s * k`), product (`s1 * s2`) and clip
(`s.clip(lo, hi)`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule, format_value


def _schedule(kind: str, name: str, value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise ValueError(f"{kind}: {name} must be a schedule, got {value!r}")
    return value


class warmup(Schedule):
    """A linear warmup in front of any schedule: ramp from `start_lr` to the schedule's first value, then run it.

    Large rates at the start of training diverge before the optimizer's statistics settle; a short ramp avoids
    that without changing the schedule after it. The wrapped schedule starts counting its steps at the end of
    the warmup (its step 0 is step `steps`), so its length does not include the warmup.

    Formula, at optimizer step t, with peak = schedule(0):

        lr(t) = start_lr + (peak - start_lr) * t / steps       (t < steps)
        lr(t) = schedule(t - steps)                            (t >= steps)

    (computed as (start_lr - peak) * (1 - t / max(steps, 1)) + peak.)

    Args:
        schedule: the schedule that follows the warmup (a Schedule); lengths it leaves out are bound by
            `stretch(total_steps)` to total_steps - steps (at least 1).
        steps: the warmup's length, in optimizer steps (an integer >= 0; 0 is no warmup).
        start_lr: the rate at step 0 (>= 0).

    Reference:
        `warmup(cosine(peak, decay_steps - warmup_steps, alpha=end / peak), warmup_steps, start_lr=init)` equals
        optax's `warmup_cosine_decay_schedule(init, peak, warmup_steps, decay_steps, end)` to rtol=1e-13
        (tests/schedules/test_sched_parity_optax.py, test_warmup_cosine_decay_schedule; optax's decay_steps
        include the warmup). `warmup(cosine(...), warmup_t, start_lr=warmup_lr_init)` equals timm's
        CosineLRScheduler with `warmup_prefix=True`, stepped per update, to rtol=1e-12
        (tests/schedules/test_sched_parity_timm.py, test_warmup_of_cosine_equals_timm_warmup_prefix). timm's
        default `warmup_prefix=False` (the decay also counts the warmup steps) has no counterpart here.

    Examples:
        >>> from lrlab import cosine, warmup
        >>> s = warmup(cosine(0.1, 90), 10)
        >>> s(0), s(5), s(10), round(s(55), 6)
        (0.0, 0.05, 0.1, 0.05)
    """

    kind = "warmup"
    summary = "linear ramp from start_lr to schedule(0) over `steps`, then schedule(t - steps)"

    def __init__(self, schedule: Schedule, steps: int, start_lr: float = 0.0) -> None:
        k = self.kind
        self._set(
            schedule=_schedule(k, "schedule", schedule),
            steps=check.steps(k, "steps", steps, minimum=0),
            start_lr=check.rate(k, "start_lr", start_lr),
        )
        object.__setattr__(self, "_peak", schedule(0) if schedule.is_bound else None)
        self._set(host_only=schedule.host_only)

    def events(self, steps: int) -> list[tuple[int, str]]:
        inner = [(t + self.steps, k) for t, k in self.schedule.events(max(steps - self.steps, 0))]
        return [(self.steps, "warmup end"), *inner]

    def apply(self, xp: Namespace, t: Any) -> Any:
        steps = self.steps
        ramp = (self.start_lr - self._peak) * (1 - t / max(steps, 1)) + self._peak
        rest = self.schedule.apply(xp, xp.maximum(t - steps, 0.0))
        return xp.where(t < steps, ramp, rest)

    def stretch(self, total_steps: int) -> Schedule:
        rest = max(check.steps(self.kind, "total_steps", total_steps) - self.steps, 1)
        return self.replace(schedule=self.schedule.stretch(rest))


class join(Schedule):
    """Schedules one after another: `schedules[i]` runs from `boundaries[i-1]` up to `boundaries[i]`.

    Builds multi-phase recipes (warmup, plateau, decay, ...) from simple pieces. Each piece counts its steps
    from its own start, so a piece's value at the step it starts is its value at 0.

    Formula, at optimizer step t, with b_0 = 0 < b_1 < ... the boundaries:

        lr(t) = schedules[i](t - b_i)     (b_i <= t < b_(i+1); the last piece runs on forever)

    Args:
        schedules: the pieces, in order (a non-empty list of Schedules).
        boundaries: the steps where each piece after the first starts, in optimizer steps (increasing
            integers, one fewer than the schedules).

    Reference:
        Equals optax's `join_schedules(schedules, boundaries)`, nested joins included, to rtol=1e-13
        (tests/schedules/test_sched_parity_optax.py, test_join_schedules). `stretch(total_steps)` binds each
        piece to its own span, the last one to total_steps - boundaries[-1] (at least 1).

    Examples:
        >>> from lrlab import constant, exponential, join
        >>> s = join([constant(0.1), exponential(0.1, decay_steps=10, decay_rate=0.5)], [50])
        >>> s(49), s(50), s(60)
        (0.1, 0.1, 0.05)
    """

    kind = "join"
    summary = "schedules[i] from boundaries[i-1] on, each counting its steps from its own start (optax)"

    def __init__(self, schedules: Sequence[Schedule], boundaries: Sequence[int]) -> None:
        k = self.kind
        if isinstance(schedules, (str, bytes, Schedule)) or not isinstance(schedules, Sequence) or not schedules:
            raise ValueError(f"{k}: schedules must be a non-empty list of schedules, got {schedules!r}")
        pieces = [_schedule(k, "schedules", s) for s in schedules]
        bounds = check.increasing_steps(k, "boundaries", boundaries)
        if len(bounds) != len(pieces) - 1:
            raise ValueError(
                f"{k}: boundaries must have one entry fewer than schedules ({len(pieces) - 1}), got {boundaries!r}"
            )
        self._set(schedules=pieces, boundaries=bounds, host_only=any(s.host_only for s in pieces))

    def events(self, steps: int) -> list[tuple[int, str]]:
        out = []
        for piece, start, end in zip(self.schedules, [0, *self.boundaries], [*self.boundaries, steps]):
            out += [(start + t, k) for t, k in piece.events(max(end - start, 0)) if t < end - start]
        return out + [(b, "boundary") for b in self.boundaries]

    def apply(self, xp: Namespace, t: Any) -> Any:
        out = self.schedules[0].apply(xp, t)
        for boundary, piece in zip(self.boundaries, self.schedules[1:]):
            out = xp.where(t < boundary, out, piece.apply(xp, xp.maximum(t - boundary, 0.0)))
        return out

    def stretch(self, total_steps: int) -> Schedule:
        total = check.steps(self.kind, "total_steps", total_steps)
        ends = [*self.boundaries, max(total, self.boundaries[-1] + 1 if self.boundaries else total)]
        starts = [0, *self.boundaries]
        return self.replace(schedules=[s.stretch(e - b) for s, b, e in zip(self.schedules, starts, ends)])


class per_epoch(Schedule):
    """A schedule counted in epochs, held constant through each epoch of `steps_per_epoch` optimizer steps.

    Every other kind counts optimizer steps; this wrapper turns the inner schedule's unit into epochs, for the
    recipes written per epoch (timm's default, Keras's LearningRateScheduler, torch schedulers stepped once an
    epoch).

    Formula, at optimizer step t:

        lr(t) = schedule(t // steps_per_epoch)

    Args:
        schedule: the schedule, its step argument and all its lengths counted in epochs (a Schedule).
        steps_per_epoch: the optimizer steps in one epoch (an integer >= 1).

    Reference:
        `per_epoch(noise(cosine(...), ...), steps_per_epoch)` equals timm's CosineLRScheduler with
        `t_in_epochs=True` stepped once an epoch, to rtol=1e-12 (tests/schedules/test_sched_parity_timm.py,
        test_noise_per_epoch_is_timms_t_in_epochs). Training with it per step gives the weights of Keras's
        `LearningRateScheduler` fed the inner schedule per epoch, to rtol=1e-6 in float32
        (tests/test_keras_adapter.py, test_epoch_function_with_keras_learning_rate_scheduler).
        `stretch(total_steps)` binds the inner lengths to ceil(total_steps / steps_per_epoch) epochs.

    Examples:
        >>> from lrlab import per_epoch, step_decay
        >>> s = per_epoch(step_decay(0.1, drop=0.5, step_size=2), steps_per_epoch=100)
        >>> s(199), s(200), s(399)
        (0.1, 0.05, 0.05)
    """

    kind = "per_epoch"
    summary = "schedule indexed by epoch, held for steps_per_epoch steps (Keras LearningRateScheduler)"

    def __init__(self, schedule: Schedule, steps_per_epoch: int) -> None:
        k = self.kind
        self._set(
            schedule=_schedule(k, "schedule", schedule),
            steps_per_epoch=check.steps(k, "steps_per_epoch", steps_per_epoch),
            host_only=schedule.host_only,
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        spe = self.steps_per_epoch
        return [(t * spe, k) for t, k in self.schedule.events(math.ceil(steps / spe))]

    def apply(self, xp: Namespace, t: Any) -> Any:
        return self.schedule.apply(xp, xp.floordiv(t, self.steps_per_epoch))

    def stretch(self, total_steps: int) -> Schedule:
        total = check.steps(self.kind, "total_steps", total_steps)
        return self.replace(schedule=self.schedule.stretch(math.ceil(total / self.steps_per_epoch)))


class scale(Schedule):
    """A schedule times a constant factor, written `s * k` (or `k * s`).

    Rescales a whole recipe (e.g. for a larger batch size) without rewriting each of its rates. A factor of 0
    gives 0 at every step, even where the schedule grows to inf; factors whose product overflows are refused.

    Formula, at optimizer step t:

        lr(t) = schedule(t) * factor

    Args:
        schedule: the schedule to scale (a Schedule).
        factor: the constant factor (>= 0, finite).

    Reference:
        No library schedule of its own (in optax it is `lambda t: k * s(t)`; in torch, a base rate k times
        larger). Checked against lrlab's own values in float64 under jax.jit to rtol=1e-13
        (tests/schedules/test_sched_parity_optax.py, test_formula_under_jax_jit_equals_numpy).

    Examples:
        >>> from lrlab import constant
        >>> s = constant(0.1) * 2
        >>> s, s(0)
        (constant(0.1) * 2.0, 0.2)
    """

    kind = "scale"
    summary = "schedule times a constant factor (written `s * k`)"

    def __init__(self, schedule: Schedule, factor: float) -> None:
        k = self.kind
        schedule, factor = _schedule(k, "schedule", schedule), check.rate(k, "factor", factor)
        inner = schedule
        total = factor
        while isinstance(inner, scale):  # s * 1e308 * 1e308: the factors together overflow at every step
            total *= inner.factor
            inner = inner.schedule
        if not math.isfinite(total):
            what = "a number that keeps the rate finite (the product of factors overflows)"
            raise check.fail(k, "factor", what, factor)
        self._set(schedule=schedule, factor=factor, host_only=schedule.host_only)

    def events(self, steps: int) -> list[tuple[int, str]]:
        return self.schedule.events(steps)

    def apply(self, xp: Namespace, t: Any) -> Any:
        if not self.factor:  # 0 * a schedule that grows to inf stays 0
            return t * 0.0
        return self.schedule.apply(xp, t) * self.factor

    def __repr__(self) -> str:
        return f"{self.schedule!r} * {format_value(self.factor)}"


class product(Schedule):
    """The pointwise product s1(t) * s2(t) * ..., written `s1 * s2`: schedules applied on top of each other.

    This is what torch's ChainedScheduler gives for schedulers that each multiply the running rate by their
    own factor (StepLR, MultiStepLR, ExponentialLR, MultiplicativeLR, CosineAnnealingLR with eta_min=0 up to
    T_max, ...): write the first one as a rate and the others as factors (initial_lr=1.0), e.g.
    `cosine(0.1, decay_steps=1000) * step_decay(1.0, drop=0.5, step_size=300)`.

    Nested products flatten to one list and multiply left to right ((s1 * s2) * s3), so `s1 * (s2 * s3)`
    equals `(s1 * s2) * s3` (and reads back from its spec) but may differ from the value of s1 * (s2 * s3) in
    the last bit. 0 times a factor grown to inf stays 0.

    Formula, at optimizer step t:

        lr(t) = schedules[0](t) * schedules[1](t) * ... * schedules[-1](t)

    Args:
        schedules: the factors (a list of at least two Schedules; products among them are flattened in).

    Reference:
        Equals torch's `ChainedScheduler` of multiplicative schedulers (CosineAnnealingLR * StepLR up to T_max,
        ExponentialLR * MultiStepLR * StepLR) to rtol=1e-12 (tests/schedules/test_sched_product.py,
        test_cosine_annealing_times_step_lr and test_three_chained_schedulers). torch's chain updates
        recursively, so it agrees to rounding only (measured over 2000 steps: at most 6e-17 absolute for a
        peak of 0.1, 1.3e-13 relative where the cosine nears 0). Past T_max torch's CosineAnnealingLR adds
        rather than multiplies: there the chain is not a product.

    Examples:
        >>> from lrlab import cosine, step_decay
        >>> s = cosine(0.1, decay_steps=1000) * step_decay(1.0, drop=0.5, step_size=300)
        >>> s(0), round(s(500), 6), s(1000)
        (0.1, 0.025, 0.0)
    """

    kind = "product"
    summary = "pointwise product of schedules, written `s1 * s2` (torch ChainedScheduler of multiplicative ones)"

    def __init__(self, schedules: Sequence[Schedule]) -> None:
        k = self.kind
        if isinstance(schedules, (str, bytes, Schedule)) or not isinstance(schedules, Sequence) or len(schedules) < 2:
            raise check.fail(k, "schedules", "a list of at least two schedules", schedules)
        pieces: list[Schedule] = []
        for s in schedules:
            s = _schedule(k, "schedules", s)
            pieces.extend(s.schedules if isinstance(s, product) else [s])
        self._set(schedules=pieces, host_only=any(s.host_only for s in pieces))

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [e for s in self.schedules for e in s.events(steps)]

    def apply(self, xp: Namespace, t: Any) -> Any:
        out = self.schedules[0].apply(xp, t)
        for piece in self.schedules[1:]:
            out = out * piece.apply(xp, t)
            out = xp.where(out == out, out, 0.0)  # NaN only from 0 * inf: a zero factor wins
        return out

    def __repr__(self) -> str:
        # a scale's spec has its own `*`: in parentheses after the first factor, so the spec reads back the same
        parts = [repr(s) if i == 0 or not isinstance(s, scale) else f"({s!r})" for i, s in enumerate(self.schedules)]
        return " * ".join(parts)


class clip(Schedule):
    """A schedule held within [low, high], written `s.clip(low, high)`.

    Puts a floor under a decay (or a ceiling over a growth) without changing its shape in between, e.g. optax's
    `end_value` for an exponential decay.

    Formula, at optimizer step t:

        lr(t) = min(max(schedule(t), low), high)      (no upper bound when high is None)

    Args:
        schedule: the schedule to clip (a Schedule).
        low: the floor (>= 0).
        high: the ceiling (>= low), or None for none.

    Reference:
        numpy's `clip(s(t), low, high)`; it plays the part of optax `exponential_decay`'s `end_value` (a floor
        for a decay, a ceiling for a growth). Checked against lrlab's own values under jax.jit to rtol=1e-13
        (tests/schedules/test_sched_parity_optax.py, test_formula_under_jax_jit_equals_numpy).

    Examples:
        >>> from lrlab import linear
        >>> s = linear(0.0, 0.1, 100).clip(0.01, 0.05)
        >>> s(0), s(99)
        (0.01, 0.05)
    """

    kind = "clip"
    summary = "schedule held within [low, high] (written `s.clip(low, high)`)"

    def __init__(self, schedule: Schedule, low: float = 0.0, high: float | None = None) -> None:
        k = self.kind
        low = check.rate(k, "low", low)
        high = None if high is None else check.rate(k, "high", high)
        if high is not None and high < low:
            raise ValueError(f"{k}: high must be >= low ({low!r}), got {high!r}")
        self._set(schedule=_schedule(k, "schedule", schedule), low=low, high=high, host_only=schedule.host_only)

    def events(self, steps: int) -> list[tuple[int, str]]:
        return self.schedule.events(steps)

    def apply(self, xp: Namespace, t: Any) -> Any:
        out = xp.maximum(self.schedule.apply(xp, t), self.low)
        return out if self.high is None else xp.minimum(out, self.high)
