"""Cyclical rates: triangular cycles (torch CyclicLR) and the one-cycle policy (torch OneCycleLR)."""

from __future__ import annotations

import math
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule, multiples


class cyclic(Schedule):
    """Cyclical learning rate: the rate rises linearly from `base_lr` to `max_lr` and falls back, cycle after cycle.

    Smith's cyclical rates (arXiv:1506.01186), as torch's CyclicLR: cycling between two bounds needs no decay to
    be tuned, and the high phases help leave sharp regions. `triangular2` halves the swing every cycle,
    `exp_range` shrinks it by `gamma` every step.

    Formula, at optimizer step t, with a cycle of n = step_size_up + step_size_down steps, c = t // n (the
    cycle, from 0) and f(t) the triangle that rises from 0 to 1 over step_size_up steps and falls back to 0 over
    step_size_down steps:

        lr(t) = base_lr + (max_lr - base_lr) * f(t) * scale(t)

    where scale(t) = 1 (triangular), 1 / 2 ** c (triangular2) or gamma ** t (exp_range).

    Args:
        base_lr: the rate at the start and the end of each cycle (>= 0).
        max_lr: the rate at the top of each cycle (>= 0; below base_lr the cycle goes down first).
        step_size_up: the steps of the rising half, in optimizer steps (an integer >= 1).
        step_size_down: the steps of the falling half, in optimizer steps (an integer >= 1); None (the default)
            takes step_size_up.
        mode: "triangular" (every cycle the same), "triangular2" (the swing halves each cycle) or "exp_range"
            (the swing times gamma ** t).
        gamma: the per-step factor of "exp_range" (in (0, 1]); ignored by the other modes.

    Reference:
        Equals torch `CyclicLR(optimizer, base_lr, max_lr, step_size_up, step_size_down, mode, gamma)` stepped
        once per optimizer step (per batch), exactly (bit for bit), tested in test_cyclic_lr of
        tests/schedules/test_sched_parity_torch.py. torch's custom `scale_fn` and `scale_mode` have no
        counterpart (exp_range scales by step, torch's "iterations"); the momentum torch cycles with
        cycle_momentum=True is a schedule of its own here: `.momentum()`.

    Examples:
        >>> from lrlab import cyclic
        >>> s = cyclic(0.0, 0.1, step_size_up=2)
        >>> [round(s(t), 6) for t in range(9)]
        [0.0, 0.05, 0.1, 0.05, 0.0, 0.05, 0.1, 0.05, 0.0]
        >>> s2 = cyclic(0.0, 0.1, step_size_up=2, mode="triangular2")
        >>> [round(s2(t), 6) for t in range(9)]
        [0.0, 0.05, 0.1, 0.05, 0.0, 0.025, 0.05, 0.025, 0.0]
    """

    kind = "cyclic"
    summary = "up and down between base_lr and max_lr: triangular, triangular2, exp_range (torch CyclicLR)"

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
    ) -> None:
        k = self.kind
        self._set(
            base_lr=check.rate(k, "base_lr", base_lr),
            max_lr=check.rate(k, "max_lr", max_lr),
            step_size_up=check.steps(k, "step_size_up", step_size_up),
            step_size_down=check.steps(k, "step_size_down", step_size_down, optional=True),
            mode=check.choice(k, "mode", mode, ("triangular", "triangular2", "exp_range")),
            gamma=check.in_range(k, "gamma", gamma, 0.0, 1.0, low_open=True),
        )

    def events(self, steps: int) -> list[tuple[int, str]]:
        """Where each cycle ends (its trough, where the next one begins): "cycle end" (the rate climbs back
        smoothly, no restart)."""
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        return multiples(self.step_size_up + down, steps, "cycle end")

    def momentum(self, base_momentum: float = 0.8, max_momentum: float = 0.9) -> cyclic_momentum:
        """The momentum torch's CyclicLR cycles inversely to this rate: a `cyclic_momentum` on the same cycle.

        Give it to an optimizer's momentum (SGD) or beta1 (Adam's betas[0]) alongside this rate, as torch does
        with cycle_momentum=True; the defaults are torch's.

        Args:
            base_momentum: the momentum at the top of the rate's cycle (in [0, 1]).
            max_momentum: the momentum at the start and the end of each cycle (in [0, 1]).

        Returns:
            cyclic_momentum with this rate's step_size_up, step_size_down, mode and gamma.

        Examples:
            >>> from lrlab import cyclic
            >>> m = cyclic(0.01, 0.1, step_size_up=2).momentum()
            >>> m
            cyclic_momentum(0.8, step_size_up=2)
            >>> [round(m(t), 6) for t in range(5)]
            [0.9, 0.85, 0.8, 0.85, 0.9]
        """
        return cyclic_momentum(
            base_momentum, max_momentum, self.step_size_up, self.step_size_down, self.mode, self.gamma
        )

    def apply(self, xp: Namespace, t: Any) -> Any:
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        total = float(self.step_size_up + down)
        ratio = self.step_size_up / total
        cycle = 1 + xp.floordiv(t, total)
        x = 1.0 + t / total - cycle
        factor = xp.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        height = (self.max_lr - self.base_lr) * factor
        if self.mode == "triangular":
            return self.base_lr + height * 1.0
        if self.mode == "triangular2":
            return self.base_lr + height * (1 / xp.pow(2.0, cycle - 1))
        return self.base_lr + height * xp.pow(self.gamma, t)


def _check_phases(k: str, pct_start: Any, three_phase: Any) -> tuple[float, bool]:
    pct_start = check.in_range(k, "pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    three_phase = check.boolean(k, "three_phase", three_phase)
    if three_phase and pct_start >= 0.5:
        raise ValueError(f"{k}: pct_start must be in (0, 0.5) when three_phase=True, got {pct_start!r}")
    return pct_start, three_phase


def _phases(
    total: int, pct: float, three_phase: bool, start: float, peak: float, end: float
) -> list[tuple[float, float, float]]:
    """OneCycleLR's phases (end_step, start value, end value), as torch computes them: start to peak, then
    peak to end, or (three_phase) start to peak, peak back to start, start to end."""
    if three_phase:
        return [
            (float(pct * total) - 1, start, peak),
            (float(2 * pct * total) - 2, peak, start),
            (total - 1, start, end),
        ]
    return [(float(pct * total) - 1, start, peak), (total - 1, peak, end)]


class one_cycle(Schedule):
    """One-cycle policy: warm up from max_lr / div_factor to `max_lr`, then anneal far below the start.

    Smith's super-convergence schedule (arXiv:1708.07120), as torch's OneCycleLR: one long warmup to a high rate
    and one long anneal to a rate final_div_factor times below the initial one, for a fixed number of steps.

    Formula, at optimizer step t, with T = total_steps, p = pct_start, lr_0 = max_lr / div_factor and
    lr_min = lr_0 / final_div_factor, in phases that end at steps e_i (as torch computes them; see `phases()`):

        two phases:    lr_0 -> max_lr until e_1 = p * T - 1, then max_lr -> lr_min until e_2 = T - 1
        three phases:  lr_0 -> max_lr until p * T - 1, max_lr -> lr_0 until 2 * p * T - 2, lr_0 -> lr_min until T - 1

    In the phase that goes from a to b between steps s and e (s: the previous phase's end, 0 for the first),
    with u = (t - s) / (e - s):

        lr(t) = b + (a - b) / 2 * (1 + cos(pi * u))      (anneal="cos")
        lr(t) = a + (b - a) * u                          (anneal="linear")

    and from step T - 1 on the rate holds its value there (lr_min, to rounding with anneal="linear").

    Args:
        max_lr: the peak rate (>= 0).
        total_steps: the length of the cycle, in optimizer steps (an integer >= 2); None leaves it to
            `.stretch(total_steps)` (the schedule cannot be evaluated until then). torch's epochs *
            steps_per_epoch.
        pct_start: the fraction of total_steps spent warming up (in (0, 1); below 0.5 with three_phase).
        anneal: "cos" or "linear", the shape of every phase (torch's anneal_strategy).
        div_factor: the initial rate is max_lr / div_factor (> 0).
        final_div_factor: the final rate is max_lr / div_factor / final_div_factor (> 0).
        three_phase: True comes back down to the initial rate (symmetric with the warmup) before the final
            anneal to lr_min, False anneals straight from the peak to lr_min.

    Reference:
        Equals torch `OneCycleLR(optimizer, max_lr, total_steps, pct_start, anneal_strategy=anneal, div_factor,
        final_div_factor, three_phase)` stepped once per optimizer step, steps 0 to total_steps - 1, exactly (bit
        for bit), tested in test_one_cycle_lr of tests/schedules/test_sched_parity_torch.py. Differences, outside
        torch's domain only: torch evaluates its last phase past 1 at step total_steps (below its floor; negative
        with anneal="linear") and raises ValueError after it; lrlab holds its value at step total_steps - 1 (the
        floor lr_min) from there on (test_one_cycle_past_the_end). An empty phase (pct_start * total_steps < 1)
        divides by zero in torch; lrlab takes it as finished. The momentum torch cycles with cycle_momentum=True is
        a schedule of its own here: `.momentum()`.

    Examples:
        >>> from lrlab import one_cycle
        >>> s = one_cycle(0.1, total_steps=100)
        >>> round(s(0), 6), s(29), round(s(99), 9), s(200) == s(99)
        (0.004, 0.1, 4e-07, True)
        >>> one_cycle(0.1).stretch(1000)
        one_cycle(0.1, total_steps=1000)
    """

    kind = "one_cycle"
    summary = "warm up to max_lr, then anneal far below it (torch OneCycleLR); holds its floor after the end"
    length_param = "total_steps"

    def __init__(
        self,
        max_lr: float,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        k = self.kind
        pct_start, three_phase = _check_phases(k, pct_start, three_phase)
        self._set(
            max_lr=check.rate(k, "max_lr", max_lr),
            total_steps=check.steps(k, "total_steps", total_steps, minimum=2, optional=True),
            pct_start=pct_start,
            anneal=check.choice(k, "anneal", anneal, ("cos", "linear")),
            div_factor=check.positive(k, "div_factor", div_factor),
            final_div_factor=check.positive(k, "final_div_factor", final_div_factor),
            three_phase=three_phase,
        )
        initial = self.max_lr / self.div_factor
        if not math.isfinite(initial) or not math.isfinite(initial / self.final_div_factor):
            raise ValueError(
                f"{k}: max_lr / div_factor / final_div_factor must be finite, got {max_lr!r} / {div_factor!r}"
                f" / {final_div_factor!r}"
            )
        object.__setattr__(self, "_phases", None if self.total_steps is None else self._make_phases())

    def phases(self) -> list[tuple[float, float, float]]:
        """The phases of the cycle: (end_step, start value, end value) of each, as torch's OneCycleLR computes them.

        The values are rates for one_cycle and momenta for one_cycle_momentum (which shares this method). A phase
        runs from the previous phase's end_step (0 for the first) to its own; end_step is a float where torch's
        is (pct_start * total_steps - 1). Computed once, at construction.

        Returns:
            a new list of (end_step, start value, end value) tuples, two or (three_phase) three.

        Raises:
            ValueError: total_steps was left out and the schedule not stretched.

        Examples:
            >>> from lrlab import one_cycle
            >>> one_cycle(0.1, total_steps=10, pct_start=0.5, anneal="linear").phases()
            [(4.0, 0.004, 0.1), (9, 0.1, 4e-07)]
            >>> one_cycle(0.1, 10, pct_start=0.5).momentum().phases()
            [(4.0, 0.95, 0.85), (9, 0.85, 0.95)]
        """
        if self._phases is None:
            self._require_bound()
        return list(self._phases)

    def _make_phases(self) -> list[tuple[float, float, float]]:
        initial = self.max_lr / self.div_factor
        floor_lr = initial / self.final_div_factor
        return _phases(self.total_steps, self.pct_start, self.three_phase, initial, self.max_lr, floor_lr)

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> one_cycle_momentum:
        """The momentum torch's OneCycleLR cycles inversely to this rate: a `one_cycle_momentum` on its phases.

        Give it to an optimizer's momentum (SGD) or beta1 (Adam's betas[0]) alongside this rate, as torch does
        with cycle_momentum=True; the defaults are torch's.

        Args:
            base_momentum: the momentum at the rate's peak (in [0, 1]).
            max_momentum: the momentum at the start and the end (in [0, 1]).

        Returns:
            one_cycle_momentum with this rate's total_steps, pct_start, anneal and three_phase.

        Examples:
            >>> from lrlab import one_cycle
            >>> m = one_cycle(0.1, total_steps=100).momentum()
            >>> m
            one_cycle_momentum(0.85, total_steps=100)
            >>> m(0), m(29), m(99)
            (0.95, 0.85, 0.95)
        """
        return one_cycle_momentum(
            base_momentum, max_momentum, self.total_steps, self.pct_start, self.anneal, self.three_phase
        )

    def _anneal(self, xp: Namespace, start: float, end: float, pct: Any) -> Any:
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (xp.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def events(self, steps: int) -> list[tuple[int, str]]:
        ends = [math.floor(end) + 1 for end, _, _ in self.phases()]
        return [(end, "warmup end" if i == 0 else "phase end") for i, end in enumerate(ends)]

    def apply(self, xp: Namespace, t: Any) -> Any:
        phases = self._phases
        starts = [0.0] + [end for end, _, _ in phases[:-1]]
        pieces = []
        for i, ((end, lo, hi), start) in enumerate(zip(phases, starts)):
            # torch divides by zero on an empty phase and runs past 1 after the end; we do neither.
            pct = (t - start) / (end - start) if end > start else t * 0.0 + 1.0
            if i == len(phases) - 1:
                pct = xp.minimum(pct, 1.0)
            pieces.append(self._anneal(xp, lo, hi, pct))
        out = pieces[-1]
        for (end, _, _), piece in zip(reversed(phases[:-1]), reversed(pieces[:-1])):
            out = xp.where(t <= end, piece, out)
        return out


class one_cycle_momentum(Schedule):
    """One-cycle momentum: the momentum torch's OneCycleLR cycles inversely to the rate (cycle_momentum=True).

    High momentum while the rate is low, low while it is high (arXiv:1803.09820): from `max_momentum` down to
    `base_momentum` while the rate rises, back up while it falls. It drives SGD's momentum or Adam's beta1
    (betas[0]); `one_cycle(...).momentum()` builds it on the rate's total_steps, pct_start, anneal and
    three_phase.

    Formula: one_cycle's, on the same phase ends, with the momenta as phase values:

        two phases:    max_momentum -> base_momentum, then base_momentum -> max_momentum
        three phases:  max_momentum -> base_momentum, base_momentum -> max_momentum, then held at max_momentum

    each phase annealed by `anneal` ("cos": b + (a - b) / 2 * (1 + cos(pi * u)); "linear": a + (b - a) * u), and
    from step total_steps - 1 on held at its last value.

    Args:
        base_momentum: the momentum at the rate's peak (in [0, 1]).
        max_momentum: the momentum at the start and the end (in [0, 1]).
        total_steps: the length of the cycle, in optimizer steps (an integer >= 2); None leaves it to
            `.stretch(total_steps)`.
        pct_start: the fraction of total_steps the rate spends warming up (in (0, 1); below 0.5 with
            three_phase).
        anneal: "cos" or "linear", the shape of every phase.
        three_phase: True for the rate's three-phase cycle (see `one_cycle`).

    Reference:
        Equals the momentum (SGD) and betas[0] (Adam) torch's `OneCycleLR(..., cycle_momentum=True,
        base_momentum, max_momentum)` sets, read from the optimizer step by step, exactly (bit for bit), for
        steps 0 to total_steps - 1: test_one_cycle_momentum in tests/schedules/test_sched_momentum.py. Past the
        end torch raises; lrlab holds the last value, as one_cycle does.

    Examples:
        >>> from lrlab import one_cycle
        >>> m = one_cycle(0.1, total_steps=10, pct_start=0.5, anneal="linear").momentum(0.8, 0.9)
        >>> m
        one_cycle_momentum(0.8, max_momentum=0.9, total_steps=10, pct_start=0.5, anneal="linear")
        >>> [round(m(t), 6) for t in range(11)]
        [0.9, 0.875, 0.85, 0.825, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.9]
    """

    kind = "one_cycle_momentum"
    summary = "momentum cycled inversely to one_cycle's rate (torch OneCycleLR cycle_momentum)"
    length_param = "total_steps"

    def __init__(
        self,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal: str = "cos",
        three_phase: bool = False,
    ) -> None:
        k = self.kind
        pct_start, three_phase = _check_phases(k, pct_start, three_phase)
        self._set(
            base_momentum=check.in_range(k, "base_momentum", base_momentum, 0.0, 1.0),
            max_momentum=check.in_range(k, "max_momentum", max_momentum, 0.0, 1.0),
            total_steps=check.steps(k, "total_steps", total_steps, minimum=2, optional=True),
            pct_start=pct_start,
            anneal=check.choice(k, "anneal", anneal, ("cos", "linear")),
            three_phase=three_phase,
        )
        object.__setattr__(self, "_phases", None if self.total_steps is None else self._make_phases())

    def _make_phases(self) -> list[tuple[float, float, float]]:
        """(end_step, start_momentum, end_momentum) of each phase, as torch computes them."""
        high, low = self.max_momentum, self.base_momentum
        return _phases(self.total_steps, self.pct_start, self.three_phase, high, low, high)

    # the rate's phases, formula and events on these phases: one formula, two curves
    phases = one_cycle.phases
    _anneal = one_cycle._anneal
    def events(self, steps: int) -> list[tuple[int, str]]:
        """The ends of the phases, all "phase end": the first is the momentum's minimum (where the rate's warmup
        ends), no warmup of the momentum's own."""
        return [(t, "phase end") for t, _ in one_cycle.events(self, steps)]
    apply = one_cycle.apply


class cyclic_momentum(Schedule):
    """Cyclic momentum: the momentum torch's CyclicLR cycles inversely to the rate (cycle_momentum=True).

    It falls from `max_momentum` to `base_momentum` while the rate rises and climbs back while the rate falls;
    triangular2 and exp_range scale its swing as they scale the rate's. It drives SGD's momentum or Adam's beta1
    (betas[0]); `cyclic(...).momentum()` builds it with the rate's cycle.

    Formula, at optimizer step t, with f(t) and scale(t) as in `cyclic` (the position in the cycle, from 0 to 1
    and back, and the mode's scale):

        momentum(t) = max_momentum + (base_momentum - max_momentum) * f(t) * scale(t)

    Args:
        base_momentum: the momentum at the top of the rate's cycle (in [0, 1]).
        max_momentum: the momentum at the start and the end of each cycle (in [0, 1]).
        step_size_up: the steps of the rate's rising half, in optimizer steps (an integer >= 1).
        step_size_down: the steps of the rate's falling half (an integer >= 1); None takes step_size_up.
        mode: "triangular", "triangular2" or "exp_range", as the rate's.
        gamma: the per-step factor of "exp_range" (in (0, 1]).

    Reference:
        Equals the momentum (SGD) and betas[0] (Adam) torch's `CyclicLR(..., cycle_momentum=True, base_momentum,
        max_momentum)` sets, read from the optimizer step by step, exactly (bit for bit): test_cyclic_momentum in
        tests/schedules/test_sched_momentum.py. torch's momentum formula is the rate's with base_lr =
        max_momentum and max_lr = base_momentum, and so is lrlab's.

    Examples:
        >>> from lrlab import cyclic, cyclic_momentum
        >>> m = cyclic(0.01, 0.1, step_size_up=2, mode="triangular2").momentum(0.8, 0.9)
        >>> m == cyclic_momentum(0.8, 0.9, step_size_up=2, mode="triangular2")
        True
        >>> [round(m(t), 6) for t in range(9)]
        [0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85, 0.875, 0.9]
    """

    kind = "cyclic_momentum"
    summary = "momentum cycled inversely to cyclic's rate (torch CyclicLR cycle_momentum)"

    def __init__(
        self,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
    ) -> None:
        k = self.kind
        self._set(
            base_momentum=check.in_range(k, "base_momentum", base_momentum, 0.0, 1.0),
            max_momentum=check.in_range(k, "max_momentum", max_momentum, 0.0, 1.0),
            step_size_up=check.steps(k, "step_size_up", step_size_up),
            step_size_down=check.steps(k, "step_size_down", step_size_down, optional=True),
            mode=check.choice(k, "mode", mode, ("triangular", "triangular2", "exp_range")),
            gamma=check.in_range(k, "gamma", gamma, 0.0, 1.0, low_open=True),
        )
        curve = cyclic(self.max_momentum, self.base_momentum, self.step_size_up, self.step_size_down, mode, gamma)
        object.__setattr__(self, "_curve", curve)  # the rate's formula from max_momentum "down" to base_momentum

    def events(self, steps: int) -> list[tuple[int, str]]:
        return self._curve.events(steps)

    def apply(self, xp: Namespace, t: Any) -> Any:
        return self._curve.apply(xp, t)
