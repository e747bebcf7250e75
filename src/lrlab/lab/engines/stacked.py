"""The stacked engine: K runs of one task trained as one model whose parameters carry a leading member dimension,
one forward and backward pass per step for all of them.

A small model spends most of a sequential run in Python and kernel launches; stacked, K runs cost little more than
one. Each member keeps its own plan: schedule, plateau, seed (initial weights and data order), epochs and optimizer
options within one optimizer kind. In float64 a member equals the sequential trainer's run of its plan
(`train.execute`) to rounding: history, per-step rates and losses, final metrics, status.

This module trains a stack (`execute_stack`, `_Stack`). What can stack and how plans group is in stacked_groups,
the batched forward pass in stacked_forward; every name of theirs stays importable from here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..plan import Plan
from ..run import Run, history_columns
from ..tasks.task import torch_dtype

# what can stack, and the forward pass: what the stack uses, and the rest importable from here as before (`X as X`:
# a re-export). _Stack looks EVAL_CHUNK and unstackable up here, so patches of this module reach it.
from .stacked_forward import _ELEMENTWISE as _ELEMENTWISE
from .stacked_forward import _Batched, stacked_forward
from .stacked_forward import _windows as _windows
from .stacked_forward import _windows_function as _windows_function
from .stacked_groups import _SPLITS, EVAL_CHUNK, _same_data, stack_key, unstackable
from .stacked_groups import MEMORY_SHARE as MEMORY_SHARE
from .stacked_groups import _model as _model
from .stacked_groups import _model_reasons as _model_reasons
from .stacked_groups import _optimizer_reason as _optimizer_reason
from .stacked_groups import _vmap_probe as _vmap_probe
from .stacked_groups import auto_stack as auto_stack
from .stacked_groups import free_memory as free_memory
from .stacked_groups import member_bytes as member_bytes
from .stacked_groups import stacks as stacks
from .stacked_groups import why_sequential as why_sequential
from .stacked_optim import stacked_optimizer
from .train import (
    Loss,
    begin,
    chance_accuracy,
    deterministic,
    diverged,
    eval_rows,
    figures,
    final_metrics,
    mark_diverged,
    resolve_device,
    tensors,
)

FLAT_ELEMENTS = 2**20
"""Stacks with at most this many parameters in all keep them in one flat tensor (see _Stack)."""


# -- one stack ----------------------------------------------------------------------------------
@dataclass
class _Member:
    """One member's record, as the sequential trainer's loop keeps it (`diverged` reads rows, start and limit)."""

    plan: Plan
    plateau: Any
    gen: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    step_loss: list[np.ndarray] = field(default_factory=list)
    status: str = "ok"
    step: int = 0
    limit: float = math.inf
    start: dict[str, float] = field(default_factory=dict)  # the figures before training (train.START)
    done: bool = False
    total: int = 0  # the member's updates in all (its step budget, or epochs x steps per epoch)
    epoch: int = 0  # the epochs begun
    pos: int = 0  # the updates done in the current epoch (0: between epochs)
    perm: Any = None  # the current epoch's data order (CPU)
    epoch_first: int = 0  # the step at which the current epoch began
    epoch_losses: list[np.ndarray] = field(default_factory=list)  # the current epoch's batch losses so far
    rate_block: tuple[int, np.ndarray] = (0, np.zeros(0))  # the schedule's rates from a step on (`_rates`)


class _Stack:
    """The stacked model, its data and optimizer."""

    def __init__(self, plans: Sequence[Plan], device: str) -> None:
        import torch
        first = plans[0]
        keys = {stack_key(p) for p in plans}
        if len(keys) > 1:
            raise ValueError("execute_stack: plans must share task, optimizer, batch size, dtype and split sizes")
        self.torch, self.device, self.task = torch, device, first.task
        self.dtype = torch_dtype(first.config["dtype"])
        self.size = len(plans)
        models = []
        for p in plans:  # as train._setup: the global seed (the CPU generator's: the models are built on the CPU;
            # torch.manual_seed would also queue a lazy seeding of every GPU, a traceback each), then the model
            torch.default_generator.manual_seed(p.options.seed)
            models.append(p.task.model(p.options.seed).to(device=device, dtype=self.dtype))
        reason = unstackable(models[0])
        if reason is not None:
            raise ValueError(f"task {first.task.name!r}'s model cannot be stacked: {reason}")
        self.models = models
        self.names = [name for name, _ in models[0].named_parameters()]
        # Small models: all parameters live in one (K, P) tensor, so the optimizer updates one tensor per step and
        # the layers see views of it. Big ones keep a tensor per parameter (the views' backward would copy them).
        own = [dict(m.named_parameters()) for m in models]
        self.shapes = [tuple(own[0][n].shape) for n in self.names]
        self.sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        self.flat = None
        self.leaves = [torch.stack([o[n].detach() for o in own]).requires_grad_() for n in self.names]
        if self.size * sum(self.sizes) <= FLAT_ELEMENTS:
            self.flat = torch.cat([leaf.detach().reshape(self.size, -1) for leaf in self.leaves], 1)
            self.flat.requires_grad_()
            self.leaves = [self.flat]
        self.lossf = Loss(first.task.loss)
        self.shared = all(_same_data(p.data, first.data) for p in plans)
        loss = first.task.loss
        if self.shared:
            self.splits = {n: tensors(getattr(first.data, n), self.dtype, loss, device) for n in _SPLITS}
        else:
            per = [{n: tensors(getattr(p.data, n), self.dtype, loss, device) for n in _SPLITS} for p in plans]
            self.splits = {n: tuple(torch.stack([q[n][i] for q in per]) for i in range(2)) for n in _SPLITS}
        x = self.splits["train"][0]
        self.forward = stacked_forward(models[0], self.names, tuple(x.shape[1 if self.shared else 2 :]))
        self.members_axis = torch.arange(self.size, device=device).unsqueeze(1)
        self.updates = 0  # counts the changes of the parameters (steps, checkpoints loaded): `evaluate`'s cache key
        self._evaluated: tuple[Any, list[dict[str, float]]] = (None, [])
        try:
            self.opt = stacked_optimizer(first.options.optimizer, self.leaves,
                                         [p.options.optimizer_kwargs for p in plans])
        except TypeError as exc:
            raise ValueError(f"optimizer {first.options.optimizer}: {exc}") from None
        # A plain SGD step folds the first layer's weight gradient into its update when that weight is its own
        # tensor (a big model's) and the first layer a Linear one of a batched MLP (`_folded_step`)
        fold = self.forward.first_linear if isinstance(self.forward, _Batched) else None
        self.fold = fold if fold is not None and self.flat is None and hasattr(self.opt, "step_product") else None

    @property
    def params(self) -> list[Any]:
        """The parameters, (K, *shape) each, in `names`' order (views of the flat tensor for a small model)."""
        if self.flat is None:
            return self.leaves
        parts = self.flat.split(self.sizes, dim=1)
        return [part.view(self.size, *shape) for part, shape in zip(parts, self.shapes)]

    def n(self, split: str) -> int:
        x = self.splits[split][0]
        return int(x.shape[0] if self.shared else x.shape[1])

    def step(self, idx: Any, lr: Any, active: Any) -> Any:
        """One update of every active member on its batch (idx: (K, B) sample indices, None: the full split);
        returns the members' batch losses (K,)."""
        torch = self.torch
        x, y = self.splits["train"]
        if idx is None:
            xb, shared = x, self.shared
            yb = y.expand(self.size, *y.shape) if self.shared else y
        else:
            xb, yb, shared = self._gather(x, idx), self._gather(y, idx), False
        if self.fold is not None and not shared and self.opt.plain(active):
            losses = self._folded_step(xb, yb, lr)
        else:
            losses = self.lossf.per_member(self.forward(self.params, xb, shared), yb)
            grads = torch.autograd.grad(losses.sum(), self.leaves)
            self.opt.step(grads, lr, active=active)
        self.updates += 1
        return losses.detach()

    def _folded_step(self, xb: Any, yb: Any, lr: Any) -> Any:
        """A plain SGD step (`SGD.plain`) whose first layer's weight gradient goes straight into the update: W -=
        (lr dH)^T X in one product (`SGD.step_product`), dH the gradient of that layer's outputs; the rest as `step`.
        Returns the batch losses."""
        w, b = self.fold
        params = list(self.leaves)
        params[w] = params[w].detach()  # autograd stops at the layer's outputs
        first = self.forward.linear(params, w, b, xb, False)
        losses = self.lossf.per_member(self.forward(params, xb, False, first=first), yb)
        others = [leaf for i, leaf in enumerate(self.leaves) if i != w]
        d_first, *grads = self.torch.autograd.grad(losses.sum(), [first, *others])
        self.opt.step_product(w, d_first.transpose(1, 2), xb, lr)
        grads.insert(w, None)
        self.opt.step(grads, lr)
        return losses

    def _gather(self, t: Any, idx: Any) -> Any:
        """Each member's rows `idx` (K, B) of a split's tensor t ((n, ...) shared, else (K, n, ...)), as (K, B, ...):
        one index_select over the flattened rows (a third of advanced indexing's time on a CPU)."""
        if not self.shared:
            idx = idx + self.members_axis * t.shape[1]
            t = t.flatten(0, 1)
        return t.index_select(0, idx.reshape(-1)).view(*idx.shape, *t.shape[1:])

    def evaluate(self, split: str, metrics: tuple[str, ...]) -> list[dict[str, float]]:
        """Every member's `train.evaluate` figures on a split (mean loss, accuracy); the figures of the last call
        again while no update came between (a run's final validation after its last epoch's)."""
        key = (split, metrics, self.updates)
        if self._evaluated[0] != key:
            self._evaluated = (key, self._evaluate(split, metrics))
        return [dict(f) for f in self._evaluated[1]]

    def _evaluate(self, split: str, metrics: tuple[str, ...]) -> list[dict[str, float]]:
        """Every member's figures on a split, in passes of EVAL_CHUNK samples over all members (EVAL_CHUNK / K
        rows each: one pass holds the activations of the sequential trainer's)."""
        torch = self.torch
        x, y = self.splits[split]
        n = self.n(split)
        if n == 0:
            return [{} for _ in range(self.size)]
        total = torch.zeros(self.size, dtype=torch.float64, device=self.device)
        correct = torch.zeros(self.size, dtype=torch.long, device=self.device)
        params = self.params
        chunk = max(1, eval_rows(self.lossf, y, EVAL_CHUNK) // self.size)
        with torch.no_grad():
            for i in range(0, n, chunk):
                if self.shared:
                    xb, yb = x[i : i + chunk], y[i : i + chunk]
                else:
                    xb, yb = x[:, i : i + chunk], y[:, i : i + chunk]
                out = self.forward(params, xb, self.shared)
                if self.shared:
                    yb = yb.expand(self.size, *yb.shape)
                rows = min(chunk, n - i)
                total += self.lossf.per_member(out, yb).double() * rows
                if "accuracy" in metrics:
                    correct += self.lossf.correct_per_member(out, yb)
        totals, counts = total.cpu().tolist(), correct.cpu().tolist()
        return [figures(float(totals[k]) / n, int(counts[k]), n, metrics) for k in range(self.size)]

    def load_member(self, k: int, state: dict[str, Any]) -> None:
        """Member k's parameters and optimizer state from a checkpoint (lrlab.lab.engines.checkpoint; the torch
        optimizer's state, per parameter in `names`' order)."""
        torch = self.torch
        saved = state["optimizer"]
        opt = self.opt
        per_name = self._per_name
        self.updates += 1
        with torch.no_grad():
            for name, param in zip(self.names, self.params):
                param[k].copy_(state["model"][name])
            if not saved:
                return
            if hasattr(opt, "buffers"):  # SGD: the momentum buffers (None until momentum is used)
                has = [saved.get(i, {}).get("momentum_buffer") is not None for i in range(len(self.names))]
                if any(has):
                    for i, view in enumerate(per_name(opt.buffers)):
                        view[k].copy_(saved[i]["momentum_buffer"])
                opt.has_buffer[k] = all(has)
                return
            opt.steps[k] = float(saved[0]["step"])
            for key, stacked in (("exp_avg", opt.exp_avg), ("exp_avg_sq", opt.exp_avg_sq),
                                 ("max_exp_avg_sq", opt.max_exp_avg_sq)):
                if key not in saved[0] or stacked is None:
                    continue
                for i, view in enumerate(per_name(stacked)):
                    view[k].copy_(saved[i][key])

    def _per_name(self, leaves: list[Any]) -> list[Any]:
        """Per-parameter (K, *shape) views, in `names`' order, of tensors shaped as the leaves."""
        if self.flat is None:
            return leaves
        parts = leaves[0].split(self.sizes, dim=1)
        return [part.view(self.size, *shape) for part, shape in zip(parts, self.shapes)]

    def member_state(self, k: int) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        """Member k's parameters by name and its optimizer state as its torch optimizer's state_dict()["state"]
        would hold it (CPU copies): what a checkpoint keeps (`load_member` reads it back)."""
        from torch.optim.optimizer import _get_scalar_dtype

        torch, opt = self.torch, self.opt

        def cpu(t: Any) -> Any:
            return t[k].detach().to("cpu", copy=True)

        model = {name: cpu(p) for name, p in zip(self.names, self.params)}
        state: dict[int, dict[str, Any]] = {}
        if hasattr(opt, "buffers"):
            if bool(opt.has_buffer[k]):
                state = {i: {"momentum_buffer": cpu(b)} for i, b in enumerate(self._per_name(opt.buffers))}
            return model, state
        if float(opt.steps[k]) == 0:
            return model, state
        step = torch.tensor(float(opt.steps[k]), dtype=_get_scalar_dtype())
        avg, avg_sq = self._per_name(opt.exp_avg), self._per_name(opt.exp_avg_sq)
        most = None if opt.max_exp_avg_sq is None else self._per_name(opt.max_exp_avg_sq)
        for i in range(len(self.names)):
            state[i] = {"step": step.clone(), "exp_avg": cpu(avg[i]), "exp_avg_sq": cpu(avg_sq[i])}
            if most is not None and bool(opt.amsgrad[k]):
                state[i]["max_exp_avg_sq"] = cpu(most[i])
        return model, state

    def member_model(self, k: int) -> Any:
        """Member k's own nn.Module, its parameters copied from the stack (eval mode, as the sequential run's)."""
        model = self.models[k]
        own = dict(model.named_parameters())
        with self.torch.no_grad():
            for name, stacked in zip(self.names, self.params):
                own[name].copy_(stacked[k])
        return model.eval()


RATE_BLOCK = 4096
"""A member's schedule is evaluated this many steps ahead at a time, as one array (`_rates`)."""


def _rates(m: _Member, start: int, count: int) -> np.ndarray:
    """The member's rates for updates start+1 .. start+count: its schedule, then its plateau as it is now (the
    rule of lrlab.torch.Scheduler.rates; the plateau changes only between epochs). The schedule is taken on arrays
    of RATE_BLOCK steps (a Schedule gives on an array exactly what it gives step by step)."""
    block, values = m.rate_block
    if start < block or start + count > block + len(values):
        stop = max(start + count, min(start + RATE_BLOCK, m.total))  # not past the budget (a sweep overflows there)
        block, values = start, np.asarray(m.plan.schedule(np.arange(start, stop)), dtype=np.float64)
        m.rate_block = (block, values)
    rates = values[start - block : start - block + count]
    return rates if m.plateau is None else np.asarray(m.plateau.effective(rates), dtype=np.float64)


def _epoch_means(losses: dict[int, np.ndarray]) -> tuple[dict[int, float], dict[int, bool]]:
    """Each member's mean batch loss of an epoch as the sequential trainer takes it (torch's mean of the float64
    losses), and whether they were all finite: the epochs of one length in one call (torch's mean of each row of a
    matrix equals its mean of that row alone)."""
    import torch

    means: dict[int, float] = {}
    finite: dict[int, bool] = {}
    by_length: dict[int, list[int]] = {}
    for k, values in losses.items():
        by_length.setdefault(len(values), []).append(k)
    for who in by_length.values():
        rows = torch.from_numpy(np.stack([losses[k] for k in who]))
        for k, mean, ok in zip(who, rows.mean(1).tolist(), torch.isfinite(rows).all(1).tolist()):
            means[k], finite[k] = mean, ok
    return means, finite


def _start_member(m: _Member, state: dict[str, Any], stack: _Stack, k: int) -> None:
    """Member k resumes from a checkpoint: parameters, optimizer state, data order, plateau and history."""
    from . import checkpoint

    checkpoint.check(state, m.plan.config, m.total)
    checkpoint.check_shapes(state, {n: tuple(p.shape[1:]) for n, p in zip(stack.names, stack.params)},
                            len(m.plan.data.train))
    stack.load_member(k, state)
    m.gen.set_state(state["generator"])
    m.perm = state["perm"]
    m.step, m.epoch, m.pos = int(state["step"]), int(state["epoch"]), int(state["pos"])
    m.epoch_first = m.step - m.pos
    m.epoch_losses = [np.asarray(state["step_loss"], dtype=np.float64)[m.epoch_first :]]
    m.rows = [dict(r) for r in state["rows"]]
    m.step_lr = [float(v) for v in state["step_lr"]]
    m.step_loss = [np.asarray(state["step_loss"], dtype=np.float64)]
    m.limit, m.status = float(state["limit"]), state["status"]
    m.start = {k: float(v) for k, v in state.get("start", {}).items()}
    if (m.plateau is None) != (state["plateau"] is None):
        raise ValueError("start: the checkpoint's run and this run differ in having a plateau")
    if m.plateau is not None:
        m.plateau.load_state_dict(state["plateau"])


def _capture(m: _Member, stack: _Stack, k: int) -> dict[str, Any]:
    """Member k's checkpoint, as lrlab.lab.engines.checkpoint.capture gives its sequential run's."""
    from . import checkpoint

    model, opt_state = stack.member_state(k)
    return {
        "format": checkpoint.FORMAT,
        "config": dict(m.plan.config),
        "step": m.step,
        "epoch": m.epoch,
        "pos": m.pos,
        "perm": None if m.perm is None or m.pos == 0 else m.perm.clone(),
        "generator": m.gen.get_state(),
        "model": model,
        "optimizer": opt_state,
        "plateau": None if m.plateau is None else m.plateau.state_dict(),
        "rows": [dict(r) for r in m.rows],
        "step_lr": np.asarray(m.step_lr, dtype=np.float64),
        "step_loss": np.concatenate(m.step_loss) if m.step_loss else np.zeros(0),
        "limit": float(m.limit),
        "start": dict(m.start),
        "status": m.status,
    }


def _chunk_batches(members: list[_Member], live: list[int], span: int, n_train: int, bs: int | None,
                   device: str) -> list[list[tuple[Any, list[int]]]]:
    """The batches of the next `span` updates: per update, a list of (indices (K, B) or None, the members that take
    it). Members that do not move (done) ride along on stand-in indices and are left alone (the active mask); only
    the last update of a span can mix batch sizes (an epoch's short last batch), then it is one call per size."""
    import torch

    everyone, moving = list(live), set(live)
    if bs is None:
        return [[(None, everyone)] for _ in range(span)]
    dummy = torch.arange(n_train)
    orders = [m.perm if k in moving else dummy for k, m in enumerate(members)]
    starts = [members[k].pos * bs if k in moving else 0 for k in range(len(members))]
    out: list[list[tuple[Any, list[int]]]] = []
    if span > 1:
        full = torch.stack([o[a : a + (span - 1) * bs] for o, a in zip(orders, starts)]).to(device)
        out += [[(idx, everyone)] for idx in full.split(bs, dim=1)]
    last = [o[a + (span - 1) * bs : a + span * bs] for o, a in zip(orders, starts)]
    sizes: dict[int, list[int]] = {}
    for k in live:
        sizes.setdefault(len(last[k]), []).append(k)
    calls = []
    for size, who in sizes.items():
        idx = torch.stack([last[k] if k in who else dummy[:size] for k in range(len(members))]).to(device)
        calls.append((idx, who))
    out.append(calls)
    return out


def execute_stack(plans: Sequence[Plan], *, device: str = "cpu", progress: Any = None,
                  starts: Sequence[dict[str, Any] | None] | None = None,
                  save_at: Sequence[Iterable[int]] | None = None,
                  on_save: Callable[[int, dict[str, Any]], Any] | None = None,
                  on_epoch: Callable[[int, int, dict[str, Any]], bool] | None = None) -> list[Run]:
    """Train plans of one task (one optimizer kind, batch size and dtype; any schedules, plateaus, seeds, step
    budgets or epochs and optimizer options) as one stacked model; one Run per plan, as `train.execute(plan)` gives
    it. A member past its budget (or diverged) stops updating (the optimizer's active mask).

    starts: per plan a checkpoint (lrlab.lab.engines.checkpoint) to resume from, or None (from scratch): the member
        goes on
    as `train.execute(plan, start=checkpoint)` would; members may stand at different steps. save_at: per plan the
    steps at which on_save(index of the plan, checkpoint) is called with the state `train.execute(plan, save_at=...)`
    would hand out there. on_epoch(k, epoch, row) after every epoch of each live member k that did not diverge,
    with its history row: True stops that member there (status "pruned"; the others train on unchanged).
    progress.update(epoch=, done=, diverged=, best=) after every epoch (members done, of which diverged, and the
    best validation loss so far). A member's wall_s is the stack's training time divided by its members.
    ValueError when the plans cannot share a stack (`stack_key`) or the model cannot be stacked (`unstackable`).
    """
    import pandas as pd
    import torch

    if not plans:
        return []
    starts = [None] * len(plans) if starts is None else list(starts)
    if len(starts) != len(plans):
        raise ValueError(f"execute_stack: starts needs one entry per plan ({len(plans)}), got {len(starts)}")
    saves = [set() for _ in plans] if save_at is None else [set(steps) for steps in save_at]
    if len(saves) != len(plans) or (any(saves) and on_save is None):
        raise ValueError("execute_stack: save_at needs one list of steps per plan, and on_save")
    device = resolve_device(device)
    first = plans[0]
    metrics = tuple(first.task.metrics)
    with deterministic():
        stack = _Stack(plans, device)
        members = [_Member(plan=p, plateau=p.make_plateau(), gen=torch.Generator().manual_seed(p.options.seed))
                   for p in plans]
        n_train = stack.n("train")
        bs = first.options.batch_size
        spe = first.options.steps_per_epoch(n_train)
        for k, (m, state) in enumerate(zip(members, starts)):
            m.total = m.plan.options.total_steps(n_train)
            if state is not None:
                _start_member(m, state, stack, k)
            m.done = m.step >= m.total and m.pos == 0
            bad = [s for s in saves[k] if not isinstance(s, int) or not 0 <= s <= m.total]
            if bad:
                raise ValueError(f"execute_stack: save_at must be steps in [0, {m.total}] (plan {k}), got {bad[0]!r}")
        fresh = [k for k, state in enumerate(starts) if state is None]
        if fresh:  # the initial evaluation, as the sequential trainer's (train._begin)
            before = {name: stack.evaluate(name, metrics if name == "val" else ()) for name in ("train", "val")}
            chance = chance_accuracy(stack.lossf.kind, metrics, first.data.val.y) if stack.shared else None
            for k in fresh:
                m = members[k]
                own = chance if stack.shared else chance_accuracy(stack.lossf.kind, metrics, m.plan.data.val.y)
                begin(m, before["train"][k], before["val"][k], own)
                if 0 in saves[k]:
                    on_save(k, _capture(m, stack, k))
        best = math.inf
        began = time.perf_counter()
        while True:
            live = [k for k, m in enumerate(members) if not m.done]
            if not live:
                break
            # the updates until the next member's epoch (or budget) ends: no member passes an epoch's end inside (0:
            # a member resumed at its budget's end mid-epoch owes that epoch's row, and nobody moves first)
            span = min(min(spe - members[k].pos, members[k].total - members[k].step,
                           min((s - members[k].step for s in saves[k] if s > members[k].step), default=spe))
                       for k in live)
            for k in live if span else []:  # every member draws its own order when its epoch begins, as its
                m = members[k]  # sequential run would
                if m.pos == 0:
                    m.epoch, m.epoch_first, m.epoch_losses = m.epoch + 1, m.step, []
                    m.perm = torch.randperm(n_train, generator=m.gen) if bs is not None else None
            rates = [_rates(m, m.step, span) if k in live else np.zeros(span) for k, m in enumerate(members)]
            lr_table = torch.from_numpy(np.stack(rates, axis=1)).to(device=device, dtype=stack.dtype)
            steps = []
            masks: dict[tuple[int, ...], Any] = {}
            for s, calls in enumerate(_chunk_batches(members, live, span, n_train, bs, device) if span else []):
                out = None
                for idx, who in calls:
                    if tuple(who) not in masks:
                        masks[tuple(who)] = torch.tensor([k in who for k in range(len(members))], device=device)
                    active = masks[tuple(who)]
                    got = stack.step(idx, lr_table[s], active)
                    out = got if out is None else torch.where(active, got, out)
                steps.append(out)
            losses_np = torch.stack(steps).double().cpu().numpy() if span else np.zeros((0, len(members)))
            ended = []
            for k in live:
                m = members[k]
                m.step_lr += rates[k].tolist()
                m.step_loss.append(losses_np[:, k])
                m.epoch_losses.append(losses_np[:, k])
                m.step += span
                m.pos += span
                if m.pos >= spe or m.step >= m.total:
                    ended.append(k)
                if m.step in saves[k] and m.pos < spe and span:  # mid-epoch (a budget's end too: before its row)
                    on_save(k, _capture(m, stack, k))
            if not ended:
                continue
            val = stack.evaluate("val", metrics)
            train_losses, finite = _epoch_means({k: np.concatenate(members[k].epoch_losses) for k in ended})
            for k in ended:
                m = members[k]
                if m.pos >= spe:
                    m.pos, m.perm = 0, None
                m.done = m.step >= m.total
                train_loss = train_losses[k]
                row = {"epoch": m.epoch, "step": m.step, "lr": m.step_lr[m.epoch_first], "loss": train_loss}
                row.update({f"val_{key}": v for key, v in val[k].items()})
                m.rows.append(row)
                if diverged(m, finite[k], row):
                    m.status, m.done = "diverged", True
                    mark_diverged(row)
                    continue
                best = min(best, row.get("val_loss", train_loss))
                if on_epoch is not None and on_epoch(k, m.epoch, row):
                    m.status, m.done = "pruned", True
                    continue
                if m.plateau is not None:
                    m.plateau.step(row[m.plateau.monitor])
                if m.pos == 0 and m.step in saves[k]:  # at an epoch's end: after its row
                    on_save(k, _capture(m, stack, k))
            if progress is not None:
                progress.update(epoch=max(m.epoch for m in members), done=sum(m.done for m in members),
                                diverged=sum(m.status == "diverged" for m in members), best=best)
        wall = time.perf_counter() - began
        finals = {name: stack.evaluate(name, metrics) for name in _SPLITS}
        sizes = {name: stack.n(name) for name in _SPLITS}

    runs = []
    columns = history_columns(metrics, sizes["val"] > 0)
    for k, m in enumerate(members):
        final = final_metrics(m.status, metrics, sizes, lambda name, k=k: finals[name][k], len(m.rows), m.step,
                              m.start)
        losses = np.concatenate(m.step_loss) if m.step_loss else np.zeros(0)
        runs.append(Run(
            config=dict(m.plan.config),
            history=pd.DataFrame(m.rows, columns=columns),
            step_lr=np.asarray(m.step_lr, dtype=np.float64),
            step_loss=np.asarray(losses, dtype=np.float64),
            metrics=final,
            wall_s=wall / len(members),
            status=m.status,
            model=stack.member_model(k),
        ))
    return runs
