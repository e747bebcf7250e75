"""Cosine annealing: single decay with optional warmup (Keras 3 CosineDecay, torch CosineAnnealingLR,
optax warmup_cosine_decay_schedule) and warm restarts (Keras CosineDecayRestarts, torch
CosineAnnealingWarmRestarts)."""

from __future__ import annotations

import math
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import MAX_EVENTS, Schedule
from .decay import _power


def _half_cosine(xp: Namespace, fraction: Any) -> Any:
    return 0.5 * (1.0 + xp.cos(math.pi * fraction))


class cosine(Schedule):
    """Cosine decay, equal to Keras 3's CosineDecay (warmup_target and warmup_steps included), to torch's
    CosineAnnealingLR with alpha = eta_min / lr, and to optax's warmup_cosine_decay_schedule with
    decay_steps = optax's decay_steps - warmup_steps and alpha = end_value / peak_value.

    `exponent` p raises the half cosine to p, as optax's cosine_decay_schedule(..., exponent=p) (and its
    warmup_cosine_decay_schedule) does: alpha + (1 - alpha) * (0.5 * (1 + cos(pi * t / decay_steps))) ** p.
    `k_decay` k bends the time axis as timm's CosineLRScheduler(k_decay=k) does (k-decay, arXiv:2004.05909):
    cos(pi * t**k / decay_steps**k); it equals timm's single cycle (cycle_limit=1) with lr_min = alpha *
    initial_lr, to rounding.

    Difference: CosineAnnealingLR rises again after T_max (its cosine has period 2 * T_max); lrlab, like Keras
    and optax, holds alpha * initial_lr from decay_steps on.
    """

    kind = "cosine"
    summary = "half cosine from initial_lr to alpha*initial_lr over decay_steps, optional linear warmup"
    length_param = "decay_steps"

    def __init__(
        self,
        initial_lr: float,
        decay_steps: int | None = None,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: int = 0,
        exponent: float = 1.0,
        k_decay: float = 1.0,
    ) -> None:
        k = self.kind
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            decay_steps=check.steps(k, "decay_steps", decay_steps, optional=True),
            alpha=check.in_range(k, "alpha", alpha, 0.0, 1.0),
            warmup_target=None if warmup_target is None else check.rate(k, "warmup_target", warmup_target),
            warmup_steps=check.steps(k, "warmup_steps", warmup_steps, minimum=0),
            exponent=check.positive(k, "exponent", exponent),
            k_decay=check.positive(k, "k_decay", k_decay),
        )

    def _decay(self, xp: Namespace, t: Any, peak: float) -> Any:
        fraction = t / self.decay_steps
        if self.k_decay != 1:  # timm's t**k / T**k, as (t / T)**k: no overflow for a large T or k
            fraction = _power(xp, fraction, self.k_decay)
        half = _half_cosine(xp, fraction)
        if self.exponent != 1:  # optax: ((1 + cos) / 2) ** exponent
            half = _power(xp, half, self.exponent)
        decayed = (1 - self.alpha) * half + self.alpha
        return peak * decayed

    def events(self, steps: int) -> list[tuple[int, str]]:
        w = self.warmup_steps if self.warmup_target is not None else 0
        return ([(w, "warmup end")] if w else []) + [(w + int(self.decay_steps), "phase end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        # Keras 3: without warmup_target there is no warmup; with it, the decay starts from the target.
        if self.warmup_target is None:
            return self._decay(xp, xp.minimum(t, self.decay_steps), self.initial_lr)
        warmup_steps = self.warmup_steps
        t = xp.minimum(t, self.decay_steps + warmup_steps)
        fraction = t / max(warmup_steps, 1)
        warm = (self.warmup_target - self.initial_lr) * fraction + self.initial_lr
        decay = self._decay(xp, xp.maximum(t - warmup_steps, 0.0), self.warmup_target)
        return xp.where(t < warmup_steps, warm, decay)


class cosine_restarts(Schedule):
    """Cosine decay with warm restarts (SGDR), equal to Keras's CosineDecayRestarts and, for whole t_mul and
    alpha = eta_min / lr, to torch's CosineAnnealingWarmRestarts.

    The closed form finds the period from floor(log(...) / log(t_mul)), which in float64 can round down exactly
    at a restart and give the previous period's floor for one step (numpy's log does at step 121 for
    first_decay_steps=1, t_mul=3; torch's, which Keras uses on the torch backend, did at no restart we
    tested). lrlab corrects the index, so every restart step is the new period's peak on every backend.
    """

    kind = "cosine_restarts"
    summary = "cosine decays restarting every period, periods grow by t_mul, peaks shrink by m_mul (SGDR)"

    def __init__(
        self,
        initial_lr: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
    ) -> None:
        k = self.kind
        t_mul = check.positive(k, "t_mul", t_mul)
        if t_mul < 1:
            raise ValueError(f"{k}: t_mul must be a finite number >= 1, got {t_mul!r}")
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            first_decay_steps=check.steps(k, "first_decay_steps", first_decay_steps),
            t_mul=t_mul,
            m_mul=check.rate(k, "m_mul", m_mul),
            alpha=check.in_range(k, "alpha", alpha, 0.0, 1.0),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        out, start, period = [], 0.0, float(self.first_decay_steps)
        while start + period < steps and len(out) < MAX_EVENTS:
            start += period
            out.append((math.ceil(start), "restart"))
            period *= self.t_mul
        return out

    def apply(self, xp: Namespace, t: Any) -> Any:
        if not self.initial_lr or self.alpha == 1:  # also where a growing m_mul ** restart overflows
            return t * 0.0 + self.initial_lr * self.alpha
        n = self.first_decay_steps
        fraction = t / n
        t_mul = self.t_mul
        if t_mul == 1.0:
            restart = xp.floordiv(t, n)
            fraction = fraction - restart
        else:
            # Keras's closed form; the two corrections put a step that lands on a restart into the new
            # period even where log() rounds the wrong way (Keras then shows a spike of one step). They
            # compare steps, not t / n, which a compiler may round below a restart (XLA's t * (1 / n)).
            restart = xp.floor(xp.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            restart = xp.where(n * ((1.0 - t_mul ** (restart + 1.0)) / (1.0 - t_mul)) <= t, restart + 1.0, restart)
            restart = xp.where(n * ((1.0 - t_mul**restart) / (1.0 - t_mul)) > t, restart - 1.0, restart)
            done = (1.0 - t_mul**restart) / (1.0 - t_mul)
            fraction = (fraction - done) / t_mul**restart
        peak = self.m_mul**restart
        decayed = (1 - self.alpha) * (0.5 * peak * (1.0 + xp.cos(math.pi * fraction))) + self.alpha
        return self.initial_lr * decayed
