"""SGD, Adam and AdamW over stacked parameters: K optimizers in one, each member with its own rate every step.

The stacked engine trains K runs as one model whose parameters carry a leading member dimension K. These
optimizers update such parameters with a learning rate per member (a tensor of shape (K,)) and hyperparameters
per member (momentum, dampening, nesterov, betas, eps, weight decay, amsgrad), so members of one stack can follow
different schedules, including momentum schedules. The formulas follow torch.optim's single-tensor
implementations operation by operation (`torch/optim/sgd.py`, `torch/optim/adam.py`; AdamW is Adam with decoupled
weight decay), so in float64 a member's parameters equal those its own torch optimizer gives, to rounding. (A plain
SGD step can also take a gradient that is a matrix product inside its update, `SGD.step_product`: the same step,
rounded in another order.)

A member that is not `active` (it diverged, or it is done) is left exactly as it is: parameters, buffers and
step count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ... import _check

KINDS = ("sgd", "adam", "adamw")

# Each kind's options and torch's defaults for them (torch.optim 2.x). `lr` comes from the schedules.
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False},
}


def _member_options(kind: str, members: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Each option as a list over members, torch's default where a member leaves it out."""
    known = DEFAULTS[kind]
    out: dict[str, list[Any]] = {name: [] for name in known}
    for i, options in enumerate(members):
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"stacked {kind}: member {i} has option {unknown[0]!r}, which the stacked engine does not support; "
                f"it supports {', '.join(known)}"
            )
        for name, default in known.items():
            out[name].append(options.get(name, default))
    return out


class StackedOptimizer:
    """Base of the stacked optimizers: parameters (K, ...), per-member hyperparameters as (K,) tensors."""

    kind = ""

    def __init__(self, params: Sequence[Any], members: Sequence[Mapping[str, Any]]) -> None:
        import torch

        self.params = list(params)
        if not self.params:
            raise ValueError(f"stacked {self.kind}: no parameters")
        self.size = len(members)
        if self.size < 1:
            raise ValueError(f"stacked {self.kind}: members must list at least one member's options")
        for p in self.params:
            if p.dim() < 1 or p.shape[0] != self.size:
                raise ValueError(
                    f"stacked {self.kind}: every parameter needs a leading member dimension of {self.size}, "
                    f"got shape {tuple(p.shape)}"
                )
        first = self.params[0]
        self._torch = torch
        self._dtype, self._device = first.dtype, first.device
        self.options = _member_options(self.kind, members)
        self.any_decay = any(v != 0 for v in self.options["weight_decay"])  # every kind has weight decay

    def _vector(self, values: Sequence[Any], dtype: Any = None) -> Any:
        return self._torch.tensor(list(values), dtype=dtype or self._dtype, device=self._device)

    def _per_member(self, name: str, value: Any) -> Any:
        """A (K,) tensor of `value`: a number (the same for every member) or K numbers."""
        torch = self._torch
        if isinstance(value, torch.Tensor):
            if value.shape == (self.size,) and value.dtype == self._dtype and value.device == self._device:
                return value
            out = value.to(dtype=self._dtype, device=self._device)
        elif _check.is_real(value):
            out = torch.full((self.size,), float(value), dtype=self._dtype, device=self._device)
        else:
            out = self._vector(value)
        if out.shape != (self.size,):
            raise ValueError(f"stacked {self.kind}: {name} needs {self.size} values (one per member), got {value!r}")
        return out

    @staticmethod
    def _view(vector: Any, param: Any) -> Any:
        """A (K,) vector shaped to broadcast against a (K, ...) parameter."""
        return vector.view((-1,) + (1,) * (param.dim() - 1))

    def _active(self, active: Any) -> Any:
        torch = self._torch
        if active is None:
            return torch.ones(self.size, dtype=torch.bool, device=self._device)
        return active.to(device=self._device, dtype=torch.bool)


class SGD(StackedOptimizer):
    """torch.optim.SGD per member: weight decay, momentum (with dampening, nesterov) and a rate per member.

    `step(grads, lr, momentum=None)`: `momentum` (K,) overrides the members' momentum for this step (a momentum
    schedule); as in torch, a member's buffer starts as its first gradient at the first step with momentum != 0.
    """

    kind = "sgd"

    def __init__(self, params: Sequence[Any], members: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(params, members)
        o = self.options
        self.momentum = self._vector(o["momentum"])
        self.dampening = self._vector(o["dampening"])
        self.one_minus_dampening = 1 - self.dampening
        self.nesterov = self._vector(o["nesterov"], dtype=self._torch.bool)
        self.weight_decay = self._vector(o["weight_decay"])
        self.buffers = [self._torch.zeros_like(p) for p in self.params]
        self.has_buffer = self._torch.zeros(self.size, dtype=self._torch.bool, device=self._device)

    def step(self, grads: Sequence[Any], lr: Any, *, momentum: Any = None, active: Any = None) -> None:
        """One update of the active members; a gradient None leaves its parameter alone (a plain step updated it
        with `step_product`)."""
        torch = self._torch
        lr = self._per_member("lr", lr)
        mom = self.momentum if momentum is None else self._per_member("momentum", momentum)
        active = self._active(active)
        everyone = bool(active.all())
        uses_momentum = (mom != 0) & active
        # every member active, with momentum and a buffer, none nesterov: the buffers update in place
        steady = everyone and bool(uses_momentum.all() and self.has_buffer.all()) and not bool(self.nesterov.any())
        with torch.no_grad():
            for param, grad, buf in zip(self.params, grads, self.buffers):
                if grad is None:
                    continue
                view = lambda v, p=param: self._view(v, p)  # noqa: E731
                wd = view(self.weight_decay)
                g = torch.where(wd != 0, grad + wd * param, grad) if self.any_decay else grad
                if steady:  # torch: buf.mul_(momentum).add_(g, alpha=1 - dampening); g = buf
                    g = buf.mul_(view(mom)).add_(g * view(self.one_minus_dampening))
                elif bool(uses_momentum.any()):
                    m = view(mom)
                    started = buf * m + g * view(self.one_minus_dampening)
                    new_buf = torch.where(view(self.has_buffer), started, g)
                    buf.copy_(torch.where(view(uses_momentum), new_buf, buf))
                    with_momentum = torch.where(view(self.nesterov), g + buf * m, buf)
                    g = torch.where(view(uses_momentum), with_momentum, g)
                if everyone:  # param - g * lr in one pass, without the selection
                    param.addcmul_(g, view(lr), value=-1)
                else:
                    param.copy_(torch.where(view(active), param - g * view(lr), param))
            self.has_buffer |= uses_momentum

    def plain(self, active: Any = None) -> bool:
        """Whether a step (with the members' own momentum) is param -= lr * grad for every member: all active, no
        momentum, no weight decay. Then a gradient that is a matrix product can go into the update (`step_product`)."""
        return bool(self._active(active).all()) and not (self.any_decay or bool(self.momentum.any()))

    def step_product(self, i: int, left: Any, right: Any, lr: Any) -> None:
        """A plain step (see `plain`) of parameter i, whose gradient is the batched product left @ right ((K, m, B) @
        (K, B, n)), in one product: param -= (lr * left) @ right. The gradient is never written out (a big layer's
        weight gradient costs as much memory traffic as its product)."""
        lr = self._per_member("lr", lr)
        with self._torch.no_grad():
            self.params[i].baddbmm_(left * self._view(lr, left), right, alpha=-1)


class Adam(StackedOptimizer):
    """torch.optim.Adam per member (AdamW: `decoupled=True`), with a rate and betas[0] per member every step.

    `step(grads, lr, beta1=None)`: `beta1` (K,) overrides the members' betas[0] for this step (a momentum schedule
    driving betas[0], as lrlab.torch.Scheduler(momentum=...) does); bias corrections use the current betas, as torch.
    """

    kind = "adam"
    decoupled = False

    def __init__(self, params: Sequence[Any], members: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(params, members)
        o = self.options
        for i, betas in enumerate(o["betas"]):
            if not isinstance(betas, (list, tuple)) or len(betas) != 2:
                raise ValueError(f"stacked {self.kind}: member {i} has betas {betas!r}; expected two numbers")
        torch = self._torch
        self.beta1 = self._vector([b[0] for b in o["betas"]])
        self.beta2 = self._vector([b[1] for b in o["betas"]])
        self.eps = self._vector(o["eps"])
        self.weight_decay = self._vector(o["weight_decay"])
        self.amsgrad = self._vector(o["amsgrad"], dtype=torch.bool)
        self.steps = torch.zeros(self.size, dtype=torch.float64, device=self._device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.max_exp_avg_sq = [torch.zeros_like(p) for p in self.params] if bool(self.amsgrad.any()) else None
        self.one_minus_beta1, self.one_minus_beta2 = 1 - self.beta1, 1 - self.beta2

    def step(self, grads: Sequence[Any], lr: Any, *, beta1: Any = None, active: Any = None) -> None:
        torch = self._torch
        lr = self._per_member("lr", lr)
        b1 = self.beta1 if beta1 is None else self._per_member("beta1", beta1)
        one_minus_b1 = self.one_minus_beta1 if beta1 is None else 1 - b1
        b2 = self.beta2
        active = self._active(active)
        everyone = bool(active.all())  # then every selection below keeps the new values: update in place
        with torch.no_grad():
            self.steps += active.to(self.steps.dtype)
            step = self.steps.to(self._dtype)
            bias_correction1 = 1 - b1**step
            bias_correction2 = 1 - b2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2.sqrt()
            for i, (param, grad) in enumerate(zip(self.params, grads)):
                view = lambda v, p=param: self._view(v, p)  # noqa: E731
                on = view(active)
                wd = view(self.weight_decay)
                p = param
                g = grad
                if self.any_decay and self.decoupled:
                    p = torch.where(wd != 0, param * (1 - view(lr) * wd), param)
                elif self.any_decay:
                    g = torch.where(wd != 0, grad + wd * param, grad)
                # torch's exp_avg.lerp_(g, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if everyone:
                    exp_avg = self.exp_avg[i].lerp_(g, view(one_minus_b1).expand_as(g))
                    exp_avg_sq = self.exp_avg_sq[i].mul_(view(b2)).add_(g * g * view(self.one_minus_beta2))
                else:
                    exp_avg = torch.lerp(self.exp_avg[i], g, view(one_minus_b1).expand_as(g))
                    exp_avg_sq = self.exp_avg_sq[i] * view(b2) + g * g * view(self.one_minus_beta2)
                    self.exp_avg[i].copy_(torch.where(on, exp_avg, self.exp_avg[i]))
                    self.exp_avg_sq[i].copy_(torch.where(on, exp_avg_sq, self.exp_avg_sq[i]))
                second = exp_avg_sq
                if self.max_exp_avg_sq is not None:
                    biggest = torch.maximum(self.max_exp_avg_sq[i], exp_avg_sq)
                    self.max_exp_avg_sq[i].copy_(torch.where(on & view(self.amsgrad), biggest, self.max_exp_avg_sq[i]))
                    second = torch.where(view(self.amsgrad), biggest, exp_avg_sq)
                denom = second.sqrt().div_(view(bias_correction2_sqrt)).add_(view(self.eps))
                change = torch.div(exp_avg, denom).mul_(view(step_size))  # param - step_size * exp_avg / denom
                if everyone and p is param:
                    param.sub_(change)
                else:
                    updated = p - change
                    param.copy_(updated if everyone else torch.where(on, updated, param))


class AdamW(Adam):
    """torch.optim.AdamW per member: Adam with decoupled weight decay (default 1e-2, as torch)."""

    kind = "adamw"
    decoupled = True


def stacked_optimizer(kind: str, params: Sequence[Any], members: Sequence[Mapping[str, Any]]) -> StackedOptimizer:
    """The stacked optimizer of `kind` ("sgd", "adam", "adamw") over `params`, member i built with `members[i]`
    (torch.optim keyword options, e.g. {"momentum": 0.9, "nesterov": True})."""
    classes = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
    if kind not in classes:
        raise _check.fail("stacked optimizer", "kind", "one of " + ", ".join(repr(k) for k in KINDS), kind)
    return classes[kind](params, members)
