"""timm's kinds: the tanh decay (timm TanhLRScheduler) and timm's learning-rate noise as a wrapper schedule.

Facts carried over from timm (timm/scheduler/tanh_lr.py and scheduler.py), not its code: the noise factor of
step t comes from torch's CPU generator seeded with noise_seed + t, an MT19937 (the reference generator,
seeded with init_genrand on the low 32 bits of the seed). numpy's legacy RandomState is that same generator
with that same seeding, so lrlab draws timm's very numbers without torch.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _check as check
from ._ns import Namespace
from .base import Schedule


class tanh_decay(Schedule):
    """Hyperbolic-tangent decay (arXiv:1806.01593), equal to timm's TanhLRScheduler with t_initial =
    decay_steps, lr_min = end_lr and its default single cycle (cycle_limit=1), stepped per update:
    end_lr + 0.5 * (initial_lr - end_lr) * (1 - tanh(lb * (1 - t/T) + ub * t/T)) for t < T, then end_lr.

    As in timm the curve starts a hair below initial_lr (1 - tanh(lb) < 2) and drops to end_lr at T from
    end_lr + (initial_lr - end_lr) * (1 - tanh(ub)) / 2. lrlab computes 1 - tanh(x) as 2 / (1 + exp(2x)),
    which has no cancellation where timm's 1 - tanh(x) loses digits (large ub): the two differ by rounding,
    by about 1e-16 / (1 - tanh(ub)) relative near the end (3e-14 for ub=3). Not carried over: timm's restarts
    (cycle_mul, cycle_decay, cycle_limit > 1) and its warmup (use `warmup(tanh_decay(...), steps)`, which
    equals timm's warmup_prefix=True to rounding).
    """

    kind = "tanh_decay"
    summary = "from initial_lr down to end_lr along 1 - tanh(lb..ub) over decay_steps (timm TanhLRScheduler)"
    length_param = "decay_steps"

    def __init__(
        self,
        initial_lr: float,
        decay_steps: int | None = None,
        lb: float = -7.0,
        ub: float = 3.0,
        end_lr: float = 0.0,
    ) -> None:
        k = self.kind
        lb = check.number(k, "lb", lb)
        ub = check.number(k, "ub", ub)
        if not ub > lb:
            raise check.fail(k, "ub", f"a finite number > lb ({lb!r})", ub)
        self._set(
            initial_lr=check.rate(k, "initial_lr", initial_lr),
            decay_steps=check.steps(k, "decay_steps", decay_steps, optional=True),
            lb=lb,
            ub=ub,
            end_lr=check.rate(k, "end_lr", end_lr),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return [(int(self.decay_steps), "phase end")]

    def apply(self, xp: Namespace, t: Any) -> Any:
        tr = t / self.decay_steps
        x = self.lb * (1.0 - tr) + self.ub * tr
        # 1 - tanh(x) = 2 / (1 + exp(2x)); the cap keeps exp finite (2 / (1 + e**709) is 1.6e-308 of the range)
        one_minus_tanh = 2.0 / (1.0 + xp.exp(xp.minimum(2.0 * x, 709.0)))
        curve = self.end_lr + 0.5 * (self.initial_lr - self.end_lr) * one_minus_tanh
        return xp.where(t < self.decay_steps, curve, t * 0.0 + self.end_lr)


_M53 = (1 << 53) - 1
_local = threading.local()  # one generator per thread: re-seeded for every step, never shared mid-draw


def _generator() -> np.random.RandomState:
    rs = getattr(_local, "rs", None)
    if rs is None:
        rs = _local.rs = np.random.RandomState(0)
    return rs


def timm_noise(seed: int, noise_type: str, pct: float, std: float) -> float:
    """timm's noise factor for seed noise_seed + t, drawn as torch.Generator().manual_seed(seed) would.

    uniform: 2 * (u - 0.5) * pct, u = torch.rand(1) (the low 24 bits of one 32-bit draw, times 2**-24).
    normal: torch.randn(1) * std, drawn again until its magnitude is below pct; torch.randn(1) is float32 of a
    Box-Muller pair from two 53-bit uniforms (two 32-bit draws each, first in the high half), r * cos first
    and the cached r * sin next.
    """
    rs = _generator()
    rs.seed(seed & 0xFFFFFFFF)
    if noise_type == "uniform":
        u = (int(rs.randint(0, 1 << 32, dtype=np.uint64)) & 0xFFFFFF) * 2.0**-24
        return 2 * (u - 0.5) * pct
    while True:
        a, b, c, d = (int(x) for x in rs.randint(0, 1 << 32, size=4, dtype=np.uint64))
        u1 = (((a << 32) | b) & _M53) * 2.0**-53
        u2 = (((c << 32) | d) & _M53) * 2.0**-53
        radius = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        for z in (radius * math.cos(theta), radius * math.sin(theta)):
            noise = float(np.float32(z)) * std
            if abs(noise) < pct:
                return noise


class noise(Schedule):
    """timm's learning-rate noise around any schedule: at a step t in the noise range the rate is
    lr + lr * n(t), with n(t) drawn exactly as timm's Scheduler draws it (noise_type "normal": a standard
    normal times noise_std, drawn again until |n| < noise_pct; "uniform": uniform in [-noise_pct, noise_pct)),
    from a generator seeded with noise_seed + t: the same value for the same (seed, step), bit for bit equal
    to timm's (tested against timm's schedulers). noise_range_t is timm's: a step n (noise from n on) or
    [start, end] (noise for start <= t < end).

    timm counts t in epochs by default (t_in_epochs=True): per_epoch(noise(s, ...), steps_per_epoch) gives that;
    noise(s, ...) alone is timm's t_in_epochs=False, t counted in updates. Differences: noise_pct is in (0, 1]
    so the rate stays >= 0, and for "normal" noise_pct >= noise_std / 100 (a narrower window would make timm
    redraw hundreds of times a step). Host only: the draws need integer arithmetic.
    """

    kind = "noise"
    summary = "timm's noise: lr * (1 + n), n random per (noise_seed + step) within noise_pct, in noise_range_t"
    host_only = True

    def __init__(
        self,
        schedule: Schedule,
        noise_range_t: int | Sequence[int],
        noise_pct: float = 0.67,
        noise_std: float = 1.0,
        noise_type: str = "normal",
        noise_seed: int = 42,
    ) -> None:
        k = self.kind
        if not isinstance(schedule, Schedule):
            raise check.fail(k, "schedule", "a schedule", schedule)
        if isinstance(noise_range_t, (list, tuple)):
            bounds = check.increasing_steps(k, "noise_range_t", noise_range_t, strict=False)
            if len(bounds) != 2:
                raise check.fail(k, "noise_range_t", "a step or a list [start, end]", noise_range_t)
            noise_range: int | list[int] = bounds
        else:
            noise_range = check.steps(k, "noise_range_t", noise_range_t, minimum=0)
        noise_type = check.choice(k, "noise_type", noise_type, ("normal", "uniform"))
        pct = check.in_range(k, "noise_pct", noise_pct, 0.0, 1.0, low_open=True)
        std = check.rate(k, "noise_std", noise_std)
        if noise_type == "normal" and pct < std / 100:
            raise check.fail(k, "noise_pct", f"at least noise_std / 100 ({std / 100!r}) for normal noise", noise_pct)
        self._set(
            schedule=schedule,
            noise_range_t=noise_range,
            noise_pct=pct,
            noise_std=std,
            noise_type=noise_type,
            noise_seed=check.whole(k, "noise_seed", noise_seed, 0),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        return self.schedule.events(steps)

    def _in_range(self, t: Any) -> Any:
        if isinstance(self.noise_range_t, list):
            start, end = self.noise_range_t
            return (t >= start) & (t < end)
        return t >= self.noise_range_t

    def _factor(self, step: int) -> float:
        return timm_noise(self.noise_seed + step, self.noise_type, self.noise_pct, self.noise_std)

    def apply(self, xp: Namespace, t: Any) -> Any:
        lr = self.schedule.apply(xp, t)
        if xp.name == "python":
            return lr + lr * self._factor(int(t)) if self._in_range(t) and lr < math.inf else lr
        if xp.name == "numpy":
            steps = np.asarray(t, dtype=np.float64)
            flat = np.array(np.broadcast_to(lr, steps.shape), dtype=np.float64).reshape(-1)
            flat_steps = steps.reshape(-1)
            for i in np.flatnonzero(self._in_range(flat_steps) & (flat < math.inf)):  # a rate grown to inf stays
                flat[i] = flat[i] + flat[i] * self._factor(int(flat_steps[i]))
            return flat.reshape(steps.shape)
        raise ValueError(f"{self.kind} runs on the host only, not on {xp.name}")
