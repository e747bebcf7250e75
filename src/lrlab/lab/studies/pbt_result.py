"""The result of a population-based training study (lrlab.lab.studies.pbt): the population's rates, lineage and
figures per interval, its final runs and the winner, with the winner's schedule as a spec (lrlab.lab.studies.
pbt_export), a table, CSV files, and the confirmation of the learned schedule against hand schedules on fresh
seeds (through compare)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
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
        first_seed: the first member's seed (member k started on first_seed + k).
        options: compare's options for runs like the members' (optimizer, batch_size, dtype, optimizer options).
        key: the study key (lrlab.lab.studies.pbt_state.study_key): it names the population file and the lineage
            note in the run store (lrlab.lab.studies.pbt_store).
        run_ids: each member's run id in the run store (empty when nothing was stored).

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
    first_seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    run_ids: list[int | None] = field(default_factory=list)
    _fits: list[Fit] | None = field(default=None, init=False, repr=False)

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
        tie = "val_loss" if self.ranking.metric != "loss" else "loss"
        ties = [float(run.metrics.get(tie, math.nan)) for run in self.runs]
        order = order_members([r[self.ranking.column] for r in rows], ties, self.ranking, [r["status"] for r in rows])
        return frame.iloc[order].reset_index(drop=True)


    def export_lines(self, fits: int = 3) -> list[str]:
        """What the study learned, ready to paste: the winner's spec (its rates step for step) and the closest
        smooth specs with their errors.

        Args:
            fits: how many smooth specs to list (best first).

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, space="choice(0.5)", perturb=[1.0],
            ...              resample=0, progress=False)
            >>> print("\\n".join(result.export_lines(fits=1)))
            learned schedule (member 0's lineage, seed 0, no copies; its rate at every step):
              constant(0.5)
            closest smooth schedule (rms error of ln rate):
              0       constant(0.5)
        """
        path = self.lineage()
        copies = sum(1 for a, b in itertools.pairwise(path) if a != b)
        lines = [f"learned schedule (member {self.winner}'s lineage, seed {self.seed}, "
                 f"{copies or 'no'} cop{'y' if copies == 1 else 'ies'}; its rate at every step):",
                 f"  {self.replay}"]
        shown = self.fits[:fits]
        if shown:
            lines.append(f"closest smooth schedule{'s' if len(shown) > 1 else ''} (rms error of ln rate):")
            lines += [f"  {f.error:<7.3g} {f.schedule!r}" for f in shown]
        return lines

    def confirm(self, seeds: int = 3, *, hand: Sequence[str] | None = None, smooth: bool = True,
                db: Any = None, progress: Any = False, engine: str = "auto", device: str = "auto") -> Any:
        """Train the learned schedule from scratch on fresh seeds beside hand schedules, ranked on one leaderboard
        (lrlab.lab.studies.compare): is the learned schedule better than a fixed one, beyond the seeds' noise?

        The entries: the winner's spec (`replay`), the best smooth fit (with `smooth`, unless the spec is a constant
        already), and `hand` (default: constant and cosine at the task's rate). The seeds are fresh: first_seed + K
        onwards, none a member trained on.

        Args:
            seeds: fresh seeds per entry (>= 1).
            hand: the other entries, specs as compare takes them (None: constant and cosine at the task's rate), e.g.
                tune's winner beside them; an entry equal to one before it (the same spec written otherwise) is
                trained once.
            smooth: also train the best smooth fit.
            db: the run store (a path or URL), None to store nothing.
            progress: progress bars (as compare's).
            engine: "auto", "stacked" or "sequential".
            device: "auto", "cpu" or "cuda".

        Examples:
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
            >>> comparison = result.confirm(seeds=2)
            >>> comparison.leaderboard["runs"].tolist(), sorted({run.seed for run in comparison.runs})
            ([2, 2, 2, 2], [2, 3])
        """
        from ... import _check
        from .compare import compare

        n = _check.whole("confirm", "seeds", seeds, 1, 10_000)
        at = "" if not self.plateau else f"@{self.plateau}"
        lr = float(self.task.lr)
        entries = [self.replay]
        if smooth and self.fits and self.spec.kind != "constant":  # a constant is its own smooth fit
            entries.append(repr(self.fits[0].schedule) + at)
        entries += list(hand) if hand is not None else [f"constant({lr!r})", f"cosine({lr!r})"]
        entries = _once(entries, self.options.get("plateau"))  # e.g. a fit or a hand spec equal to the learned one
        first = self.first_seed + self.rates.shape[1]
        options = {k: v for k, v in self.options.items() if k != "plateau"}
        return compare(self.task, entries, seeds=list(range(first, first + n)), epochs=self.epochs, db=db,
                       progress=progress, engine=engine, device=device, plateau=self.options.get("plateau"),
                       **options)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write members.csv (`table`), population.csv (a row per interval and member: rate, donor, seed, figure),
        events.csv (the copies) and learned.txt (`export_lines`) into out_dir; returns the paths.

        Args:
            out_dir: the folder (created if needed).

        Examples:
            >>> import tempfile
            >>> from lrlab.lab.studies.pbt import pbt
            >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
            >>> with tempfile.TemporaryDirectory() as out:
            ...     [p.name for p in result.write(out)]
            ['members.csv', 'population.csv', 'events.csv', 'learned.txt']
        """
        import pandas as pd

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / n for n in ("members.csv", "population.csv", "events.csv", "learned.txt")]
        self.table().to_csv(paths[0], index=False)
        rows = [{"interval": i + 1, "member": k, "rate": float(self.rates[i, k]), "from": int(self.parents[i, k]),
                 "seed": int(self.seeds[i, k]), self.ranking.column: float(self.metrics[i, k])}
                for i in range(len(self.rates)) for k in range(self.rates.shape[1])]
        pd.DataFrame(rows).to_csv(paths[1], index=False)
        columns = ["interval", "member", "donor", "old_rate", "new_rate", "how"]
        pd.DataFrame(self.events, columns=columns).to_csv(paths[2], index=False)
        paths[3].write_text("\n".join(self.export_lines(fits=len(self.fits))) + "\n")
        return paths


def _once(entries: list[Any], plateau: Any) -> list[Any]:
    """The entries without those compare would label like one before them (it refuses a label listed twice): the
    schedule's repr, its plateau (its own, else `plateau`) and its own optimizer, as compare's labels have them."""
    from ...plateau import Plateau
    from .compare import entry_optimizer, optimizer_suffix, split_entry

    default = Plateau.from_options(plateau)
    seen, out = set(), []
    for entry in entries:
        sched, own, has_own = split_entry(entry)
        plat = own if has_own else default
        opt = entry_optimizer(entry)[1]
        label = repr(sched) + (f"@{plat.spec()}" if plat is not None else "") + (optimizer_suffix(*opt) if opt else "")
        if label not in seen:
            seen.add(label)
            out.append(entry)
    return out


def order_members(figures: Sequence[float], ties: Sequence[float], rank: Ranking, status: Sequence[str]) -> list[int]:
    """Members best first: the ranked figure in its direction, then `ties` (a loss: lower first), then the member's
    number; a member that diverged (or whose figure is NaN) last.

    PBT's selection and its winner read this order (an accuracy ties often on a small validation split: the
    validation loss breaks the tie).

    Args:
        figures: each member's ranked figure.
        ties: each member's tie-breaking loss.
        rank: the Ranking (its direction).
        status: each member's run status ("ok", "diverged", ...).

    Examples:
        >>> from lrlab.lab.ranking import ranking
        >>> from lrlab.lab.studies.pbt_result import order_members
        >>> order_members([0.9, 0.95, 0.95, 0.99], [0.3, 0.2, 0.1, 0.0], ranking("val_accuracy"),
        ...               ["ok", "ok", "ok", "diverged"])
        [2, 1, 0, 3]
    """
    def key(k: int) -> tuple[float, float, int]:
        value = float(figures[k])
        if status[k] != "ok" or not math.isfinite(value):
            return (math.inf, math.inf, k)
        tie = float(ties[k]) if math.isfinite(float(ties[k])) else math.inf
        return (-value if rank.higher_is_better else value, tie, k)

    return sorted(range(len(figures)), key=key)

