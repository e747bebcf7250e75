"""What the stacked engine can stack and how plans group (`why_sequential`, `stack_key`, `stacks`: sizes from free
memory): asked before any stack is built, so apart from the training (stacked.py re-exports every name here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..plan import Plan
from ..tasks.task import Data, torch_dtype
from .stacked_forward import _Batched, stacked_forward
from .train import input_dtype, resolve_device

EVAL_CHUNK = 8192
"""Samples per evaluation pass, as the sequential trainer's `evaluate`: a stack's (`stacked._Stack`), and one
member's share of it in `member_bytes`."""

MEMORY_SHARE = 0.5
"""The share of the free memory (host RAM, or the GPU's) an automatic stack size may plan to use."""

_SPLITS = ("train", "val", "test")


def unstackable(model: Any) -> str | None:
    """Why `model` cannot be stacked, or None when it can: a model with buffers (running statistics, e.g.
    BatchNorm), active dropout (random masks drawn per call) or tied weights trains only sequentially."""
    import torch

    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        return f"it has buffers ({buffers[0]}): running statistics are not stacked"
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.p > 0:
            return f"it has dropout ({name})"
    if not any(True for _ in model.parameters()):
        return "it has no parameters"
    uses = sum(1 for _ in model.named_parameters(remove_duplicate=False))  # a tied weight once per layer using it
    if uses != len(list(model.parameters())):  # torch.func cannot stack a model whose layers share a weight
        return "a parameter is shared between layers (tied weights)"
    return None


def why_sequential(p: Plan, engine: str, device: str) -> str | None:
    """Why engine "auto" or "stacked" trains `p`'s runs one after another, or None when it stacks them: with either,
    they cannot be stacked (the optimizer or one of its options is not a stacked one; the model has buffers, dropout
    or tied weights, or torch.func.vmap cannot run it); with "auto", also when on a CPU the model would stack through
    torch.func.vmap (it is not one `_Batched` runs) and vmap has no batching rule for one of its operations, which
    it then runs member by member: slower than one run after another (bench/stacked.py: tinylm's attention, 0.8x)."""
    reason, slow = _optimizer_reason(p), []
    if reason is None:
        reason, slow = _model_reasons(p)
    if reason is not None:
        return f"they cannot be stacked: {reason}"
    if engine == "auto" and slow and resolve_device(device) == "cpu":
        return (f"on a CPU, torch.func.vmap has no batching rule for {slow[0]} and would run it member by member, "
                "slower than one run after another; engine 'stacked' stacks them anyway")
    return None


def _optimizer_reason(p: Plan) -> str | None:
    """Why the stacked optimizers cannot train `p` (its optimizer kind or one of its options), or None."""
    from .stacked_optim import DEFAULTS

    if p.options.optimizer not in DEFAULTS:
        return f"the stacked engine has no {p.options.optimizer} optimizer"
    unknown = sorted(set(p.options.optimizer_kwargs) - set(DEFAULTS[p.options.optimizer]))
    if unknown:
        return f"the stacked {p.options.optimizer} has no option {unknown[0]!r}"
    return None


def _model_reasons(p: Plan) -> tuple[str | None, list[str]]:
    """Why `p`'s model cannot be stacked (None: it can), and the operations torch.func.vmap would run member by
    member when stacking it (none for a model `_Batched` runs)."""
    model = _model(p)
    reason = unstackable(model)
    if reason is not None:
        return reason, []
    names = [name for name, _ in model.named_parameters()]
    if _Batched.of(model, names, tuple(np.shape(p.data.train.x)[1:])) is not None:
        return None, []
    return _vmap_probe(p, model, names)


def _vmap_probe(p: Plan, model: Any, names: list[str]) -> tuple[str | None, list[str]]:
    """One forward and backward pass of two stacked copies of `p`'s model through torch.func.vmap, on two samples
    (on the CPU): why vmap cannot run it (data-dependent control flow, say; None when it can), and the operations
    it has no batching rule for (it runs them member by member, and warns)."""
    import re
    import warnings

    import torch

    dtype = torch_dtype(p.config["dtype"])
    model = model.to(dtype)
    x = torch.as_tensor(np.asarray(p.data.train.x[:2]), dtype=input_dtype(p.task.loss, dtype))
    params = [t.detach().unsqueeze(0).repeat(2, *[1] * t.dim()).requires_grad_() for t in model.parameters()]
    forward = stacked_forward(model, names, tuple(x.shape[1:]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            forward(params, x, True).double().sum().backward()
        except Exception as exc:  # whatever vmap cannot do with this model: do not stack it
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"torch.func.vmap cannot run it ({type(exc).__name__}: {first[:200]})", []
    found = (re.search(r"batching rule for (\S+?)\.", str(w.message)) for w in caught)
    return None, sorted({m.group(1) for m in found if m})


def _model(p: Plan) -> Any:
    """The model of `p`'s task for its seed (torch's global RNG left as it was)."""
    from ..tasks.models import _seeded

    with _seeded(p.options.seed):
        return p.task.model(p.options.seed)


def stack_key(p: Plan) -> tuple[Any, ...]:
    """Plans with equal keys can share a stack: one task, one optimizer kind, batch size, dtype and split sizes."""
    sizes = tuple(len(getattr(p.data, name)) for name in _SPLITS)
    return (p.task.name, p.options.optimizer, p.options.batch_size, p.config["dtype"], sizes)


def _same_data(a: Data, b: Data) -> bool:
    if a is b:
        return True
    return all(
        np.array_equal(np.asarray(getattr(a, n).x), np.asarray(getattr(b, n).x))
        and np.array_equal(np.asarray(getattr(a, n).y), np.asarray(getattr(b, n).y))
        for n in _SPLITS
    )


# -- memory -------------------------------------------------------------------------------------
def free_memory(device: str) -> int:
    """Bytes free on `device` ("cpu": the host's available memory; "cuda": the current GPU's)."""
    import torch

    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def member_bytes(p: Plan) -> int:
    """An estimate of one member's memory: parameters, gradients and optimizer state, plus the activations of a
    training batch (kept for the backward pass) and of an evaluation chunk."""
    import torch

    dtype = torch_dtype(p.config["dtype"])
    model = p.task.model(p.options.seed).to(dtype)
    n_params = sum(t.numel() for t in model.parameters())
    state = {"sgd": 1, "adam": 3, "adamw": 3}.get(p.options.optimizer, 3)  # momentum; exp_avg, exp_avg_sq (amsgrad)
    activations = 0

    def count(module: Any, _inputs: Any, output: Any) -> None:
        nonlocal activations
        if isinstance(output, torch.Tensor):
            activations += output.numel()
            if isinstance(module, torch.nn.Conv1d):  # its windows (`_windows`): k x in values per output position
                activations += output.shape[-1] * module.kernel_size[0] * module.in_channels

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        x = torch.as_tensor(np.asarray(p.data.train.x[:1]), dtype=input_dtype(p.task.loss, dtype))
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    batch = p.options.batch_size or len(p.data.train)
    elems = n_params * (3 + state) + activations * (2 * batch + min(EVAL_CHUNK, max(len(p.data.val), batch)))
    return int(elems * dtype.itemsize)


def auto_stack(p: Plan, device: str) -> int:
    """How many members of `p`'s kind fit in MEMORY_SHARE of the free memory of `device` (at least 1)."""
    return max(1, int(MEMORY_SHARE * free_memory(device) // max(1, member_bytes(p))))


def stacks(plans: Sequence[Plan], *, max_stack: int | None = None, device: str = "cpu") -> list[list[int]]:
    """The plans' indices grouped into stacks: equal `stack_key`s, in order of first appearance, chunked to at
    most `max_stack` members (None: `auto_stack` for the group's first plan)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, p in enumerate(plans):
        groups.setdefault(stack_key(p), []).append(i)
    out = []
    for members in groups.values():
        size = max_stack if max_stack is not None else auto_stack(plans[members[0]], resolve_device(device))
        out += [members[i : i + size] for i in range(0, len(members), size)]
    return out
