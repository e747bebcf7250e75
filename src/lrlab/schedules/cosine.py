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
    """Cosine decay: a half cosine from `initial_lr` down to `alpha * initial_lr` over `decay_steps`, then held.

    The most used decay of modern training (SGDR without restarts, Keras's CosineDecay): slow at first, fastest
    in the middle, slow again near the floor. Optional linear warmup (Keras 3's `warmup_target`), an exponent on
    the half cosine (optax's `exponent`) and a bent time axis (timm's `k_decay`).

    Formula, at optimizer step t, with h(u) = (0.5 * (1 + cos(pi * (u / decay_steps) ** k_decay))) ** exponent:

        lr(t) = initial_lr * (alpha + (1 - alpha) * h(min(t, decay_steps)))      (warmup_target=None)

    and with a warmup_target, w = warmup_steps:

        lr(t) = initial_lr + (warmup_target - initial_lr) * t / w                 (t < w)
        lr(t) = warmup_target * (alpha + (1 - alpha) * h(min(t - w, decay_steps)))   (t >= w)

    Args:
        initial_lr: the rate at step 0 (>= 0): the peak the cosine starts from, or, with a `warmup_target`, the
            rate the warmup starts from.
        decay_steps: the length of the cosine, in optimizer steps (an integer >= 1), not counting the warmup;
            None leaves it to `.stretch(total_steps)` (the schedule cannot be evaluated until then). Wrap the
            schedule in `per_epoch` to count in epochs.
        alpha: the floor, as a fraction of the peak (in [0, 1]): the rate ends at alpha * initial_lr (or
            alpha * warmup_target).
        warmup_target: the peak a linear warmup reaches (>= 0; it may be below initial_lr); None (the default)
            means no warmup, and then `warmup_steps` is ignored, as in Keras 3.
        warmup_steps: the length of the warmup, in optimizer steps (an integer >= 0); with 0 the cosine starts
            from warmup_target at step 0.
        exponent: the power p the half cosine is raised to (> 0); 1 is the plain cosine.
        k_decay: the power k of the time axis, cos(pi * t**k / decay_steps**k) (> 0); 1 is the plain cosine,
            above 1 the rate stays high longer.

    Reference:
        Equals Keras 3 `CosineDecay(initial_lr, decay_steps, alpha, warmup_target=..., warmup_steps=...)` (to
        1e-15 relative, test_cosine in tests/schedules/test_sched_parity_keras.py); torch
        `CosineAnnealingLR(optimizer, T_max=decay_steps, eta_min=alpha * initial_lr)` on steps 0 to T_max (to
        1e-12: torch updates the rate recursively; test_cosine_annealing_lr in test_sched_parity_torch.py);
        optax `cosine_decay_schedule(initial_lr, decay_steps, alpha, exponent)` and
        `warmup_cosine_decay_schedule(initial_lr, warmup_target, warmup_steps, warmup_steps + decay_steps,
        alpha * warmup_target, exponent)` (to 1e-13, test_cosine_decay_schedule_exponent,
        test_warmup_cosine_decay_schedule and test_warmup_cosine_decay_schedule_exponent in
        test_sched_parity_optax.py: optax's decay_steps include the warmup, lrlab's and Keras's do not); and timm
        `CosineLRScheduler(optimizer, t_initial=decay_steps, lr_min=alpha * initial_lr, k_decay=k,
        t_in_epochs=False)` for its single cycle (to 1e-12, test_cosine_k_decay in test_sched_parity_timm.py;
        timm's warmup_prefix=True warmup is `warmup(cosine(...), warmup_t, start_lr=warmup_lr_init)`,
        test_warmup_of_cosine_equals_timm_warmup_prefix). Difference: CosineAnnealingLR rises again after T_max
        (its cosine has period 2 * T_max); lrlab, like Keras and optax, holds alpha * initial_lr from
        decay_steps on (test_cosine_annealing_rises_after_t_max_but_lrlab_holds).

    Examples:
        >>> from lrlab import cosine
        >>> s = cosine(0.1, decay_steps=100, alpha=0.1)
        >>> s(0), round(s(50), 6), round(s(100), 6), round(s(150), 6)
        (0.1, 0.055, 0.01, 0.01)
        >>> w = cosine(0.0, 100, warmup_target=0.1, warmup_steps=10)
        >>> w(0), w(5), w(10), round(w(60), 6), w(110)
        (0.0, 0.05, 0.1, 0.05, 0.0)
        >>> cosine(0.1).stretch(1000)
        cosine(0.1, decay_steps=1000)
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
    """Cosine decay with warm restarts (SGDR): cosine decays that restart at the peak, periods growing by `t_mul`.

    Each restart jumps the rate back up (to a peak shrunk by `m_mul` each time), which lets a run explore again
    and gives a snapshot at each period's low point; growing periods (`t_mul` > 1) spend ever longer near the
    floor. As Keras's CosineDecayRestarts and torch's CosineAnnealingWarmRestarts.

    Formula, at optimizer step t, in period i (i = 0, 1, ...) of length n_i = first_decay_steps * t_mul ** i,
    which starts at T_i = n_0 + ... + n_(i-1) (T_0 = 0):

        lr(t) = initial_lr * (alpha + (1 - alpha) * m_mul ** i * 0.5 * (1 + cos(pi * (t - T_i) / n_i)))

    The floor alpha * initial_lr is not scaled by m_mul (as in Keras).

    Args:
        initial_lr: the peak of the first period (>= 0).
        first_decay_steps: the length of the first period, in optimizer steps (an integer >= 1); wrap the
            schedule in `per_epoch` to count in epochs.
        t_mul: the factor by which each period is longer than the one before (a number >= 1; 1 keeps them
            equal). Restarts that fall between steps (t_mul not whole) take effect at the next step.
        m_mul: the factor by which each period's peak is lower than the one before (>= 0; 1 keeps them equal).
        alpha: the floor, as a fraction of initial_lr (in [0, 1]).

    Reference:
        Equals Keras 3 `CosineDecayRestarts(initial_lr, first_decay_steps, t_mul, m_mul, alpha)` (to 1e-15
        relative, test_cosine_restarts in tests/schedules/test_sched_parity_keras.py) and, for whole t_mul and
        m_mul=1, torch `CosineAnnealingWarmRestarts(optimizer, T_0=first_decay_steps, T_mult=t_mul,
        eta_min=alpha * initial_lr)` (to 1e-12: torch arranges eta_min differently, which rounds differently;
        test_cosine_annealing_warm_restarts in test_sched_parity_torch.py; torch has no m_mul). Difference: the
        closed form finds the period from floor(log(...) / log(t_mul)), which in float64 can round down exactly
        at a restart and give the previous period's floor for one step (numpy's log does at step 121 for
        first_decay_steps=1, t_mul=3; torch's, which Keras uses on the torch backend, did at no restart we
        tested). lrlab corrects the index, so every restart step is the new period's peak on every backend.

    Examples:
        >>> from lrlab import cosine_restarts
        >>> s = cosine_restarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
        >>> s(0), round(s(5), 6), s(10), s(30)
        (0.1, 0.05, 0.05, 0.025)
        >>> s.events(80)
        [(10, 'restart'), (30, 'restart'), (70, 'restart')]
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
            restart = xp.where(n * ((1.0 - xp.pow(t_mul, restart + 1.0)) / (1.0 - t_mul)) <= t, restart + 1.0, restart)
            restart = xp.where(n * ((1.0 - xp.pow(t_mul, restart)) / (1.0 - t_mul)) > t, restart - 1.0, restart)
            grown = xp.pow(t_mul, restart)  # the period's length in first periods
            done = (1.0 - grown) / (1.0 - t_mul)
            fraction = (fraction - done) / grown
        peak = xp.pow(self.m_mul, restart)
        decayed = (1 - self.alpha) * (0.5 * peak * (1.0 + xp.cos(math.pi * fraction))) + self.alpha
        return self.initial_lr * decayed
