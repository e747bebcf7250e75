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
    """Hyperbolic-tangent decay (arXiv:1806.01593): from initial_lr down to end_lr along 1 - tanh over decay_steps.

    A decay that stays near the peak longer than a cosine and then falls steeply, as timm's TanhLRScheduler
    gives it. `decay_steps` may be left out and given later by `stretch(total_steps)`.

    Formula, at optimizer step t, with T = decay_steps:

        lr(t) = end_lr + 0.5 * (initial_lr - end_lr) * (1 - tanh(lb * (1 - t / T) + ub * t / T))   (t < T)
        lr(t) = end_lr                                                                            (t >= T)

    As in timm the curve starts a hair below initial_lr (1 - tanh(lb) < 2) and drops to end_lr at T from
    end_lr + (initial_lr - end_lr) * (1 - tanh(ub)) / 2. lrlab computes 1 - tanh(x) as 2 / (1 + exp(2x)),
    which has no cancellation where timm's 1 - tanh(x) loses digits (large ub).

    Args:
        initial_lr: the rate the curve starts from (>= 0; the value at step 0 is a hair below it).
        decay_steps: the decay's length T, in optimizer steps (an integer >= 1); None leaves it to
            `stretch(total_steps)`. Wrap the schedule in `per_epoch` to count epochs.
        lb: the tanh argument at step 0 (a finite number).
        ub: the tanh argument at step T (a finite number > lb).
        end_lr: the rate at and after step T (>= 0).

    Reference:
        Equals timm's `TanhLRScheduler(optimizer, t_initial=decay_steps, lb=lb, ub=ub, lr_min=end_lr,
        t_in_epochs=False)` (base rate initial_lr, default single cycle cycle_limit=1) stepped per update, to
        rtol=1e-12 (tests/schedules/test_sched_parity_timm.py, test_tanh_decay). The two differ by rounding, by
        about 1e-16 / (1 - tanh(ub)) relative near the end (3e-14 for ub=3). Not carried over: timm's restarts
        (cycle_mul, cycle_decay, cycle_limit > 1) and its warmup: `warmup(tanh_decay(...), steps)` equals
        timm's warmup_prefix=True to rtol=1e-12 after the warmup, but during it lrlab ramps to tanh_decay's
        value at step 0 and timm to the base rate, (1 - tanh(lb)) / 2 higher (about 8e-7 relative for lb=-7;
        test_warmup_of_tanh_decay_equals_timm_warmup_prefix).

    Examples:
        >>> from lrlab import tanh_decay
        >>> s = tanh_decay(0.1, decay_steps=100)
        >>> round(s(0), 6), round(s(50), 6), round(s(70), 6), s(100)
        (0.1, 0.098201, 0.05, 0.0)
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

    The draw behind `noise`: numpy's legacy MT19937 seeded like torch's CPU generator, so the numbers are
    timm's without importing torch.

    uniform: 2 * (u - 0.5) * pct, u = torch.rand(1) (the low 24 bits of one 32-bit draw, times 2**-24).
    normal: torch.randn(1) * std, drawn again until its magnitude is below pct; torch.randn(1) is float32 of a
    Box-Muller pair from two 53-bit uniforms (two 32-bit draws each, first in the high half), r * cos first
    and the cached r * sin next.

    Args:
        seed: the generator's seed, noise_seed + t (an integer; its low 32 bits are used, as torch does).
        noise_type: "uniform" or "normal".
        pct: the noise limit: uniform noise lies in [-pct, pct), normal noise is redrawn until |n| < pct.
        std: the normal noise's standard deviation (unused for uniform).

    Returns:
        The factor n: the noisy rate is lr + lr * n.

    Examples:
        >>> from lrlab.schedules.timm_style import timm_noise
        >>> round(timm_noise(42, "uniform", 0.5, 1.0), 6), round(timm_noise(42, "normal", 0.67, 1.0), 6)
        (0.382269, 0.33669)
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
    """timm's learning-rate noise around any schedule: the rate times 1 + n(t), n random per step, in a range.

    Noise on the rate is timm's regularizer; it is drawn from a generator seeded with noise_seed + t, so the
    same (seed, step) always gives the same value, bit for bit timm's own draw (see `timm_noise`).

    Formula, at optimizer step t:

        lr(t) = s(t) + s(t) * n(t)     (t in noise_range_t)
        lr(t) = s(t)                   (elsewhere, or where s(t) is inf)

    where n(t) is, for noise_type "normal", a standard normal times noise_std drawn again until |n| <
    noise_pct, and for "uniform", uniform in [-noise_pct, noise_pct).

    Args:
        schedule: the schedule s the noise is put on (a Schedule).
        noise_range_t: where the noise is on, in optimizer steps (in epochs under `per_epoch`): a step n
            (noise from n on) or a list [start, end] (noise for start <= t < end), as timm's.
        noise_pct: the noise limit (in (0, 1], so the rate stays >= 0).
        noise_std: the normal noise's standard deviation (>= 0; for "normal" noise_pct must be >= noise_std /
            100).
        noise_type: "normal" or "uniform".
        noise_seed: the base seed (an integer >= 0); step t draws with noise_seed + t.

    Reference:
        Equals timm's Scheduler noise (`noise_range_t`, `noise_pct`, `noise_std`, `noise_type`, `noise_seed`)
        bit for bit on a flat rate (rtol=0), and around TanhLRScheduler and CosineLRScheduler to rtol=1e-12,
        stepped per update with t_in_epochs=False (tests/schedules/test_sched_parity_timm.py,
        test_noise_is_timms_bit_for_bit and test_noise_around_timm_schedules). timm counts t in epochs by
        default (t_in_epochs=True): `per_epoch(noise(s, ...), steps_per_epoch)` gives that
        (test_noise_per_epoch_is_timms_t_in_epochs). Differences: noise_pct is in (0, 1] so the rate stays
        >= 0, and for "normal" noise_pct >= noise_std / 100 (a narrower window would make timm redraw hundreds
        of times a step). Host only (Python floats and numpy, not jax or torch tensors): the draws need integer
        arithmetic.

    Examples:
        >>> from lrlab import constant, noise
        >>> s = noise(constant(0.1), [10, 20], noise_seed=42)
        >>> s(9), round(s(10), 6), s(20)
        (0.1, 0.085446, 0.1)
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
