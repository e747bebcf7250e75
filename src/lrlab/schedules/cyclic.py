"""Cyclical rates: triangular cycles (torch CyclicLR) and the one-cycle policy (torch OneCycleLR)."""

from __future__ import annotations

import math
from typing import Any

from .. import _check as check
from ._ns import Namespace
from .base import Schedule, multiples


class cyclic(Schedule):
    """Cyclical rates, equal to torch's CyclicLR (triangular, triangular2, exp_range) stepped per batch."""

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
        down = self.step_size_up if self.step_size_down is None else self.step_size_down
        return multiples(self.step_size_up + down, steps, "restart")

    def momentum(self, base_momentum: float = 0.8, max_momentum: float = 0.9) -> cyclic_momentum:
        """The momentum (SGD) or beta1 (Adam) torch's CyclicLR cycles inversely to this rate."""
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
            return self.base_lr + height * (1 / (2.0 ** (cycle - 1)))
        return self.base_lr + height * self.gamma**t


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
    """The one-cycle policy, equal to torch's OneCycleLR stepped once per optimizer step (steps 0 to
    total_steps - 1, cos and linear, three_phase included).

    Differences, outside torch's domain only: torch evaluates its last phase past 1 at step total_steps (below
    its floor; negative with anneal="linear") and raises ValueError after it; lrlab holds the floor
    max_lr / div_factor / final_div_factor from step total_steps - 1 on. An empty phase (pct_start * total_steps
    < 1) divides by zero in torch; lrlab takes it as finished.
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
        """(end_step, start_lr, end_lr) of each phase, as torch computes them (computed once, at construction)."""
        if self._phases is None:
            self._require_bound()
        return list(self._phases)

    def _make_phases(self) -> list[tuple[float, float, float]]:
        initial = self.max_lr / self.div_factor
        floor_lr = initial / self.final_div_factor
        return _phases(self.total_steps, self.pct_start, self.three_phase, initial, self.max_lr, floor_lr)

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> one_cycle_momentum:
        """The momentum (SGD) or beta1 (Adam) torch's OneCycleLR cycles inversely to this rate."""
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
    """The momentum torch's OneCycleLR sets with cycle_momentum=True (SGD's momentum, Adam's betas[0]): from
    max_momentum down to base_momentum while the rate rises, back up while it falls (three_phase: down, up,
    then held at max_momentum), on the rate's phases and anneal. `one_cycle(...).momentum()` builds it with the
    rate's total_steps, pct_start, anneal and three_phase. Equal to torch's step for step (steps 0 to
    total_steps - 1); past the end it holds its last value, as one_cycle does.
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
    events = one_cycle.events
    apply = one_cycle.apply


class cyclic_momentum(Schedule):
    """The momentum torch's CyclicLR sets with cycle_momentum=True (SGD's momentum, Adam's betas[0]):
    max_momentum - (max_momentum - base_momentum) * (the rate's position in its cycle), so it falls while the
    rate rises; triangular2 and exp_range scale its swing as they scale the rate's. `cyclic(...).momentum()`
    builds it with the rate's cycle. Equal to torch's step for step: torch's momentum formula is the rate's with
    base_lr = max_momentum and max_lr = base_momentum, bit for bit, and so is lrlab's.
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
