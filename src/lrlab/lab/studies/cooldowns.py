"""WSD cooldowns from one run ("anytime" schedules, Hägele et al. 2024): the stable phase of a warmup-stable-decay
schedule is trained once, checkpointed where each training length's cooldown begins, and a cooldown branches
from each checkpoint, so many lengths cost little more than the longest; each length's final metric is reported
next to a full cosine run of the same length.

Lengths: L_i = round(at_i * steps); the cooldown of length L_i takes D_i = round(fraction * L_i) steps and starts
at S_i = L_i - D_i. The trunk is `wsd(PEAK, total_steps=max S_i, warmup_steps=W, decay_steps=0, end_lr=E)` (a
constant PEAK after the spec's warmup) trained with a budget of max S_i steps; branch i resumes from its
checkpoint at S_i under `wsd(PEAK, total_steps=L_i, warmup_steps=W, decay_steps=D_i, end_lr=E, decay=...)` with a
budget of L_i steps. The rates of the two schedules agree up to S_i, so branch i IS the run of that wsd schedule
trained from scratch (equal to rounding; tests/lab/test_cooldowns.py checks it in float64). It is stored under
that run's config (plus a "branch" field, which is not part of the store key): a branch and a fresh run of the same
wsd schedule share a key, and either one is reused for the other.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import _check
from ...schedules import Schedule, parse
from ..engines import checkpoint
from ..engines.auto import choose
from ..engines.stacked import execute_stack
from ..engines.train import execute, resolve_device
from ..options import TASK_DEFAULT, RunOptions, resolve_task
from ..plan import Plan, plan
from ..progress import bars as _bars
from ..progress import stack_bar as _stack_bar
from ..run import Run
from ..store import DEFAULT_DB, Store
from ..tasks.task import Task
from .compare import _seeds, train_plans

DEFAULT_AT = (0.25, 0.5, 0.75, 1.0)


def check_at(at: Any, who: str = "cooldowns", name: str = "at") -> tuple[float, ...]:
    """The fractions of the longest length at which runs end, checked: increasing numbers in (0, 1].

    A single number is one fraction. Each fraction becomes a length of round(at_i * steps) optimizer steps.

    Args:
        at: a fraction or a sequence of them.
        who: the caller named in the error ("cooldowns"; the CLI passes "").
        name: the parameter named in the error ("at"; the CLI passes "--at").

    Returns:
        The fractions as a tuple of floats.

    Raises:
        ValueError: an empty sequence, a value outside (0, 1], or values not strictly increasing.

    Examples:
        >>> from lrlab.lab.studies.cooldowns import check_at
        >>> check_at([0.25, 0.5, 1])
        (0.25, 0.5, 1.0)
        >>> check_at([0.5, 0.4])
        Traceback (most recent call last):
        ...
        ValueError: cooldowns: at must be increasing fractions in (0, 1], got [0.5, 0.4]
    """
    values = list(at) if isinstance(at, Iterable) and not isinstance(at, (str, bytes)) else [at]
    if not values:
        raise _check.fail(who, name, "increasing fractions in (0, 1]", at)
    out = [_check.number(who, name, v, 0.0, 1.0, low_open=True, what="increasing fractions in (0, 1]")
           for v in values]
    for a, b in itertools.pairwise(out):
        if b <= a:
            raise _check.fail(who, name, "increasing fractions in (0, 1]", at)
    return tuple(out)


def check_fraction(fraction: Any, who: str = "cooldowns", name: str = "fraction") -> float:
    """The share of each run spent cooling down, checked: a number in (0, 1).

    A run of L optimizer steps cools down over its last round(fraction * L) steps.

    Args:
        fraction: the share.
        who: the caller named in the error.
        name: the parameter named in the error.

    Examples:
        >>> from lrlab.lab.studies.cooldowns import check_fraction
        >>> check_fraction(0.2)
        0.2
        >>> check_fraction(1)
        Traceback (most recent call last):
        ...
        ValueError: cooldowns: fraction must be a number in (0, 1), got 1
    """
    return _check.number(who, name, fraction, 0.0, 1.0, low_open=True, high_open=True, what="a number in (0, 1)")


def check_spec(spec: Schedule | str, who: str = "cooldowns") -> Schedule:
    """The wsd schedule whose cooldowns are branched, checked: it must leave its lengths out.

    Its total_steps and decay_steps come from the lengths and the fraction; its peak rate, warmup_steps, end_lr and
    decay shape are kept in every branch.

    Args:
        spec: a wsd spec string or Schedule, without total_steps and decay_steps.
        who: the caller named in the error ("" for none).

    Raises:
        ValueError: a schedule of another kind, or one that gives total_steps or decay_steps.

    Examples:
        >>> from lrlab.lab.studies.cooldowns import check_spec
        >>> check_spec("wsd(0.1, warmup_steps=2, decay='1-sqrt')")
        wsd(0.1, warmup_steps=2, decay="1-sqrt")
        >>> check_spec("cosine(0.1)")
        Traceback (most recent call last):
        ...
        ValueError: cooldowns: the spec must be a wsd schedule, e.g. "wsd(0.1, decay='1-sqrt')", got 'cosine(0.1)'
    """
    prefix = f"{who}: " if who else ""
    sched = parse(spec) if isinstance(spec, str) else spec
    if not isinstance(sched, Schedule) or sched.kind != "wsd":
        raise ValueError(f"{prefix}the spec must be a wsd schedule, e.g. \"wsd(0.1, decay='1-sqrt')\", got "
                         f"{_check.shown(spec if isinstance(spec, str) else repr(sched))}")
    if sched.total_steps is not None or sched.decay_steps != 0:
        raise ValueError(f"{prefix}leave total_steps and decay_steps out of the wsd spec (the lengths come from at "
                         f"and steps, the cooldown from fraction), got {_check.shown(spec)}")
    return sched


def branch_schedule(spec: Schedule, length: int, fraction: float) -> Schedule:
    """The wsd schedule of one length: spec's peak, warmup, end rate and decay shape, cooling down over its last steps.

    The cooldown takes D = round(fraction * length) optimizer steps and starts at step length - D; up to there the
    rates equal `trunk_schedule`'s, which is why a branch resumed from the trunk's checkpoint is that schedule's run.

    Args:
        spec: the checked wsd spec (`check_spec`).
        length: the run's length in optimizer steps.
        fraction: the cooldown's share of the run, in (0, 1).

    Raises:
        ValueError: warmup_steps + D > length (no room for both).

    Examples:
        >>> from lrlab.lab.studies.cooldowns import branch_schedule, check_spec
        >>> b = branch_schedule(check_spec("wsd(0.1, warmup_steps=2)"), 20, 0.2)
        >>> b
        wsd(0.1, total_steps=20, warmup_steps=2, decay_steps=4)
        >>> [round(float(b(t)), 4) for t in (0, 1, 2, 16, 17, 19)]
        [0.0, 0.05, 0.1, 0.1, 0.075, 0.025]
    """
    from ...schedules import wsd

    decay = round(fraction * length)
    if spec.warmup_steps + decay > length:
        raise ValueError(f"cooldowns: a run of {length} steps has no room for the warmup ({spec.warmup_steps}) and a "
                         f"cooldown of {decay} steps; ask for more steps or a shorter warmup")
    return wsd(spec.peak_lr, total_steps=length, warmup_steps=spec.warmup_steps, decay_steps=decay,
               end_lr=spec.end_lr, decay=spec.decay)


def trunk_schedule(spec: Schedule, length: int) -> Schedule:
    """The stable phase: spec's warmup, then its peak rate, for `length` optimizer steps (no cooldown).

    The trunk trains once per seed up to the last cooldown start; the branches resume from its checkpoints.

    Args:
        spec: the checked wsd spec (`check_spec`).
        length: the trunk's length in optimizer steps (the last cooldown start).

    Examples:
        >>> from lrlab.lab.studies.cooldowns import check_spec, trunk_schedule
        >>> t = trunk_schedule(check_spec("wsd(0.1, warmup_steps=2)"), 16)
        >>> t
        wsd(0.1, total_steps=16, warmup_steps=2)
        >>> [round(float(t(s)), 4) for s in (0, 1, 2, 15)]
        [0.0, 0.05, 0.1, 0.1]
    """
    from ...schedules import wsd

    return wsd(spec.peak_lr, total_steps=length, warmup_steps=spec.warmup_steps, decay_steps=0, end_lr=spec.end_lr,
               decay=spec.decay)


@dataclass
class Cooldowns:
    """The result of `cooldowns`: per seed and length the wsd branch and the cosine run, and what the trunks cost.

    `table` gives one row per length (wsd and cosine metric, mean and std over seeds, and their difference);
    `write` puts it and the runs in CSV files. `scratch_steps` is what training every wsd length from scratch would
    take (sum of lengths x seeds), to set beside trunk_steps + branch_steps.

    Args:
        task: the Task trained.
        spec: the checked wsd spec.
        lengths: the runs' lengths in optimizer steps.
        starts: where each length's cooldown began (optimizer steps).
        seeds: the seeds.
        metric: the Run.metrics key compared (e.g. test_accuracy).
        branches: the wsd runs, in (seed, length) order.
        cosine: the cosine runs, in (seed, length) order (empty with cosine=False).
        trunk_steps: optimizer steps the trunks trained here (0 when stored runs or checkpoints were reused).
        branch_steps: optimizer steps the branches trained here (0 when stored runs were reused).
        trunk_wall_s: the trunks' training time in seconds.
        branch_wall_s: the branches' training time in seconds.

    Examples:
        >>> from lrlab.lab.studies.cooldowns import cooldowns
        >>> result = cooldowns("or3", "wsd(0.5)", at=(0.5, 1.0), steps=10, db=None, progress=False)
        >>> result.lengths, result.starts, result.metric
        ([5, 10], [4, 8], 'test_accuracy')
        >>> result.trunk_steps, result.branch_steps, result.scratch_steps
        (8, 3, 15)
        >>> result.table.columns.tolist()
        ['length', 'cooldown_start', 'wsd', 'wsd_std', 'cosine', 'cosine_std', 'difference']
    """

    task: Task
    spec: Schedule
    lengths: list[int]
    starts: list[int]
    seeds: list[int]
    metric: str
    branches: list[Run] = field(default_factory=list)
    cosine: list[Run] = field(default_factory=list)
    trunk_steps: int = 0
    branch_steps: int = 0
    trunk_wall_s: float = 0.0
    branch_wall_s: float = 0.0

    @property
    def scratch_steps(self) -> int:
        return sum(self.lengths) * len(self.seeds)

    def _values(self, runs: Sequence[Run], length: int) -> list[float]:
        return [float(r.metrics.get(self.metric, math.nan)) for r in runs if r.config.get("steps") == length]

    @property
    def table(self) -> Any:
        """One row per length: length, cooldown_start, wsd and cosine metric (mean and std over seeds, ddof=1) and
        their difference (wsd - cosine)."""
        import numpy as np
        import pandas as pd

        rows = []
        for length, start in zip(self.lengths, self.starts):
            row: dict[str, Any] = {"length": length, "cooldown_start": start}
            for name, runs in (("wsd", self.branches), ("cosine", self.cosine)):
                values = self._values(runs, length)
                row[name] = float(np.mean(values)) if values else math.nan
                row[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
            row["difference"] = row["wsd"] - row["cosine"]
            rows.append(row)
        return pd.DataFrame(rows)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write cooldowns.csv (the table) and runs.csv (one row per run, family wsd or cosine) into out_dir.

        The folder is created if needed; returns the two paths.

        Args:
            out_dir: the folder to write into.

        Examples:
            >>> import tempfile
            >>> from lrlab.lab.studies.cooldowns import cooldowns
            >>> result = cooldowns("or3", "wsd(0.5)", at=(1.0,), steps=5, db=None, progress=False, cosine=False)
            >>> with tempfile.TemporaryDirectory() as out:
            ...     [p.name for p in result.write(out)]
            ['cooldowns.csv', 'runs.csv']
        """
        import pandas as pd

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "cooldowns.csv", out / "runs.csv"]
        self.table.to_csv(paths[0], index=False)
        rows = [{"family": fam, "length": r.config.get("steps"), **r.row()}
                for fam, runs in (("wsd", self.branches), ("cosine", self.cosine)) for r in runs]
        pd.DataFrame(rows).to_csv(paths[1], index=False)
        return paths


def cooldowns(
    task: Task | str,
    spec: Schedule | str,
    *,
    at: Sequence[float] = DEFAULT_AT,
    fraction: float = 0.2,
    steps: int | None = None,
    seeds: int | Iterable[int] = (0,),
    optimizer: str | None = None,
    batch_size: Any = TASK_DEFAULT,
    metric: str | None = None,
    cosine: bool = True,
    db: str | Path | None = DEFAULT_DB,
    fresh: bool = False,
    progress: Any = True,
    engine: str = "auto",
    device: str = "auto",
    dtype: str | None = None,
    max_stack: int | None = None,
    checkpoint_dir: str | Path | None = None,
    **optimizer_kwargs: Any,
) -> Cooldowns:
    """Branch the cooldowns of a wsd schedule from one stable run per seed, and compare each length with cosine.

    The stable phase trains once per seed to the last cooldown start, checkpointed at every start; each length's
    cooldown resumes from its checkpoint, and each length's final `metric` is set beside a full cosine run of the
    same length (the formulas are in the module docstring). A branch equals the wsd run trained from scratch (to
    rounding; tests/lab/test_cooldowns.py checks it in float64) and is stored under that run's config.

    Args:
        task: a Task or a task name.
        spec: a wsd spec or Schedule without total_steps and decay_steps (`check_spec`).
        at: increasing fractions in (0, 1] of `steps` where runs end.
        fraction: each run's share of cooldown, in (0, 1).
        steps: the longest length in optimizer steps (None: the task's epochs x steps per epoch).
        seeds: a count n (seeds 0..n-1) or a list of seeds.
        optimizer: sgd, adam or adamw (None: the task's).
        batch_size: a batch size, None for full batch (default: the task's).
        metric: a key of Run.metrics (None: test_accuracy, or test_loss for a task without accuracy).
        cosine: False leaves the cosine runs out.
        db: the run store (a path or URL), None to store nothing. Stored runs are reused (a branch stored for every
            length of a seed spares that seed's trunk).
        fresh: train everything again.
        progress: True for rich bars, False for none, or a progress object.
        engine: "auto" or "stacked" trains the branches (and several seeds' trunks) stacked; "sequential" one after
            another. The cosine runs go through `train_plans` as in `compare`.
        device: "auto", "cpu" or "cuda".
        dtype: None (the task's), "float32" or "float64".
        max_stack: at most this many runs per stack.
        checkpoint_dir: a folder where every trunk checkpoint is also written (lrlab.lab.engines.checkpoint.save), so an
            interrupted call goes on from the last cooldown start it reached; None: none.
        **optimizer_kwargs: other optimizer options, as in `compare`.

    Raises:
        ValueError: a bad spec, at, fraction or option; lengths that round to equal; no room for warmup and cooldown.

    Examples:
        >>> from lrlab.lab.studies.cooldowns import cooldowns
        >>> result = cooldowns("or3", "wsd(0.5)", at=(0.5, 1.0), steps=10, db=None, progress=False)
        >>> [(r.config["steps"], r.config["schedule"]) for r in result.branches]
        [(5, 'wsd(0.5, total_steps=5, decay_steps=1)'), (10, 'wsd(0.5, total_steps=10, decay_steps=2)')]
        >>> [r.config["schedule"] for r in result.cosine]
        ['cosine(0.5, decay_steps=5)', 'cosine(0.5, decay_steps=10)']
    """
    task = resolve_task(task, "cooldowns", "it branches each cooldown from a checkpoint of the built-in loop's state")
    sched = check_spec(spec)
    at = check_at(at)
    fraction = check_fraction(fraction)
    seed_list = _seeds(seeds)
    device = resolve_device(device)
    base = RunOptions(optimizer=optimizer, steps=steps, batch_size=batch_size, optimizer_kwargs=optimizer_kwargs)
    data = task.load(seed_list[0])
    probe = plan(task, sched, base.replace(seed=seed_list[0]), data=data, dtype=dtype)
    total = probe.options.total_steps(len(data.train))
    lengths = [max(1, round(a * total)) for a in at]
    if len(set(lengths)) < len(lengths):
        raise ValueError(f"cooldowns: at gives equal lengths on {total} steps ({lengths}); ask for more steps")
    branch_scheds = [branch_schedule(sched, n, fraction) for n in lengths]
    starts = [n - s.decay_steps for n, s in zip(lengths, branch_scheds)]
    if metric is None:
        metric = "test_accuracy" if "accuracy" in task.metrics else "test_loss"
    result = Cooldowns(task=task, spec=sched, lengths=lengths, starts=starts, seeds=seed_list, metric=metric)

    def branch_plans(seed: int, d: Any) -> list[Plan]:
        out = []
        for n, s, start in zip(lengths, branch_scheds, starts):
            p = plan(task, s, base.replace(steps=n, seed=seed), data=d, dtype=dtype)
            p.config["branch"] = {"from_step": start, "trunk": repr(trunk_schedule(sched, max(starts)))}
            out.append(p)
        return out

    all_plans: list[Plan] = []
    trunks: list[_Trunk] = []
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    for seed in seed_list:
        d = data if seed == seed_list[0] else task.load(seed)
        plans = branch_plans(seed, d)
        all_plans += plans
        trunks.append(_trunk(task, sched, plans, starts, base.replace(seed=seed), d, dtype, db, fresh, folder))
    with _bars(progress) as bars:
        _train_trunks([t for t in trunks if t.todo], bars, device, engine, result)
    all_starts = [t.saved.get(s) for t in trunks for s in starts]
    begin = time.perf_counter()
    branches = train_plans(all_plans, db=db, fresh=fresh, progress=progress, engine=engine, device=device,
                           max_stack=max_stack, starts=all_starts)
    result.branch_wall_s = time.perf_counter() - begin
    result.branches = branches
    result.branch_steps = sum(len(r.step_lr) - c["step"] for r, c in zip(branches, all_starts)
                              if c is not None and r.model is not None)
    if cosine:
        cos = [plan(task, f"cosine({sched.peak_lr!r})", base.replace(steps=n, seed=seed), dtype=dtype,
                    data=p.data) for seed, group in zip(seed_list, _chunks(all_plans, len(lengths)))
               for n, p in zip(lengths, group)]
        result.cosine = train_plans(cos, db=db, fresh=fresh, progress=progress, engine=engine, device=device,
                                    max_stack=max_stack)
    return result


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class _Trunk:
    """One seed's stable run: its plan, the checkpoints it has (from files, or trained), the steps still to save."""

    plan: Plan | None
    saved: dict[int, dict[str, Any]]
    todo: list[int]
    files: dict[int, Path]

    def keep(self, state: dict[str, Any]) -> None:
        self.saved[state["step"]] = state
        if state["step"] in self.files:
            checkpoint.save(state, self.files[state["step"]])


def _trunk(task: Task, sched: Schedule, plans: list[Plan], starts: list[int], options: RunOptions, data: Any,
           dtype: str | None, db: str | Path | None, fresh: bool, folder: Path | None) -> _Trunk:
    """One seed's stable run up to the last cooldown start, checkpointed at every cooldown start: nothing to do
    when every branch of the seed is stored, or (with a folder) when every checkpoint is there as a file; a trunk
    whose first files exist goes on from the latest."""
    if db is not None and not fresh:
        with Store(db) as store:
            if all(store.find(p.config) is not None for p in plans):
                return _Trunk(None, {}, [], {})
    length = max(starts)
    if length == 0:  # every cooldown starts at step 0: the trunk's checkpoint is the initial state
        trunk = plan(task, trunk_schedule(sched, 1), options.replace(steps=1), data=data, dtype=dtype)
    else:
        trunk = plan(task, trunk_schedule(sched, length), options.replace(steps=length), data=data, dtype=dtype,
                     label=f"trunk {sched!r}")
    steps = sorted(set(starts))
    files = _checkpoint_files(trunk, steps, folder)
    saved = {} if fresh else {step: checkpoint.load(path) for step, path in files.items() if path.is_file()}
    done = max(saved, default=-1)
    return _Trunk(trunk, saved, [s for s in steps if s > done], files)


def _train_trunks(trunks: list[_Trunk], bars: Any, device: str, engine: str, result: Cooldowns) -> None:
    """Train the trunks that have checkpoints to make: stacked when there are several and the engine allows."""
    if not trunks:
        return
    plans = [t.plan for t in trunks]
    begins = [max(t.saved, default=None) for t in trunks]
    starts = [None if b is None else t.saved[b] for b, t in zip(begins, trunks)]
    length = max(p.options.total_steps(len(p.data.train)) for p in plans)
    begin = time.perf_counter()
    if len(plans) > 1 and choose(plans, device, engine=engine) == "stacked":
        bar = _stack_bar(bars, f"trunks to step {length}", len(plans), max(p.config["epochs"] for p in plans))
        execute_stack(plans, device=device, progress=bar, starts=starts, save_at=[t.todo for t in trunks],
                      on_save=lambda k, state: trunks[k].keep(state))
        bar.done("trunks")
    else:
        for t, start in zip(trunks, starts):
            bar = bars.bar(f"trunk to step {length}", t.plan.options.seed, t.plan.config["epochs"])
            execute(t.plan, progress=bar, device=device, start=start, save_at=t.todo, on_save=t.keep)
            bar.done("trunk")
    result.trunk_wall_s += time.perf_counter() - begin
    result.trunk_steps += sum(max(t.todo) - (b or 0) for t, b in zip(trunks, begins))


def _checkpoint_files(trunk: Plan, steps: list[int], folder: Path | None) -> dict[int, Path]:
    """Where a trunk's checkpoints are kept in `folder` (none without one): named by a hash of the trunk's whole
    config, so another task, seed, dtype or option never picks them up."""
    if folder is None:
        return {}
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(trunk.config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    return {step: folder / f"trunk-{digest}-step{step}.pt" for step in steps}
