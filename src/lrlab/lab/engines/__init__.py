"""How runs train, behind one interface: the sequential trainer, the stacked engine and the function engine.

An engine is made for one study's plans (all of one target) and answers the two questions the work loop asks
(lrlab.lab.work): which of the runs left train together (`groups`: a stack, or one run) and how to train a group
(`train`, returning its runs in order). Studies pick one with `make_engine` and never train by themselves.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ... import _check
from ..progress import stack_bar
from ..run import Run

ENGINES = ("auto", "stacked", "sequential")
"""The engines a study of a Task may ask for (an experiment always trains with its own function)."""


class Engine:
    """The sequential trainer (lrlab.lab.engines.train.execute): one run at a time, one progress bar each.

    Args:
        plans: the study's plans (all of one target).
        bars: the progress object (lrlab.lab.progress.bars).
        device: "cpu" or "cuda".
        callback: callback(step, model, loss, lr) after every optimizer step (this engine only).
        starts: per plan a checkpoint to resume from, or None.
    """

    name = "sequential"

    def __init__(self, plans: Sequence[Any], *, bars: Any, device: str = "cpu", callback: Any = None,
                 starts: Sequence[dict[str, Any] | None] | None = None) -> None:
        self.plans, self.bars, self.device, self.callback = list(plans), bars, device, callback
        self.starts = [None] * len(self.plans) if starts is None else list(starts)

    def groups(self, todo: list[int]) -> list[list[int]]:
        """The runs left (plan indices), grouped as they train: one by one here."""
        return [[i] for i in todo]

    def train(self, indices: list[int]) -> list[Run]:
        """Train the plans of one group; their runs in order."""
        return [self._one(i) for i in indices]

    def _one(self, i: int) -> Run:
        from .train import execute

        p = self.plans[i]
        bar = self.bars.bar(p.config["label"], p.config["seed"], p.config["epochs"] or 0)
        run = execute(p, callback=self.callback, progress=bar, device=self.device, start=self.starts[i])
        bar.done(run.status)
        return run


class StackedEngine(Engine):
    """The stacked engine (lrlab.lab.engines.stacked): the runs that can stack train as stacks of one model, one bar per
    stack; the others one after another (one line on stderr says why, `why_sequential`). With engine "auto", a stack
    trains one run after another where that was timed faster (`lrlab.lab.engines.auto.pick`; `store`: the run store
    that keeps the timings, or None)."""

    name = "stacked"

    def __init__(self, plans: Sequence[Any], *, engine: str = "auto", max_stack: int | None = None,
                 store: Any = None, **kwargs: Any) -> None:
        super().__init__(plans, **kwargs)
        self.engine, self.max_stack, self.store = engine, max_stack, store
        self._can: dict[int, bool] = {}
        self._reasons: dict[tuple[Any, ...], str | None] = {}

    def _stackable(self, i: int) -> bool:
        """Whether plan i's run stacks (asked once per optimizer and option names: the model is the target's)."""
        from .stacked import why_sequential

        if i not in self._can:
            p = self.plans[i]
            key = (p.options.optimizer, tuple(sorted(p.options.optimizer_kwargs)))
            if key not in self._reasons:
                self._reasons[key] = reason = why_sequential(p, "stacked", self.device)  # auto: timed in groups
                if reason is not None:
                    print(f"lrlab: the runs of task {p.task.name!r} train one after another ({reason})",
                          file=sys.stderr)
            self._can[i] = self._reasons[key] is None
        return self._can[i]

    def groups(self, todo: list[int]) -> list[list[int]]:
        from .auto import pick
        from .stacked import stacks

        ok = [i for i in todo if self._stackable(i)]
        out = [[ok[j] for j in group] for group in stacks([self.plans[i] for i in ok], max_stack=self.max_stack,
                                                            device=self.device)]
        for group in out if self.engine == "auto" else []:
            if len(group) > 1 and pick([self.plans[i] for i in group], self.device, store=self.store) != "stacked":
                self._can.update(dict.fromkeys(group, False))  # remembered: later rounds group them as single runs
        return [g for g in out if self._can[g[0]]] + [[i] for i in todo if not self._can[i]]

    def train(self, indices: list[int]) -> list[Run]:
        from .stacked import execute_stack

        if len(indices) == 1 and not self._can.get(indices[0], False):
            return [self._one(indices[0])]
        plans = [self.plans[i] for i in indices]
        bar = stack_bar(self.bars, plans[0].task.name, len(plans), max(p.config["epochs"] for p in plans))
        trained = execute_stack(plans, device=self.device, progress=bar, starts=[self.starts[i] for i in indices])
        bar.done(f"{len(trained)}/{len(trained)} done, {sum(r.status != 'ok' for r in trained)} diverged")
        return trained


class FunctionEngine(Engine):
    """The function engine (lrlab.lab.engines.function): a user's training function called once per run, one bar
    each."""

    name = "function"

    def _one(self, i: int) -> Run:
        from .function import execute_function

        p = self.plans[i]
        bar = self.bars.bar(p.config["label"], p.config["seed"], p.config["epochs"] or 0)
        run = execute_function(p, progress=bar)
        bar.done(run.status if run.error is None else f"failed: {run.error}")
        return run


def make_engine(plans: Sequence[Any], engine: str, *, bars: Any, device: str = "cpu", callback: Any = None,
                max_stack: int | None = None, starts: Sequence[dict[str, Any] | None] | None = None,
                store: Any = None) -> Engine:
    """The engine for a study's plans: the function engine for an experiment's, else the stacked one (engine
    "auto"/"stacked", no callback, more than one run) or the sequential trainer. `store` (a Store, or None) keeps
    what engine "auto" timed (`lrlab.lab.engines.auto`).

    Raises:
        ValueError: an engine name not in ENGINES, or "stacked"/"sequential" asked of an experiment.
    """
    from ..tasks.experiment import Experiment

    engine = _check.choice("train_plans", "engine", engine, ENGINES)
    if plans and isinstance(plans[0].task, Experiment):
        if engine != "auto":
            raise ValueError(f"engine {engine!r} trains built-in tasks; experiment {plans[0].task.name!r} trains "
                             "with its own function (engine 'auto')")
        return FunctionEngine(plans, bars=bars, device=device, starts=starts)
    if engine != "sequential" and len(plans) > 1 and callback is None:
        return StackedEngine(plans, engine=engine, max_stack=max_stack, bars=bars, device=device, starts=starts,
                             store=store)
    return Engine(plans, bars=bars, device=device, callback=callback, starts=starts)
