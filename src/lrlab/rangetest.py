"""The learning-rate range test without a framework: the rising rate, the smoothing, the stopping rule, the
suggestion rules and the result type. Standard library and numpy only (matplotlib and pandas lazily, for `plot`
and `to_frame`), so `lrlab.torch.find_lr`, `lrlab.keras.find_lr` and `lrlab.lab.find_lr` all share it.

The test (Smith, "Cyclical Learning Rates", 2015; as fastai's `lr_find`, Lightning's `Tuner.lr_find` and
torch-lr-finder run it): the rate of update t + 1 is `sweep(start_lr, end_lr, steps)(t)`, rising exponentially (or
linearly) from `start_lr` at the first update to `end_lr` at the last; every update's training loss is recorded and
smoothed with a bias-corrected moving average (beta 0.98, as fastai's Recorder and Lightning's `_LRCallback`); the
test stops after the update whose smoothed loss exceeds `diverge` (4) times the best so far or is not finite.

The suggestion rules (`valley`, `steep`, `minimum`, `slide`: fastai's; `gradient`: torch-lr-finder's and, with
`spacing="lr"`, Lightning's; `suggest`: all of them on their references' windows) live in `lrlab.rangetest_rules`
with a table of what each gives, and the picture (`loss_at`, `y_limits`, `MARKERS`) in `lrlab.rangetest_plot`; both
are re-exported here, so `from lrlab.rangetest import valley` works as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _check
from .rangetest_plot import _COLORS as _COLORS
from .rangetest_plot import MARKERS as MARKERS
from .rangetest_plot import _draw as _draw
from .rangetest_plot import _save as _save
from .rangetest_plot import loss_at as loss_at
from .rangetest_plot import y_limits as y_limits
from .rangetest_rules import FASTAI_SKIP_END as FASTAI_SKIP_END
from .rangetest_rules import _arrays as _arrays
from .rangetest_rules import gradient as gradient
from .rangetest_rules import minimum as minimum
from .rangetest_rules import slide as slide
from .rangetest_rules import steep as steep
from .rangetest_rules import suggest as suggest
from .rangetest_rules import valley as valley
from .schedules import Schedule, exponential, linear

BETA = 0.98
"""Smoothing of the loss: fastai's and Lightning's value."""
DIVERGE = 4.0
"""The test stops when the smoothed loss exceeds this many times its best (fastai's and Lightning's value)."""
MODES = ("exp", "linear")
RULES = ("valley", "steep", "minimum", "slide", "gradient")
WARMUP_FRACTION = 0.05
"""The warmup of the ready warmup+cosine spec: this share of the run."""

_WHO = "find_lr"


# -- settings and the rising rate ----------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """A range test's settings, checked (ValueError naming the parameter and its value).

    The one place where the range test's options are validated: every `find_lr` (torch, Keras, the lab) builds
    one, so a bad option is refused before any training. Frozen; `schedule` is the rising rate (`sweep`).

    Args:
        start_lr: the rate of the first update (> 0).
        end_lr: the rate of the last update (> start_lr).
        steps: the number of updates (optimizer steps) the test plans, an integer >= 2.
        mode: "exp" (rates evenly spaced on a log scale, the usual choice) or "linear".
        beta: the smoothing of the loss, in [0, 1) (0.98: fastai's and Lightning's).
        diverge: stop after the update whose smoothed loss exceeds this many times the best so far (> 1), or
            None to stop only on a loss that is not finite.

    Raises:
        ValueError: a setting out of range; the message names it and its value.

    Examples:
        >>> from lrlab.rangetest import Settings
        >>> s = Settings(start_lr=1e-4, end_lr=1.0, steps=5)
        >>> s.schedule, round(s.schedule(2), 6)
        (exponential(0.0001, decay_steps=4, decay_rate=10000.0), 0.01)
        >>> Settings(start_lr=1.0, end_lr=0.1)
        Traceback (most recent call last):
        ...
        ValueError: find_lr: start_lr must be < end_lr, got start_lr=1.0, end_lr=0.1
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    steps: int = 100
    mode: str = "exp"
    beta: float = BETA
    diverge: float | None = DIVERGE

    def __post_init__(self) -> None:
        w = _WHO
        start = _check.positive(w, "start_lr", self.start_lr)
        end = _check.positive(w, "end_lr", self.end_lr)
        if not start < end:
            raise ValueError(f"{w}: start_lr must be < end_lr, got start_lr={start!r}, end_lr={end!r}")
        object.__setattr__(self, "start_lr", start)
        object.__setattr__(self, "end_lr", end)
        object.__setattr__(self, "steps", _check.whole(w, "steps", self.steps, 2, _check.MAX_STEPS))
        object.__setattr__(self, "mode", _check.choice(w, "mode", self.mode, MODES))
        object.__setattr__(self, "beta", _check.in_range(w, "beta", self.beta, 0.0, 1.0, high_open=True))
        if self.diverge is not None:
            what = "a finite number > 1 (or None: stop only on a loss that is not finite)"
            object.__setattr__(self, "diverge", _check.number(w, "diverge", self.diverge, 1.0, low_open=True,
                                                              what=what))

    @property
    def schedule(self) -> Schedule:
        """The rising rate of these settings: `sweep(start_lr, end_lr, steps, mode)`."""
        return sweep(self.start_lr, self.end_lr, self.steps, self.mode)


def sweep(start_lr: float, end_lr: float, steps: int, mode: str = "exp") -> Schedule:
    """The rising rate as an lrlab schedule: `start_lr` at step 0, `end_lr` at step `steps - 1`.

    exp: `exponential(start_lr, steps - 1, end_lr / start_lr)`, i.e. `start * (end / start) ** (t / (steps - 1))`,
    torch-lr-finder's ExponentialLR to the last bit; linear: `linear(start_lr, end_lr, steps - 1)`.

    Being a schedule, the sweep runs through any adapter (torch, Keras, optax) unchanged; t counts optimizer steps
    (updates), so update t + 1 uses `sweep(...)(t)`.

    Args:
        start_lr: the rate at step 0 (> 0).
        end_lr: the rate at step `steps - 1` (> start_lr).
        steps: the number of updates, an integer >= 2.
        mode: "exp" or "linear".

    Returns:
        An `exponential` or `linear` schedule.

    Raises:
        ValueError: as `Settings`.

    Examples:
        >>> from lrlab.rangetest import sweep
        >>> s = sweep(1e-4, 1.0, 5)
        >>> [round(s(t), 6) for t in range(5)]
        [0.0001, 0.001, 0.01, 0.1, 1.0]
        >>> sweep(0.1, 0.5, 5, mode="linear")
        linear(0.1, end_lr=0.5, steps=4)
    """
    s = Settings(start_lr, end_lr, steps, mode)
    if s.mode == "exp":
        return exponential(s.start_lr, s.steps - 1, s.end_lr / s.start_lr)
    return linear(s.start_lr, s.end_lr, s.steps - 1)


# -- smoothing and stopping ---------------------------------------------------------------------
def smooth(losses: Sequence[float] | np.ndarray, beta: float = BETA) -> np.ndarray:
    """The bias-corrected moving average: `avg = beta * avg + (1 - beta) * loss`, `avg / (1 - beta ** (i + 1))`
    (Lightning's `_LRCallback`; fastai's `AvgSmoothLoss` is the same average).

    A range test's losses are noisy update by update; the suggestion rules read this smoothed curve. The
    correction makes the first values the plain running mean instead of starting near 0. `Tracker` computes the
    same average one loss at a time.

    Args:
        losses: the losses in update order.
        beta: the weight of the past, in [0, 1) (not checked here; `Settings` checks it).

    Returns:
        A float64 array of the same length.

    Examples:
        >>> from lrlab.rangetest import smooth
        >>> smooth([1.0, 2.0, 3.0], beta=0.5).round(6)
        array([1.      , 1.666667, 2.428571])
    """
    avg = 0.0
    out = np.empty(len(losses))
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


class Tracker:
    """Feeds one update's loss at a time; `add` says when the test must stop (the stopping rule in one place).

    Every framework's loop calls `add` after each update, so they all stop at the same update. Its attributes:
    `losses` and `smoothed` (lists, one per update), `best` (the lowest finite smoothed loss), `stopped` (None,
    "diverged" or "not finite").

    Args:
        beta: the smoothing weight, as `smooth`'s.
        diverge: the factor over the best smoothed loss that stops the test, or None (stop only on non-finite).

    Examples:
        >>> from lrlab.rangetest import Tracker
        >>> t = Tracker(diverge=4.0)
        >>> [t.add(loss) for loss in (1.0, 0.5, 0.4, 50.0)]
        [False, False, False, True]
        >>> t.stopped, round(t.best, 6)
        ('diverged', 0.629302)
    """

    def __init__(self, beta: float = BETA, diverge: float | None = DIVERGE) -> None:
        self.beta, self.diverge = beta, diverge
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.best = math.inf
        self.stopped: str | None = None
        self._avg = 0.0

    def add(self, loss: float) -> bool:
        """Record `loss`; True when the test stops here (smoothed loss > diverge x best, or not finite).

        The comparison is with the best smoothed loss before this one, so the update that diverges is recorded;
        `stopped` then says why.

        Args:
            loss: the training loss of one update (a number or a 0-d tensor/array).

        Returns:
            True when the test must stop after this update.

        Examples:
            >>> from lrlab.rangetest import Tracker
            >>> t = Tracker()
            >>> t.add(1.0), t.add(float("nan")), t.stopped
            (False, True, 'not finite')
        """
        loss = float(loss)
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        value = self._avg / (1 - self.beta ** (len(self.losses) + 1))
        self.losses.append(loss)
        self.smoothed.append(value)
        if not math.isfinite(value):
            self.stopped = "not finite"
        elif self.diverge is not None and value > self.diverge * self.best:
            self.stopped = "diverged"
        self.best = min(self.best, value) if math.isfinite(value) else self.best
        return self.stopped is not None


# -- the median over seeds ----------------------------------------------------------------------
def _geomedian(values: Iterable[float]) -> float:
    """The median of the finite values > 0: the middle one, or the geometric mean of the middle two (rates are
    compared on a log scale). NaN when there are none."""
    v = sorted(x for x in values if math.isfinite(x) and x > 0)
    if not v:
        return math.nan
    half = len(v) // 2
    return v[half] if len(v) % 2 else min(max(math.sqrt(v[half - 1] * v[half]), v[half - 1]), v[half])


# -- the results --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RangeTest:
    """One range test: the rate and loss of every update done, the smoothed loss, each rule's rate (NaN where a
    rule has too few points), why it stopped early (None: it ran all `settings.steps` updates).

    What `lrlab.torch.find_lr` and `lrlab.keras.find_lr` return (the lab's `find_lr` gathers one per seed in a
    `FindResult`); frozen. Build it from a finished loop with `RangeTest.from_tracker(lrs, tracker, settings,
    seed)`.

    Args:
        lrs: the rate of each update done (float64 array).
        losses: the raw training loss of each update.
        smoothed: the smoothed loss of each update (`smooth`).
        suggestions: each rule's rate (`suggest`).
        settings: the test's `Settings`.
        stopped: None (ran all steps), "diverged" or "not finite".
        seed: the seed of the run, when known.

    Examples:
        >>> import numpy as np
        >>> from lrlab.rangetest import RangeTest, Settings, Tracker
        >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
        >>> lrs = settings.schedule(np.arange(20))
        >>> tracker = Tracker()
        >>> stops = [tracker.add(loss) for loss in (np.log10(lrs) + 2) ** 2 + 1]  # bottom at 1e-2
        >>> rt = RangeTest.from_tracker(lrs, tracker, settings, seed=0)
        >>> rt.stopped, len(rt.losses), {rule: round(lr, 6) for rule, lr in rt.suggestions.items()}
        (None, 20, {'valley': 0.002976, 'steep': 0.000264, 'minimum': 0.008859, 'slide': nan, 'gradient': 0.012743})
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: dict[str, float]
    settings: Settings = field(default_factory=Settings)
    stopped: str | None = None
    seed: int | None = None

    @classmethod
    def from_tracker(cls, lrs: Sequence[float], tracker: Tracker, settings: Settings,
                     seed: int | None = None) -> RangeTest:
        """The result of a finished loop (`lrs`: the rate of each recorded update).

        Computes the suggestions with `suggest` on the tracker's smoothed losses, on the windows of the test's
        planned `settings.steps`. A test whose loss was never finite (NaN or inf from the first update: a broken
        model, data or loss, not a rate) has nothing to suggest: a one-line ValueError says so.

        Args:
            lrs: the rate of each update the tracker recorded (as many as its losses).
            tracker: the `Tracker` the loop fed.
            settings: the test's `Settings`.
            seed: the run's seed, when known.

        Returns:
            A RangeTest.

        Examples:
            >>> from lrlab.rangetest import RangeTest, Settings, Tracker
            >>> tracker = Tracker()
            >>> tracker.add(1.0), tracker.add(float("inf"))
            (False, True)
            >>> rt = RangeTest.from_tracker([0.01, 0.1], tracker, Settings(steps=10), seed=1)
            >>> rt.stopped, rt.lrs.tolist(), rt.seed
            ('not finite', [0.01, 0.1], 1)
        """
        lrs_a = np.asarray(lrs, dtype=np.float64)
        smoothed = np.asarray(tracker.smoothed, dtype=np.float64)
        if tracker.losses and not np.isfinite(tracker.losses).any():
            where = "" if seed is None else f" (seed {seed})"
            raise ValueError(f"find_lr: the loss was never finite{where}: {tracker.losses[0]} at the first update, "
                             f"rate {lrs_a[0]:g}, before the rate could matter; check the model, its data and the "
                             "loss")
        return cls(lrs=lrs_a, losses=np.asarray(tracker.losses, dtype=np.float64), smoothed=smoothed,
                   suggestions=suggest(lrs_a, smoothed, settings.steps), settings=settings,
                   stopped=tracker.stopped, seed=seed)

    def to_frame(self) -> Any:
        """A pandas DataFrame: step, lr, loss, smoothed (and seed when known).

        One row per update, step counting from 1 (the first update); for saving as CSV or further analysis.
        Imports pandas.

        Returns:
            The DataFrame.

        Examples:
            >>> from lrlab.rangetest import RangeTest, Settings, Tracker
            >>> tracker = Tracker()
            >>> _ = [tracker.add(loss) for loss in (1.0, 0.5)]
            >>> rt = RangeTest.from_tracker([0.01, 0.1], tracker, Settings(steps=2), seed=3)
            >>> rt.to_frame().columns.tolist(), rt.to_frame()["step"].tolist()
            (['seed', 'step', 'lr', 'loss', 'smoothed'], [1, 2])
        """
        import pandas as pd

        frame = pd.DataFrame({"step": np.arange(1, len(self.lrs) + 1), "lr": self.lrs, "loss": self.losses,
                              "smoothed": self.smoothed})
        if self.seed is not None:
            frame.insert(0, "seed", self.seed)
        return frame

    def plot(self, path: str | Path | None = None, *, ax: Any = None, title: str | None = None) -> Any:
        """The curve on a log-rate axis with a marker per suggestion; returns the matplotlib Figure (written to
        `path` when given: png, svg or pdf).

        The same picture as `FindResult([self]).plot(...)`: the raw and smoothed loss, a marker per rule.

        Args:
            path: a file to write (.png, .svg or .pdf), or None to only return the figure.
            ax: a matplotlib Axes to draw onto, or None for a new figure (no pyplot involved).
            title: the title, or None for none.

        Returns:
            The matplotlib Figure.

        Raises:
            ValueError: path has another suffix.

        Examples:
            >>> from lrlab.rangetest import RangeTest, Settings, Tracker
            >>> tracker = Tracker()
            >>> _ = [tracker.add(loss) for loss in (1.0, 0.8, 0.5, 0.6)]
            >>> rt = RangeTest.from_tracker([1e-3, 1e-2, 1e-1, 1.0], tracker, Settings(steps=4))
            >>> fig = rt.plot(title="one seed")
            >>> fig.axes[0].get_xscale(), fig.axes[0].get_title()
            ('log', 'one seed')
        """
        return FindResult([self]).plot(path, ax=ax, title=title)


@dataclass(frozen=True)
class FindResult:
    """Range tests of one set-up over several seeds: a band over the seeds and the spread of each suggestion.

    suggestions: each rule's median over the seeds (on a log scale); spread: each rule's (lowest, highest);
    per_seed: each rule's rate per seed; lrs, losses, smoothed: one row per seed (NaN past an early stop).

    What the lab's `find_lr` (`lrlab find`) returns; wrap RangeTests of `lrlab.torch.find_lr` or
    `lrlab.keras.find_lr` in one to get the same view. One suggestion is noisy, so the spread over seeds says how
    far to trust it. `seeds` lists each run's seed.

    Args:
        runs: the range tests, one per seed (at least one).
        label: a name for the set-up (the plot's default title).
        run_steps: the length, in optimizer steps, of the training run the ready `specs` are for (sizes their
            warmup), or None.

    Raises:
        ValueError: no runs.

    Examples:
        >>> import numpy as np
        >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker
        >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
        >>> lrs = settings.schedule(np.arange(20))
        >>> def run(seed, bottom):                     # a loss curve with its bottom at rate `bottom`
        ...     tracker = Tracker()
        ...     for loss in (np.log10(lrs) - np.log10(bottom)) ** 2 + 1:
        ...         tracker.add(loss)
        ...     return RangeTest.from_tracker(lrs, tracker, settings, seed=seed)
        >>> found = FindResult([run(0, 1e-2), run(1, 1e-3)], label="demo")
        >>> [round(lr, 6) for lr in found.per_seed["valley"]], round(found.suggestions["valley"], 6)
        ([0.002976, 0.000695], 0.001438)
        >>> found.seeds, [row["seeds"] for row in found.table()]    # slide needs 16 points in fastai's window
        ([0, 1], [2, 2, 2, 0, 2])
    """

    runs: list[RangeTest]
    label: str = ""
    run_steps: int | None = None  # the length of the run the ready specs are for (sizes their warmup)

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("FindResult: no range tests")

    @property
    def seeds(self) -> list[int | None]:
        """Each run's seed (None where unknown)."""
        return [r.seed for r in self.runs]

    @property
    def lrs(self) -> np.ndarray:
        """The rates of the longest run (every run follows the same sweep)."""
        return max(self.runs, key=lambda r: len(r.lrs)).lrs

    def _rows(self, name: str) -> np.ndarray:
        n = max(len(r.lrs) for r in self.runs)
        out = np.full((len(self.runs), n), np.nan)
        for i, r in enumerate(self.runs):
            values = getattr(r, name)
            out[i, : len(values)] = values
        return out

    @property
    def losses(self) -> np.ndarray:
        """The raw losses, one row per run (NaN past a run's early stop)."""
        return self._rows("losses")

    @property
    def smoothed(self) -> np.ndarray:
        """The smoothed losses, one row per run (NaN past a run's early stop)."""
        return self._rows("smoothed")

    @property
    def per_seed(self) -> dict[str, list[float]]:
        """Each rule's rate in each run, in the order of `runs`."""
        return {rule: [r.suggestions[rule] for r in self.runs] for rule in RULES}

    @property
    def suggestions(self) -> dict[str, float]:
        """Each rule's median rate over the runs (the geometric mean of the middle two for an even count; NaN when
        no run gave a rate)."""
        return {rule: _geomedian(values) for rule, values in self.per_seed.items()}

    @property
    def spread(self) -> dict[str, tuple[float, float]]:
        """Each rule's (lowest, highest) rate over the runs that gave one ((nan, nan) when none did)."""
        out = {}
        for rule, values in self.per_seed.items():
            v = [x for x in values if math.isfinite(x)]
            out[rule] = (min(v), max(v)) if v else (math.nan, math.nan)
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per rule: rate (median), low, high, high / low, and how many seeds gave a rate.

        The suggestions with their spread, ready for a table (`pandas.DataFrame(found.table())`): a ratio near 1
        means the seeds agree on the rule's rate.

        Returns:
            A list of dicts with keys rule, lr, low, high, ratio (NaN when no seed gave a rate) and seeds.

        Examples:
            >>> import numpy as np
            >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker
            >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
            >>> lrs = settings.schedule(np.arange(20))
            >>> tracker = Tracker()
            >>> stops = [tracker.add(loss) for loss in (np.log10(lrs) + 2) ** 2 + 1]  # bottom at 1e-2
            >>> found = FindResult([RangeTest.from_tracker(lrs, tracker, settings)])
            >>> row = found.table()[2]
            >>> row["rule"], round(row["lr"], 6), row["ratio"], row["seeds"]
            ('minimum', 0.008859, 1.0, 1)
        """
        rows = []
        for rule in RULES:
            low, high = self.spread[rule]
            finite = sum(math.isfinite(x) for x in self.per_seed[rule])
            rows.append({"rule": rule, "lr": self.suggestions[rule], "low": low, "high": high,
                         "ratio": high / low if finite and low > 0 else math.nan, "seeds": finite})
        return rows

    def specs(self, rule: str = "valley") -> list[str]:
        """Ready specs for `lrlab compare` at the rate `rule` suggests (its median over the seeds, 3 digits): a
        one_cycle with that peak and a warmup into a cosine from it (warmup: 5% of `run_steps`, else 100 steps);
        the lengths are left to the run. [] when the rule gave no rate.

        Args:
            rule: the suggestion rule whose rate becomes the peak (one of RULES; default "valley").

        Returns:
            Two spec strings (a one_cycle and a warmup into a cosine), or [] when the rule gave no rate.

        Raises:
            ValueError: an unknown rule.

        Examples:
            >>> import numpy as np
            >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker
            >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
            >>> lrs = settings.schedule(np.arange(20))
            >>> tracker = Tracker()
            >>> stops = [tracker.add(loss) for loss in (np.log10(lrs) + 2) ** 2 + 1]  # bottom at 1e-2
            >>> found = FindResult([RangeTest.from_tracker(lrs, tracker, settings)])
            >>> found.specs("minimum")
            ['one_cycle(0.00886)', 'warmup(cosine(0.00886), steps=100)']
        """
        from .schedules import cosine, one_cycle, warmup

        peak = self.suggestions[_check.choice("specs", "rule", rule, RULES)]
        if not math.isfinite(peak) or peak <= 0:
            return []
        peak = float(f"{peak:.3g}")
        warm = max(1, round(WARMUP_FRACTION * self.run_steps)) if self.run_steps else 100
        return [repr(one_cycle(peak)), repr(warmup(cosine(peak), warm))]

    def to_frame(self) -> Any:
        """A pandas DataFrame of every run's curve (seed, step, lr, loss, smoothed).

        The runs' `RangeTest.to_frame` one after another; a run with no seed gets its index as seed.

        Returns:
            The DataFrame, one row per update per run.

        Examples:
            >>> import numpy as np
            >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker
            >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
            >>> lrs = settings.schedule(np.arange(20))
            >>> tracker = Tracker()
            >>> stops = [tracker.add(loss) for loss in (np.log10(lrs) + 2) ** 2 + 1]  # bottom at 1e-2
            >>> found = FindResult([RangeTest.from_tracker(lrs, tracker, settings)])
            >>> frame = found.to_frame()
            >>> frame.columns.tolist(), len(frame), frame["seed"].unique().tolist()
            (['seed', 'step', 'lr', 'loss', 'smoothed'], 20, [0])
        """
        import pandas as pd

        frames = [r.to_frame() for r in self.runs]
        for i, (frame, r) in enumerate(zip(frames, self.runs)):
            if r.seed is None:
                frame.insert(0, "seed", i)
        return pd.concat(frames, ignore_index=True)

    def plot(self, path: str | Path | None = None, *, ax: Any = None, title: str | None = None) -> Any:
        """Loss against rate (log axis): each seed's smoothed curve, the band between the lowest and highest over
        the seeds, and a marker per suggestion (its median, with a bar over the seeds' spread). Returns the Figure;
        written to `path` (png, svg, pdf) when given, without dates, so the same result gives the same bytes.

        Args:
            path: a file to write (.png, .svg or .pdf; its folder is created), or None to only return the figure.
            ax: a matplotlib Axes to draw onto, or None for a new figure (no pyplot involved).
            title: the title, or None for the result's `label`.

        Returns:
            The matplotlib Figure.

        Raises:
            ValueError: path has another suffix.

        Examples:
            >>> import numpy as np
            >>> from lrlab.rangetest import FindResult, RangeTest, Settings, Tracker
            >>> settings = Settings(start_lr=1e-4, end_lr=1.0, steps=20)
            >>> lrs = settings.schedule(np.arange(20))
            >>> tracker = Tracker()
            >>> stops = [tracker.add(loss) for loss in (np.log10(lrs) + 2) ** 2 + 1]  # bottom at 1e-2
            >>> found = FindResult([RangeTest.from_tracker(lrs, tracker, settings)])
            >>> import tempfile, pathlib
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     fig = found.plot(pathlib.Path(tmp) / "find.svg", title="demo")
            ...     (pathlib.Path(tmp) / "find.svg").exists()
            True
        """
        fig = _draw(self, ax, title if title is not None else self.label)
        if path is not None:
            _save(fig, path)
        return fig
