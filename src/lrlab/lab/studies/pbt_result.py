"""The result of a population-based training study (lrlab.lab.studies.pbt): the population's rates, lineage and
figures per interval, its final runs and the winner, with the winner's schedule as a spec (lrlab.lab.studies.
pbt_export), a table, CSV files, and the confirmation of the learned schedule against hand schedules on fresh
seeds (through compare)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...schedules import Schedule
from ..ranking import Ranking
from ..run import Run
from ..tasks.task import Task
from .pbt_export import Fit, fit_smooth, lineage_spec


@dataclass
class PBT:
    """The result of `pbt`: the population's rates and lineage per interval, its final runs, and the winner.

    rates[i, k] is the rate member k trained interval i with; parents[i, k] the member whose state it started
    interval i from (k itself when it kept its own); seeds[i, k] the seed of its run (the first member of its
    lineage's). metrics[i, k] is the ranked figure at interval i's end; curves[e, k] after epoch e + 1. `events`
    lists the exploits: interval (the one that ended), member, donor, old and new rate, how it explored.

    Args:
        task: the Task trained.
        ranking: what the members are ranked by.
        interval: epochs per interval.
        epochs: epochs in all.
        interval_steps: optimizer steps per interval.
        rates: (intervals, K) rates.
        parents: (intervals, K) donors.
        seeds: (intervals, K) run seeds.
        metrics: (intervals, K) ranked figures.
        curves: (epochs, K) ranked figures per epoch.
        events: the exploits.
        runs: each member's final run (its lineage's run, history and per-step rates included).
        states: each member's checkpoint (lrlab.lab.engines.checkpoint) where the next interval starts from (after
            the last: where it ended; None for a member that diverged).
        winner: the best member at the end.
        engine: "stacked" or "sequential".
        wall_s: training time in seconds (this call's).
        plateau: the runs' plateau options string ("" for none).

    Examples:
        >>> from lrlab.lab.studies.pbt import pbt
        >>> result = pbt("or3", population=4, interval=2, epochs=4, progress=False)
        >>> result.rates.shape, len(result.runs), result.ranking.metric
        ((2, 4), 4, 'val_accuracy')
        >>> bool((result.spec_rates() == result.runs[result.winner].step_lr).all())
        True
    """

    task: Task
    ranking: Ranking
    interval: int
    epochs: int
    interval_steps: int
    rates: np.ndarray
    parents: np.ndarray
    seeds: np.ndarray
    metrics: np.ndarray
    curves: np.ndarray
    events: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    states: list[dict[str, Any] | None] = field(default_factory=list)
    winner: int = 0
    engine: str = "stacked"
    wall_s: float = 0.0
    plateau: str = ""
    _fits: list[Fit] | None = None

    def lineage(self, member: int | None = None) -> list[int]:
        """The member slot a member's state was in at each interval (the winner's by default), first to last.

        Args:
            member: the member (None: the winner).

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=4, interval=2, epochs=4, progress=False)
            >>> path = result.lineage()
            >>> len(path), path[-1] == result.winner
            (2, True)
        """
        slot = self.winner if member is None else member
        path = []
        for i in range(len(self.rates) - 1, -1, -1):
            path.append(slot)
            slot = int(self.parents[i, slot])
        return path[::-1]

    def member_spec(self, member: int) -> Schedule:
        """A member's schedule: the rates of its lineage, one per interval, as a piecewise constant spec (its run
        is the run of this spec on seed `seeds[-1, member]`).

        Args:
            member: the member.

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, space="choice(0.5)", perturb=[1.0],
            ...              resample=0, progress=False)
            >>> result.member_spec(1)
            constant(0.5)
        """
        path = self.lineage(member)
        return lineage_spec([float(self.rates[i, k]) for i, k in enumerate(path)], self.interval_steps)

    @property
    def spec(self) -> Schedule:
        """The winner's schedule (`member_spec`): what it trained with at every step."""
        return self.member_spec(self.winner)

    @property
    def seed(self) -> int:
        """The seed whose run the winner is: training `spec` from scratch on it replays the winner."""
        return int(self.seeds[-1, self.winner])

    def spec_rates(self) -> np.ndarray:
        """The winner's spec at every step the winner trained (equal to its run's `step_lr` without a plateau).

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
            >>> len(result.spec_rates()) == len(result.runs[result.winner].step_lr)
            True
        """
        n = len(self.runs[self.winner].step_lr)
        return np.asarray(self.spec(np.arange(n)), dtype=np.float64)

    @property
    def fits(self) -> list[Fit]:
        """The smooth families fitted to the winner's step rates, best first (`fit_smooth`)."""
        if self._fits is None:
            self._fits = fit_smooth(self.spec_rates(), self.interval_steps)
        return self._fits

    @property
    def replay(self) -> str:
        """The winner's spec as compare takes it: with "@plateau(...)" when the runs had a plateau."""
        return repr(self.spec) + (f"@{self.plateau}" if self.plateau else "")

    def table(self) -> Any:
        """One row per member: its final figure, rate, seed, exploits along its lineage; best first.

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
            >>> result.table().columns.tolist()
            ['member', 'val_accuracy', 'test_accuracy', 'final_rate', 'seed', 'copies', 'status']
        """
        import pandas as pd

        rows = []
        for k, run in enumerate(self.runs):
            path = self.lineage(k)
            row = {"member": k, self.ranking.column: run.metrics.get(self.ranking.metric, math.nan)}
            if self.ranking.test:
                row[self.ranking.test] = run.metrics.get(self.ranking.test, math.nan)
            row.update(final_rate=float(self.rates[-1, k]), seed=int(self.seeds[-1, k]),
                       copies=sum(1 for a, b in itertools.pairwise(path) if a != b), status=run.status)
            rows.append(row)
        frame = pd.DataFrame(rows)
        order = order_members([r[self.ranking.column] for r in rows], [0.0] * len(rows), self.ranking,
                       [r["status"] for r in rows])
        return frame.iloc[order].reset_index(drop=True)


def order_members(figures: Sequence[float], ties: Sequence[float], rank: Ranking, status: Sequence[str]) -> list[int]:
    """Members best first: the ranked figure in its direction, then `ties` (a loss: lower first), then the member's
    number; a member that diverged (or whose figure is NaN) last."""
    def key(k: int) -> tuple[float, float, int]:
        value = float(figures[k])
        if status[k] != "ok" or not math.isfinite(value):
            return (math.inf, math.inf, k)
        tie = float(ties[k]) if math.isfinite(float(ties[k])) else math.inf
        return (-value if rank.higher_is_better else value, tie, k)

    return sorted(range(len(figures)), key=key)

