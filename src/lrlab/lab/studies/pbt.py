"""Population-based training (PBT; Jaderberg et al. 2017) of the learning rate, the population trained in one stack,
the schedule it learned handed back as a spec.

K members train one interval (a few epochs) at a time, each at its own constant rate, as one stacked model
(lrlab.lab.engines.stacked; one after another, with one line on stderr, when the model cannot stack, or where engine
auto timed the sequential trainer faster: lrlab.lab.engines.auto). At an
interval's end they are ranked on the task's validation figure (lrlab.lab.ranking's rule) and Ray Tune's PBT rules
apply: the bottom `quantile` of the members each copy a member drawn from the top `quantile` (exploit) and then
explore: with probability `resample` a rate drawn from the space, else the copied rate times a factor drawn from
`perturb`. Everyone else keeps its rate.

Exploit copies the member's whole training state, the checkpoint of lrlab.lab.engines.checkpoint: weights,
optimizer state (momentum, Adam's moments and step), plateau, data order and generator, history. So a member is at
every moment exactly the run of ONE seed (the first member of its lineage's seed) under ONE schedule (its lineage's
rates, a piecewise constant spec: `lineage_spec`): each member's plan for the next interval is that run, resumed
from the copied checkpoint. Training the winner's spec from scratch on that seed therefore replays the winner, to
rounding (float64: 1e-9 on the stacked engine), exploits included.

Each interval is one `execute_stack` call whose members resume from the states kept at the last interval's end:
between intervals the population is plain data, written to a file (`checkpoint_dir`) so that an interrupted study
goes on from the last interval it finished.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ... import _check
from ...schedules.spec import SHOWN_DIGITS
from ..engines import checkpoint
from ..engines.auto import choose
from ..engines.stacked import execute_stack, why_sequential
from ..engines.train import execute, resolve_device
from ..options import TASK_DEFAULT, RunOptions, resolve_task
from ..plan import plan
from ..progress import bars as _bars
from ..progress import stack_bar
from ..ranking import task_ranking
from ..run import Run
from ..tasks.task import Task
from . import pbt_state
from .pbt_export import lineage_spec
from .pbt_result import PBT, order_members

DEFAULT_PERTURB = (0.8, 1.2)
"""Ray Tune's perturbation factors: a copied rate is multiplied by one of them."""

ENGINES = ("auto", "stacked", "sequential")


def short(rate: float) -> float:
    """A rate PBT draws or perturbs, rounded to SHOWN_DIGITS (4) significant digits: the members train with these
    very rates, so the learned spec reads as it is shown (`piecewise(..., values=[0.02141, ...])`) and still replays
    them exactly.

    Args:
        rate: the rate drawn or perturbed.

    Examples:
        >>> from lrlab.lab.studies.pbt import short
        >>> short(0.021412980059985)
        0.02141
    """
    return float(f"{float(rate):.{SHOWN_DIGITS}g}")


class RateSpace:
    """Where PBT draws rates: one distribution of lrlab's space grammar (lrlab.lab.studies.space), loguniform(a, b),
    uniform(a, b) or choice(x, y, ...), sampled with a numpy Generator (no Optuna: PBT draws itself).

    Args:
        text: the distribution, e.g. "loguniform(1e-3, 0.1)".

    Raises:
        ValueError: text that is not one such distribution of rates.

    Examples:
        >>> import numpy as np
        >>> from lrlab.lab.studies.pbt import RateSpace
        >>> space = RateSpace("choice(0.1, 0.2)")
        >>> space.sample(np.random.default_rng(0)) in (0.1, 0.2)
        True
        >>> RateSpace("int(1, 3)")
        Traceback (most recent call last):
        ...
        ValueError: pbt: space must be one distribution of rates: ..., got 'int(1, 3)'
    """

    def __init__(self, text: str) -> None:
        from .space import Space

        what = "one distribution of rates: loguniform(a, b), uniform(a, b) or choice(...)"
        if not isinstance(text, str) or not text.strip():
            raise _check.fail("pbt", "space", what, text)
        try:
            branches = Space(f"constant({text})").branches
        except ValueError:
            raise _check.fail("pbt", "space", what, text) from None
        dists = branches[0].dists if len(branches) == 1 else ()
        if len(dists) != 1 or dists[0].kind not in ("loguniform", "uniform", "choice") or not (
                dists[0].kind != "choice" or all(_check.is_real(a) for a in dists[0].args)):
            raise _check.fail("pbt", "space", what, text)
        self.text, self.dist = text.strip(), dists[0]

    def sample(self, rng: np.random.Generator) -> float:
        """One rate drawn from the distribution.

        Args:
            rng: the generator that draws it.

        Examples:
            >>> import numpy as np
            >>> from lrlab.lab.studies.pbt import RateSpace
            >>> 0.01 <= RateSpace("loguniform(0.01, 0.1)").sample(np.random.default_rng(1)) <= 0.1
            True
        """
        kind, args = self.dist.kind, self.dist.args
        if kind == "loguniform":
            drawn = math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
        elif kind == "uniform":
            drawn = rng.uniform(args[0], args[1])
        else:
            return float(args[int(rng.integers(len(args)))])
        return min(max(short(drawn), float(args[0])), float(args[1]))

    def __repr__(self) -> str:
        return f"RateSpace({self.text!r})"


def check_perturb(perturb: Any, who: str = "pbt", name: str = "perturb") -> tuple[float, ...]:
    """The perturbation factors, checked: one or more finite numbers > 0.

    Args:
        perturb: a number or a sequence of numbers.
        who: the caller named in the error.
        name: the parameter named in the error.

    Examples:
        >>> from lrlab.lab.studies.pbt import check_perturb
        >>> check_perturb([0.8, 1.2])
        (0.8, 1.2)
        >>> check_perturb([])
        Traceback (most recent call last):
        ...
        ValueError: pbt: perturb must be one or more factors > 0, e.g. (0.8, 1.2), got []
    """
    what = "one or more factors > 0, e.g. (0.8, 1.2)"
    values = list(perturb) if isinstance(perturb, (list, tuple)) else [perturb]
    if not values:
        raise _check.fail(who, name, what, perturb)
    return tuple(_check.number(who, name, v, 0.0, low_open=True, what=what) for v in values)


def pbt(
    task: Task | str,
    *,
    population: int = 8,
    interval: int = 5,
    epochs: int | None = None,
    quantile: float = 0.25,
    perturb: Sequence[float] = DEFAULT_PERTURB,
    resample: float = 0.25,
    space: str | None = None,
    seed: int = 0,
    optimizer: str | None = None,
    batch_size: Any = TASK_DEFAULT,
    plateau: Any = None,
    engine: str = "auto",
    device: str = "auto",
    dtype: str | None = None,
    checkpoint_dir: str | Path | None = None,
    fresh: bool = False,
    db: str | Path | None = None,
    progress: Any = True,
    on_interval: Callable[[int, PBT], Any] | None = None,
    **optimizer_kwargs: Any,
) -> PBT:
    """Population-based training of the learning rate on `task`: K members in one stack, Ray Tune's PBT rules.

    Every `interval` epochs the members are ranked on the validation figure; each of the bottom `quantile` copies
    the whole state of a member drawn from the top `quantile` and takes its rate times a factor drawn from
    `perturb`, or, with probability `resample`, a rate drawn from `space` (module docstring). Member k starts at a
    rate drawn from `space` with seed `seed + k`. The result's `spec` is the winner's schedule (its rates, step for
    step), `seed` the seed that replays it, `fits` the closest smooth specs.

    Args:
        task: a Task or a task name.
        population: K, the members (>= 2).
        interval: epochs between two exploit-and-explore rounds (>= 1).
        epochs: epochs in all (None: the task's); the last interval may be shorter.
        quantile: the share of members copied from, and copying (in (0, 0.5]; at least one member each).
        perturb: the factors a copied rate is multiplied by (one drawn at random).
        resample: the probability of drawing a fresh rate from the space instead, in [0, 1].
        space: a distribution of rates ("loguniform(1e-3, 0.1)", `RateSpace`); None: loguniform over a decade
            either side of the task's rate.
        seed: the first member's seed (member k: seed + k) and the seed of PBT's own draws (a whole number >= 0).
        optimizer: sgd, adam or adamw (None: the task's).
        batch_size: a batch size, None for full batch (default: the task's).
        plateau: reduce-on-plateau options for every member (its state is copied with the rest).
        engine: "stacked" (one stack; sequential with a line on stderr when the model cannot stack), "auto" (the
            faster of the two, timed once per stack key: lrlab.lab.engines.auto) or "sequential".
        device: "auto", "cpu" or "cuda".
        dtype: None (the task's), "float32" or "float64".
        checkpoint_dir: a folder where the population is written after every interval (one file, replaced
            atomically), so a call interrupted there goes on from it; None: none.
        fresh: ignore a population file there and start over.
        db: the run store (a path or URL; lrlab.lab.store), checked before anything trains; at the end every
            member's final run is stored under its replay config (the config compare gives its spec on its seed:
            `lrlab runs` lists it, and a compare of the winner's `replay` on `seed` reuses it), with the lineage
            as a note (lrlab.lab.studies.pbt_store: `stored_lineage(store, result.key)`); a rerun adds no rows.
            None: store nothing.
        progress: True for rich bars on stderr, False for none, or a progress object.
        on_interval: on_interval(i, result so far) after interval i (0-based) ends and the population is written.
        **optimizer_kwargs: optimizer options (momentum, weight_decay, ...).

    Raises:
        ValueError: a bad option, before anything trains.

    Examples:
        >>> from lrlab.lab.studies.pbt import pbt
        >>> result = pbt("or3", population=4, interval=2, epochs=6, space="choice(0.5, 1.0)", progress=False)
        >>> result.rates.shape, result.interval_steps
        ((3, 4), 2)
        >>> from lrlab.lab import train
        >>> again = train("or3", result.spec, epochs=6, seed=result.seed)
        >>> bool(abs(again.metrics["val_loss"] - result.runs[result.winner].metrics["val_loss"]) < 1e-6)
        True
    """
    task = resolve_task(task, "pbt", "it copies the built-in loop's training state between members")
    k_count = _check.whole("pbt", "population", population, 2, 4096)
    interval = _check.whole("pbt", "interval", interval, 1)
    quantile = _check.number("pbt", "quantile", quantile, 0.0, 0.5, low_open=True)
    factors = check_perturb(perturb)
    resample = _check.number("pbt", "resample", resample, 0.0, 1.0)
    seed = _check.whole("pbt", "seed", seed, 0, 2**62)
    engine = _check.choice("pbt", "engine", engine, ENGINES)
    device = resolve_device(device)
    base = RunOptions(optimizer=optimizer, epochs=epochs, batch_size=batch_size, plateau=plateau,
                      optimizer_kwargs=optimizer_kwargs)
    datas: dict[int, Any] = {}

    def data_of(s: int) -> Any:
        if s not in datas:
            datas[s] = task.load(s)
        return datas[s]

    probe = plan(task, "constant(0.1)", base.replace(seed=seed), data=data_of(seed), dtype=dtype)
    checkpoint.check_supported(probe.config)
    total_epochs = int(probe.options.epochs)
    rates_space = RateSpace(space if space is not None else _default_space(task, probe))
    spe = int(probe.config["steps_per_epoch"])
    n = math.ceil(total_epochs / interval)
    rank = task_ranking(task, has_val=len(probe.data.val) > 0)
    tie = "val_loss" if rank.metric != "loss" else "loss"
    quota = max(1, min(math.ceil(k_count * quantile), k_count // 2))  # Ray's rule: at most half each
    why = None if engine == "sequential" else why_sequential(probe, "stacked", device)
    # the members are one stack key: engine auto times both engines once for it, as compare and tune do
    stacked = why is None and choose([probe] * k_count, device, engine=engine) == "stacked"
    if why is not None:
        print(f"lrlab pbt: the members of task {task.name!r} train one after another ({why})", file=sys.stderr)

    # the study so far: values[k] the rates of member k's lineage (one per interval begun), roots[k] its run's seed
    init = np.random.default_rng([seed, 0])
    values = [[rates_space.sample(init)] for _ in range(k_count)]
    roots = [seed + k for k in range(k_count)]
    result = PBT(task=task, ranking=rank, interval=interval, epochs=total_epochs, interval_steps=interval * spe,
                 rates=np.zeros((0, k_count)), parents=np.zeros((0, k_count), dtype=np.int64),
                 seeds=np.zeros((0, k_count), dtype=np.int64), metrics=np.zeros((0, k_count)),
                 curves=np.zeros((0, k_count)), engine="stacked" if stacked else "sequential",
                 plateau="" if probe.options.plateau is None else probe.options.plateau.spec(), first_seed=seed,
                 options={"optimizer": probe.options.optimizer, "batch_size": probe.options.batch_size,
                          "dtype": probe.config["dtype"], "plateau": plateau, **probe.options.optimizer_kwargs})
    parents = list(range(k_count))
    states: list[dict[str, Any] | None] = [None] * k_count
    key = pbt_state.study_key(probe.config, k_count, interval, total_epochs, quantile, factors, resample,
                              rates_space.text, seed)
    result.key = key
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / f"pbt-{key}.pt"
    if db is not None:
        from ..store import Store

        Store(db).close()  # writable, not damaged: checked before anything trains
    first = 0
    if path is not None and path.is_file() and not fresh:
        first, states, values, roots, parents = pbt_state.resume(path, key, result)
    with _bars(progress) as bars:
        for i in range(first, n):
            end = min(total_epochs, (i + 1) * interval)
            plans = [plan(task, lineage_spec(values[k], interval * spe), base.replace(epochs=end, seed=roots[k]),
                          data=data_of(roots[k]), dtype=dtype, label=f"pbt member {k}") for k in range(k_count)]
            bar = stack_bar(bars, f"{task.name} pbt interval {i + 1}/{n}", k_count, end)
            began = time.perf_counter()
            runs, states = _train(plans, states, end * spe, stacked, device, bar)
            result.wall_s += time.perf_counter() - began
            bar.done(f"interval {i + 1}/{n}")
            figures = [_figure(r, rank.metric) for r in runs]
            _record(result, values, parents, roots, figures, runs, i * interval)
            result.runs = runs
            if i < n - 1:
                order = order_members(figures, [_figure(r, tie) for r in runs], rank, [r.status for r in runs])
                parents = _exploit(order, runs, values, roots, states, quota, factors, resample, rates_space,
                                   np.random.default_rng([seed, i + 1]), result.events, i)
                if path is not None:
                    pbt_state.save(path, key, i + 1, states, values, roots, parents, result)
            result.states = states
            if on_interval is not None:
                on_interval(i, result)
    runs = result.runs
    final = order_members(result.metrics[-1], [_figure(r, tie) for r in runs], rank, [r.status for r in runs])
    result.winner = final[0]
    if db is not None:
        from ..store import Store
        from .pbt_store import save_study

        with Store(db) as store:
            save_study(store, result)
    return result


def _default_space(task: Task, probe: Any) -> str:
    lr = float(task.lr)
    return f"loguniform({lr / 10:.4g}, {lr * 10:.4g})"


def _figure(run: Run, name: str) -> float:
    """A run's figure `name` at its last epoch (NaN when it has none, or diverged)."""
    if run.status != "ok" or run.history.empty or name not in run.history.columns:
        return math.nan
    return float(run.history[name].iloc[-1])


def _train(plans: list[Any], starts: list[dict[str, Any] | None], end_step: int, stacked: bool, device: str,
           bar: Any) -> tuple[list[Run], list[dict[str, Any] | None]]:
    """One interval: every member resumed from its state, trained to `end_step`; the runs and the states there
    (None for a member that diverged or was stopped)."""
    states: list[dict[str, Any] | None] = [None] * len(plans)

    def keep(k: int, state: dict[str, Any]) -> None:
        states[k] = state

    if stacked:
        runs = execute_stack(plans, device=device, progress=bar, starts=starts, save_at=[[end_step]] * len(plans),
                             on_save=keep)
    else:
        runs = [execute(p, device=device, start=s, save_at=[end_step], on_save=lambda st, k=k: keep(k, st))
                for k, (p, s) in enumerate(zip(plans, starts))]
    return runs, states


def _record(result: PBT, values: list[list[float]], parents: list[int], roots: list[int], figures: list[float],
            runs: list[Run], epoch0: int) -> None:
    """Add an interval's rates, donors, seeds, figures and per-epoch curves to the result."""
    k_count = len(values)
    result.rates = np.vstack([result.rates, [[v[-1] for v in values]]])
    result.parents = np.vstack([result.parents, [parents]]).astype(np.int64)
    result.seeds = np.vstack([result.seeds, [roots]]).astype(np.int64)
    result.metrics = np.vstack([result.metrics, [figures]])
    rows = []
    for k in range(k_count):
        h = runs[k].history
        col = h[result.ranking.metric] if result.ranking.metric in h.columns else None
        rows.append({int(e): float(v) for e, v in zip(h["epoch"], col)} if col is not None else {})
    last = max((e for r in rows for e in r), default=epoch0)
    block = np.full((max(0, last - epoch0), k_count), np.nan)
    for k, r in enumerate(rows):
        for e in range(epoch0 + 1, last + 1):
            block[e - epoch0 - 1, k] = r.get(e, math.nan)
    result.curves = np.vstack([result.curves, block])


def _exploit(order: list[int], runs: list[Run], values: list[list[float]], roots: list[int],
             states: list[dict[str, Any] | None], quota: int, factors: tuple[float, ...], resample: float,
             space: RateSpace, rng: np.random.Generator, events: list[dict[str, Any]], interval: int) -> list[int]:
    """Ray's truncation selection at an interval's end, in place: each of the bottom `quota` members (and any that
    diverged) copies the state of a member drawn from the top `quota`, then explores its rate; the others keep
    theirs. Returns each member's donor (itself when it kept its own state)."""
    k_count = len(order)
    ok = [k for k in order if states[k] is not None]
    top = ok[:quota]
    if not top:
        raise ValueError(f"pbt: every member diverged by interval {interval + 1}; try a lower space of rates")
    bottom = sorted(set(order[k_count - quota :]) | {k for k in range(k_count) if states[k] is None})
    bottom = [k for k in bottom if k not in top]
    parents = list(range(k_count))
    before = [list(v) for v in values]  # one rate per interval so far
    for k in range(k_count):
        if k not in bottom:
            values[k] = before[k] + [before[k][-1]]
    for k in bottom:
        donor = top[int(rng.integers(len(top)))]
        old = before[donor][-1]
        if rng.random() < resample:
            new, how = space.sample(rng), "resample"
        else:
            factor = factors[int(rng.integers(len(factors)))]
            new, how = short(old * factor), f"x{factor:g}"
        states[k] = _copy(states[donor])
        values[k] = before[donor] + [new]
        roots[k] = roots[donor]
        parents[k] = donor
        events.append({"interval": interval, "member": k, "donor": donor, "old_rate": float(old),
                       "new_rate": float(new), "how": how})
    return parents


def _copy(state: Any) -> Any:
    """A copy of a checkpoint: its containers copied, its tensors cloned and arrays copied (what copy.deepcopy
    gives, at a fraction of its time: a checkpoint holds nothing else that could be shared)."""
    import torch

    if isinstance(state, dict):
        return {k: _copy(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_copy(v) for v in state)
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, np.ndarray):
        return state.copy()
    return state
