"""Schedules of the transformer recipes: inverse square root and warmup-stable-decay (as in
transformers' get_inverse_sqrt_schedule and get_wsd_schedule)."""

from __future__ import annotations

import math
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule


class inverse_sqrt(Schedule):
    """Inverse square root decay after a linear warmup: the rate of the original Transformer recipe.

    The rate ramps linearly from 0 to `initial_lr` over `warmup_steps`, then falls as 1 / sqrt(t): it never
    reaches 0, so the schedule needs no training length.

    Formula, at optimizer step t, with timescale defaulting to `warmup_steps` (or 10000 when that is 0):

        lr(t) = initial_lr * t / max(1, warmup_steps)                                    (t < warmup_steps)
        lr(t) = initial_lr / sqrt((t + timescale - warmup_steps) / timescale)            (t >= warmup_steps)

    Args:
        initial_lr: the peak rate, reached at the end of the warmup (>= 0).
        warmup_steps: the length of the linear warmup, in optimizer steps (an integer >= 0).
        timescale: the decay's time scale, in optimizer steps (> 0); None takes `warmup_steps`, or 10000 when
            there is no warmup (as transformers does).

    Reference:
        Equals transformers' `get_inverse_sqrt_schedule(optimizer, warmup_steps, timescale)` (a LambdaLR on
        torch, base rate `initial_lr`) to rtol=1e-15, tested step by step in
        tests/schedules/test_sched_parity_transformers.py (test_inverse_sqrt). Counts optimizer steps; wrap it in
        `per_epoch` to count epochs.

    Examples:
        >>> from lrlab import inverse_sqrt
        >>> s = inverse_sqrt(0.1, warmup_steps=100)
        >>> s(0), s(50), s(100), round(s(400), 6)
        (0.0, 0.05, 0.1, 0.05)
    """

    kind = "inverse_sqrt"
    summary = "linear warmup, then initial_lr / sqrt((t + timescale - warmup_steps) / timescale)"

    def __init__(self, initial_lr: float, warmup_steps: int = 0, timescale: float | None = None) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            warmup_steps=check.steps(k, "warmup_steps", warmup_steps, minimum=0),
            timescale=None if timescale is None else check.positive(k, "timescale", timescale),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(self.warmup_steps, "warmup end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        warmup = self.warmup_steps
        timescale = self.timescale if self.timescale is not None else (warmup or 10_000)
        warm = t / float(max(1, warmup))
        late = xp.maximum(t, warmup)  # the decay branch is only taken there; this keeps sqrt's argument >= 1
        decay = 1.0 / xp.sqrt((late + (timescale - warmup)) / timescale)
        return self.initial_lr * xp.where(t < warmup, warm, decay)


class wsd(Schedule):
    """Warmup-stable-decay: a linear warmup, a long plateau at `peak_lr`, then a decay to `end_lr` at the end.

    The schedule of recent language-model training: the plateau can be cut off anywhere and followed by a
    short cooldown, so one run serves several training lengths. The warmup starts from `end_lr`, not from 0
    (as transformers does). `total_steps` may be left out and given later by `stretch(total_steps)`.

    Formula, at optimizer step t, with r = end_lr / peak_lr, d = total_steps - decay_steps (the decay's start)
    and p = min(max(t - d, 0) / max(1, decay_steps), 1):

        lr(t) = peak_lr * (r + (1 - r) * t / max(1, warmup_steps))     (t < warmup_steps)
        lr(t) = peak_lr                                                (warmup_steps <= t < d)
        lr(t) = peak_lr * (r + (1 - r) * shape(p))                     (d <= t < total_steps)
        lr(t) = peak_lr * r        (= end_lr)                          (t >= total_steps)

    where shape(p) = 1 - p (linear), 0.5 * (1 + cos(pi * p)) (cosine) or 1 - sqrt(p) (1-sqrt).

    Args:
        peak_lr: the rate of the plateau (>= 0).
        total_steps: the training length, in optimizer steps (an integer >= 1, at least warmup_steps +
            decay_steps); None leaves the schedule unbound until `stretch(total_steps)`.
        warmup_steps: the length of the linear warmup, in optimizer steps (an integer >= 0).
        decay_steps: the length of the final decay, in optimizer steps (an integer >= 0).
        end_lr: the rate at the start of the warmup and after the decay (0 <= end_lr <= peak_lr).
        decay: the decay's shape: "linear", "cosine" or "1-sqrt".

    Reference:
        Equals transformers' `get_wsd_schedule(optimizer, warmup_steps, decay_steps, num_training_steps=
        total_steps, decay_type=decay, min_lr_ratio=end_lr / peak_lr)` (a LambdaLR on torch, base rate
        `peak_lr`) to rtol=1e-15, tested step by step in tests/schedules/test_sched_parity_transformers.py
        (test_wsd). lrlab takes `end_lr` where transformers takes the ratio, so values may differ in the last
        bit. Differences: lrlab's default decay is "linear" (transformers' is "cosine"); the warmup is always
        linear and the cosine is always half a period (transformers' `warmup_type` and `num_cycles=0.5`);
        `num_stable_steps` is not offered: give total_steps instead.

    Examples:
        >>> from lrlab import wsd
        >>> s = wsd(0.1, total_steps=100, warmup_steps=10, decay_steps=20, end_lr=0.01)
        >>> s(0), s(10), s(79), round(s(90), 6), s(100)
        (0.01, 0.1, 0.1, 0.055, 0.01)
        >>> wsd(0.1, warmup_steps=10, decay_steps=20).stretch(100)(90)
        0.05
    """

    kind = "wsd"
    summary = "warmup, stable at peak_lr, then decay to end_lr over the last decay_steps (linear, cosine, 1-sqrt)"
    length_param = "total_steps"

    def __init__(
        self,
        peak_lr: float,
        total_steps: int | None = None,
        warmup_steps: int = 0,
        decay_steps: int = 0,
        end_lr: float = 0.0,
        decay: str = "linear",
    ) -> None:
        k = self.kind
        peak_lr = check.rate(k, "peak_lr", peak_lr)
        total_steps = check.steps(k, "total_steps", total_steps, optional=True)
        warmup_steps = check.steps(k, "warmup_steps", warmup_steps, minimum=0)
        decay_steps = check.steps(k, "decay_steps", decay_steps, minimum=0)
        end_lr = check.rate(k, "end_lr", end_lr)
        if end_lr > peak_lr:
            raise ValueError(f"{k}: end_lr must be <= peak_lr ({peak_lr!r}), got {end_lr!r}")
        if total_steps is not None and warmup_steps + decay_steps > total_steps:
            raise ValueError(
                f"{k}: warmup_steps + decay_steps must be <= total_steps ({total_steps}), "
                f"got {warmup_steps} + {decay_steps}"
            )
        self._set(
            peak_lr=peak_lr,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            decay_steps=decay_steps,
            end_lr=end_lr,
            decay=check.choice(k, "decay", decay, ("linear", "cosine", "1-sqrt")),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(self.warmup_steps, "warmup end"), (int(self.total_steps - self.decay_steps), "phase end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        ratio = self.end_lr / self.peak_lr if self.peak_lr > 0 else 0.0
        warmup, decay_steps = self.warmup_steps, self.decay_steps
        decay_start = self.total_steps - decay_steps
        warm = (t / float(max(1, warmup))) * (1.0 - ratio) + ratio
        progress = xp.minimum(xp.maximum(t - decay_start, 0.0) / float(max(1, decay_steps)), 1.0)
        if self.decay == "linear":
            shape = 1.0 - progress
        elif self.decay == "cosine":
            shape = 0.5 * (1.0 + xp.cos(math.pi * 0.5 * 2.0 * progress))
        else:
            shape = 1.0 - xp.sqrt(progress)
        late = xp.where(t < decay_start + decay_steps, shape * (1.0 - ratio) + ratio, ratio)
        factor = xp.where(t < warmup, warm, xp.where(t < decay_start, 1.0, late))
        return self.peak_lr * factor
