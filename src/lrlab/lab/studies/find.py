"""The learning-rate range test on a lab task, over several seeds: `find_lr(task, seeds=3)`.

Each seed builds the task's model and optimizer exactly as `train` does for that seed (same init, same shuffles).
Several seeds train as one stacked model (`lrlab.lab.engines.stacked`: the sweep is the members' schedule, and each
member's per-step losses are read by `lrlab.rangetest.Tracker`, the stopping rule of the sequential test); one seed, or
a model that cannot be stacked, runs `lrlab.torch.find_lr` seed after seed. `range_tests` is the one place that
chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ... import _check
from ...rangetest import BETA, DIVERGE, FindResult, RangeTest, Settings
from ..options import TASK_DEFAULT, RunOptions
from ..tasks.task import SCHEDULE_FREE, Data, Task, optimizer_class, torch_dtype
from ..tasks.task_check import check_task


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    """A count n (seeds 0..n-1) or a non-empty list of whole numbers."""
    what = "a count >= 1 or a non-empty list of seeds"
    if _check.is_real(seeds):
        return list(range(_check.whole("find_lr", "seeds", seeds, 1, what=what)))
    out = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes)) else []
    if not out:
        raise _check.fail("find_lr", "seeds", what, seeds)
    return [RunOptions(seed=s).seed for s in out]


@dataclass(frozen=True)
class FindPlan:
    """One seed's range test, decided before any training: the task, its data, the resolved options and the settings.

    `find_lr` builds one per seed (so bad options fail before anything trains); `range_tests` runs them.

    Args:
        task: the Task whose model and optimizer the test trains.
        data: the task's data for this seed (`task.load(seed)`).
        options: the run options resolved against the task (`RunOptions.resolve`): optimizer, batch size, seed.
        settings: the sweep (`lrlab.rangetest.Settings`: start_lr, end_lr, steps, mode, beta, diverge).

    Examples:
        >>> from lrlab.lab.studies.find import FindPlan
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.tasks.task import get_task
        >>> from lrlab.rangetest import Settings
        >>> task = get_task("or3")
        >>> data = task.load(0)
        >>> p = FindPlan(task, data, RunOptions(seed=0).resolve(task, data), Settings(1e-3, 10.0, steps=20))
        >>> p.options.optimizer, p.options.batch_size, p.settings.steps
        ('sgd', None, 20)
    """

    task: Task
    data: Data
    options: RunOptions
    settings: Settings

    def __post_init__(self) -> None:
        check_task(self.task, self.data)  # a task the loop cannot train fails here, before any seed's test


class _Epochs:
    """The task's training batches, one shuffled epoch per pass (as `train` draws them); a range test starts it
    again when an epoch ends."""

    def __init__(self, x: Any, y: Any, batch_size: int | None, seed: int) -> None:
        import torch

        self.x, self.y, self.batch_size = x, y, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        import torch

        if self.batch_size is None:
            yield self.x, self.y
            return
        for idx in torch.randperm(len(self.x), generator=self.gen).split(self.batch_size):
            yield self.x[idx], self.y[idx]


def run_one(p: FindPlan) -> RangeTest:
    """One seed's range test on the sequential engine (model, optimizer and batches as `train` builds them).

    The model is the task's for the plan's seed, under the same deterministic settings as a training run; the
    batches are shuffled epochs drawn as `train` draws them, restarted when an epoch ends; `lrlab.torch.find_lr`
    sweeps the rate and stops when the smoothed loss passes `diverge` times its best.

    Args:
        p: the seed's FindPlan.

    Returns:
        The seed's RangeTest (rates and losses of the steps taken).

    Examples:
        >>> from lrlab.lab.studies.find import FindPlan, run_one
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.tasks.task import get_task
        >>> from lrlab.rangetest import Settings
        >>> task = get_task("or3")
        >>> data = task.load(0)
        >>> test = run_one(FindPlan(task, data, RunOptions(seed=0).resolve(task, data), Settings(1e-3, 10.0, steps=20)))
        >>> len(test.lrs), round(float(test.lrs[0]), 6), round(float(test.lrs[1]), 6)
        (20, 0.001, 0.001624)
    """
    import torch

    from ...torch import find_lr as torch_find_lr
    from ..engines.train import Loss, deterministic, tensors

    task, opts, s = p.task, p.options, p.settings
    with deterministic():
        dtype = torch_dtype(task.dtype)
        torch.manual_seed(opts.seed)
        model = task.model(opts.seed).to(dtype)
        x, y = tensors(p.data.train, dtype, task.loss)
        try:
            opt = optimizer_class(opts.optimizer)(model.parameters(), lr=s.start_lr, **opts.optimizer_kwargs)
        except TypeError as exc:
            raise ValueError(f"optimizer {opts.optimizer}: {exc}") from None
        if opts.optimizer in SCHEDULE_FREE:
            opt.train()  # a schedule-free optimizer steps only in train mode; the test reads training losses
        return torch_find_lr(model, opt, Loss(task.loss), _Epochs(x, y, opts.batch_size, opts.seed),
                             start_lr=s.start_lr, end_lr=s.end_lr, steps=s.steps, mode=s.mode, beta=s.beta,
                             diverge=s.diverge, restore=False, seed=opts.seed)


def range_tests(plans: list[FindPlan], progress: Callable[[RangeTest], Any] | None = None,
                engine: str = "auto") -> list[RangeTest]:
    """Every plan's range test, on the stacked engine where it can be, in plan order.

    engine "auto" (the default) trains the seeds as one stack when there are several and the model is worth
    stacking (`lrlab.lab.engines.stacked.why_sequential`; each member's curve read by the same
    `lrlab.rangetest.Tracker` as the sequential test), else one after another with `run_one` ("sequential"); "stacked"
    insists (ValueError when the model cannot be stacked). The stacked curves equal the sequential ones member by
    member (rates exactly, losses to rounding: tests/lab/test_find.py).

    Args:
        plans: the seeds' FindPlans.
        progress: called with each RangeTest as it is done (None: nothing).
        engine: "auto", "stacked" or "sequential".

    Examples:
        >>> from lrlab.lab.studies.find import FindPlan, range_tests
        >>> from lrlab.lab.options import RunOptions
        >>> from lrlab.lab.tasks.task import get_task
        >>> from lrlab.rangetest import Settings
        >>> task = get_task("or3")
        >>> plans = []
        >>> for seed in (0, 1):
        ...     data = task.load(seed)
        ...     plans.append(FindPlan(task, data, RunOptions(seed=seed).resolve(task, data), Settings(1e-3, 10.0, 20)))
        >>> [(t.seed, len(t.lrs)) for t in range_tests(plans, engine="sequential")]
        [(0, 20), (1, 20)]
    """
    engine = _check.choice("find_lr", "engine", engine, ENGINES)
    runs = None
    if engine != "sequential" and (len(plans) > 1 or engine == "stacked"):
        runs = _sweep_plans(plans)
        why = _why_not_stacked(runs, engine)
        if why is not None and engine == "stacked":
            raise ValueError(f"find_lr: engine='stacked', but {why}")
        runs = runs if why is None else None
    results = (run_one(p) for p in plans) if runs is None else iter(_stacked(plans, runs))
    out = []
    for r in results:
        out.append(r)
        if progress is not None:
            progress(r)
    return out


ENGINES = ("auto", "stacked", "sequential")


def _sweep_plans(plans: list[FindPlan]) -> list[Any]:
    """Each seed's range test as a lab run: the sweep as its schedule, for the whole epochs that cover its steps."""
    import math

    from ...rangetest import sweep
    from ..plan import plan as make_plan

    out = []
    for p in plans:
        s = p.settings
        epochs = math.ceil(s.steps / p.options.steps_per_epoch(len(p.data.train)))
        schedule = sweep(s.start_lr, s.end_lr, s.steps, s.mode)
        out.append(make_plan(p.task, schedule, p.options.replace(epochs=epochs, plateau=None), data=p.data))
    return out


def _why_not_stacked(runs: list[Any], engine: str) -> str | None:
    """Why these runs (the seeds' of one task) do not train as one stack under `engine` on the CPU
    (`why_sequential`, asked of the first: the model is the task's), or None when they do."""
    from ..engines.stacked import stack_key, why_sequential

    why = why_sequential(runs[0], engine, "cpu")
    if why is not None:
        return why
    if len({stack_key(r) for r in runs}) > 1:
        return "the seeds' runs cannot share one stack"
    return None


def _stacked(plans: list[FindPlan], runs: list[Any]) -> list[RangeTest]:
    """All seeds as one stacked model, then each member's curve read by the same Tracker as the sequential test
    (members are independent, so the updates before a member's stop are those it would have made alone)."""
    from ...rangetest import Tracker
    from ..engines.stacked import execute_stack

    out = []
    for p, run in zip(plans, execute_stack(runs)):
        s = p.settings
        tracker = Tracker(s.beta, s.diverge)
        lrs: list[float] = []
        for lr, loss in zip(run.step_lr[: s.steps], run.step_loss[: s.steps]):
            lrs.append(float(lr))
            if tracker.add(float(loss)):
                break
        out.append(RangeTest.from_tracker(lrs, tracker, s, seed=p.options.seed))
    return out


def find_lr(
    task: Task | str,
    seeds: int | Iterable[int] = 3,
    *,
    optimizer: str | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    batch_size: Any = TASK_DEFAULT,
    beta: float = BETA,
    diverge: float | None = DIVERGE,
    progress: Callable[[RangeTest], Any] | None = None,
    engine: str = "auto",
    **optimizer_kwargs: Any,
) -> FindResult:
    """The learning-rate range test on `task` for each seed, with each rule's suggested rate and its spread.

    Each seed builds the task's model and optimizer exactly as a training run of that seed does; the rate rises
    from start_lr to end_lr over `steps` optimizer steps and the test stops early when the smoothed loss passes
    `diverge` times its best (see `lrlab.rangetest`). The result holds every seed's curve, each rule's median rate
    and its spread over the seeds (`table()`), `specs()` ready for `lrlab compare` (the warmup sized to the task's
    default run), `plot()` and `to_frame()`.

    On a user's training function (an `Experiment`, or its reference "path/to/train.py:name") each seed is one
    call of the function with the sweep as `run.schedule` and `run.steps = steps` (`find_function`).

    Args:
        task: a Task or a task name, or a training function declared with `lrlab.lab.tasks.experiment` (or its
            reference).
        seeds: a count n (seeds 0..n-1) or a list of seeds.
        optimizer: sgd, adam, adamw, sgd_sf or adamw_sf (None: the task's; for a training function, what
            `run.options["optimizer"]` says).
        start_lr: the first rate (> 0).
        end_lr: the last rate (> start_lr).
        steps: optimizer steps of the sweep (>= 2).
        mode: "exp" (a geometric rise) or "linear".
        beta: the loss smoothing factor (exponential moving average, bias-corrected).
        diverge: stop when the smoothed loss passes this many times its best (None: never stop early).
        batch_size: a batch size, None for full batch (default: the task's; refused for a training function).
        progress: called with each seed's RangeTest as it is done.
        engine: "auto" (stack the seeds where the model allows; see `range_tests`), "stacked" or "sequential".
        **optimizer_kwargs: other optimizer options (momentum, weight_decay, ...), as `lrlab.lab.engines.train` takes
            them.

    Returns:
        A `lrlab.rangetest.FindResult`.

    Raises:
        ValueError: start_lr >= end_lr, steps < 2, a task without training data, or a bad option.

    Examples:
        >>> from lrlab.lab.studies.find import find_lr
        >>> result = find_lr("or3", seeds=2, steps=20, start_lr=1e-3, end_lr=10.0)
        >>> result.label, result.seeds
        ('or3: sgd, full batch', [0, 1])
        >>> round(result.suggestions["valley"], 4)
        0.0298
        >>> result.specs()
        ['one_cycle(0.0298)', 'warmup(cosine(0.0298), steps=25)']
    """
    from ..tasks.experiment import Experiment
    from .compare import resolve_target

    settings = Settings(start_lr, end_lr, steps, mode, beta, diverge)
    if progress is not None and not callable(progress):
        raise _check.fail("find_lr", "progress", "a function of each seed's RangeTest, or None", progress)
    task = resolve_target(task)
    seed_list = _seeds(seeds)
    if isinstance(task, Experiment):
        if batch_size is not TASK_DEFAULT:
            raise ValueError(f"find_lr: batch_size is an option of built-in tasks; experiment {task.name!r} batches "
                             f"its own data, got batch_size={batch_size!r}")
        _check.choice("find_lr", "engine", engine, ENGINES)
        return find_function(task, seed_list, settings, optimizer=optimizer, progress=progress, **optimizer_kwargs)
    plans = []
    for seed in seed_list:
        asked = RunOptions(optimizer=optimizer, batch_size=batch_size, seed=seed, optimizer_kwargs=optimizer_kwargs)
        data = task.load(seed)
        plans.append(FindPlan(task=task, data=data, options=asked.resolve(task, data), settings=settings))
    opts = plans[0].options
    batch = "full batch" if opts.batch_size is None else f"batch {opts.batch_size}"
    run_steps = int(task.epochs) * opts.steps_per_epoch(len(plans[0].data.train))
    return FindResult(range_tests(plans, progress, engine), label=f"{task.name}: {opts.optimizer}, {batch}",
                      run_steps=run_steps)


def find_function(exp: Any, seeds: list[int], settings: Settings, *, optimizer: str | None = None,
                  progress: Callable[[RangeTest], Any] | None = None, **options: Any) -> FindResult:
    """The range test on a user's training function: one call of it per seed, the sweep as its schedule.

    Each seed's run hands the function `run.schedule` = the sweep (`settings.schedule`: start_lr at the first
    update, end_lr at update `steps`), `run.steps` = steps and `run.epochs` = the whole epochs covering them
    (steps / the experiment's steps_per_epoch, rounded up), so a function that loops `for epoch in range(1,
    run.epochs + 1)` runs the whole sweep. The function logs every update's loss with `run.log_step(loss)`; the
    lab reads them with `lrlab.rangetest.Tracker` (the stopping rule of every range test) and stops the run
    inside `log_step` when the smoothed loss passes `diverge` times its best, or is not finite, or when `steps`
    updates are done. The suggestions come from the logged curve as for a built-in task. Nothing is stored.

    Args:
        exp: the Experiment (lrlab.lab.tasks.experiment); it must declare steps_per_epoch.
        seeds: the seeds, one run each (the lab seeds the global generators with it, as for any run).
        settings: the sweep (`lrlab.rangetest.Settings`).
        optimizer: what `run.options["optimizer"]` says (None: nothing).
        progress: called with each seed's RangeTest as it is done.
        **options: free-form options the function reads from `run.options`.

    Returns:
        A `lrlab.rangetest.FindResult` labelled "NAME: range test".

    Raises:
        ValueError: an experiment without steps_per_epoch, or a seed whose run failed (the function raised) or
            logged no step losses (one line naming it).

    Examples:
        A function whose loss is lowest near rate 0.01 and explodes past 0.1 (one update per epoch; `run.lr()`
        is the rate of the next update):

        >>> import math
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> from lrlab.lab.studies.find import find_lr
        >>> @experiment(epochs=1, steps_per_epoch=1)
        ... def bowl(run):
        ...     for epoch in range(1, run.epochs + 1):
        ...         lr = run.lr()
        ...         run.log_step(1 + math.log10(lr / 0.01) ** 2 + (1e3 * lr if lr > 0.1 else 0))
        ...         run.report(epoch)
        >>> found = find_lr(bowl, seeds=1, start_lr=1e-4, end_lr=10.0, steps=40)
        >>> found.label, found.runs[0].stopped, len(found.runs[0].lrs)
        ('bowl: range test', 'diverged', 25)
        >>> round(found.suggestions["valley"], 4)
        0.0019
    """
    from ...rangetest import Tracker
    from ..engines.function import budget, execute_function, plan_function

    if exp.steps_per_epoch is None:
        raise ValueError(f"find_lr: experiment {exp.name!r} declares no steps_per_epoch, so the sweep's "
                         f"{settings.steps} steps cannot be told in epochs: declare it in @experiment(...)")
    out = []
    for seed in seeds:
        asked = RunOptions(optimizer=optimizer, steps=settings.steps, seed=seed, optimizer_kwargs=options)
        p = plan_function(exp, settings.schedule, asked, label="range test")
        tracker = Tracker(settings.beta, settings.diverge)

        def on_step(loss: float, tracker: Tracker = tracker) -> bool:
            return tracker.add(loss) or len(tracker.losses) >= settings.steps

        run = execute_function(p, on_step=on_step)
        if run.status == "failed":
            raise ValueError(f"find_lr: experiment {exp.name!r} failed on seed {seed}: {run.error}")
        if not tracker.losses:
            raise ValueError(f"find_lr: experiment {exp.name!r} logged no step losses on seed {seed}: call "
                             "run.log_step(loss) after every update")
        test = RangeTest.from_tracker(run.step_lr[: len(tracker.losses)], tracker, settings, seed=seed)
        out.append(test)
        if progress is not None:
            progress(test)
    total = budget(exp, RunOptions())[2]
    return FindResult(out, label=f"{exp.name}: range test", run_steps=None if total is None else int(total))
