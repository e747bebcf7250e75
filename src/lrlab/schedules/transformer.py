"""Schedules of the transformer recipes: inverse square root and warmup-stable-decay (as in
transformers' get_inverse_sqrt_schedule and get_wsd_schedule)."""

from __future__ import annotations

import math
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule


class inverse_sqrt(Schedule):
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
    """Warmup-stable-decay, equal to transformers' get_wsd_schedule with min_lr_ratio = end_lr / peak_lr;
    as there, the warmup starts from end_lr, not from 0."""

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
