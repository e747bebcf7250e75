"""The stacked engine's forward pass, K members in one call: batched matrix products for MLPs and 1-D CNNs
(`_Batched`), torch.func.vmap over the model else. A module of its own: it needs nothing of plans or training.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

_ELEMENTWISE = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "ELU", "Softplus", "Identity", "Mish")


def _windows(h: Any, k: int, stride: int) -> Any:
    """The windows of a 1-D convolution over h (..., n, L, C), channels last: (..., n * L', k * C), row j of a sample
    its positions j * stride .. j * stride + k - 1. One strided copy forward; backward, k strided sums (both several
    times faster on a CPU than index_select and its index_add)."""
    return _windows_function().apply(h, k, stride)


@functools.cache
def _windows_function() -> Any:
    """`_windows` as a torch.autograd.Function (made on first use: torch is imported lazily)."""
    import torch

    class Windows(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, h: Any, k: int, stride: int) -> Any:
            h = h.contiguous()
            *lead, n, length, channels = h.shape
            out_len = (length - k) // stride + 1
            ctx.shape, ctx.out_len, ctx.k, ctx.stride = h.shape, out_len, k, stride
            size = (*lead, n, out_len, k, channels)
            strides = (*h.stride()[:-2], stride * channels, channels, 1)
            return h.as_strided(size, strides).reshape(*lead, n * out_len, k * channels)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            *lead, n, _, channels = ctx.shape
            k, stride = ctx.k, ctx.stride
            grad = grad.reshape(*lead, n, ctx.out_len, k, channels)
            out = grad.new_zeros(ctx.shape)
            span = stride * (ctx.out_len - 1) + 1
            for j in range(k):
                out[..., j : j + span : stride, :] += grad[..., j, :]
            return out, None, None

    return Windows


class _Batched:
    """The forward pass of a Sequential of Linear, Conv1d, Flatten, Unflatten and element-wise layers (or of one
    Linear or Conv1d layer alone), K members at once as batched matrix products (a convolution as one product over
    its windows, channels last in between): `of(model, names, sample)` builds it (None for any other model);
    calling it is `stacked_forward`'s forward. On a CPU several times faster than vmap over the model (a grouped
    convolution)."""

    def __init__(self, layers: list[tuple[str, Any, tuple[int, ...]]]) -> None:
        self.layers = layers  # (kind, parameters' indices and options, per-sample output shape in torch's layout)

    @classmethod
    def of(cls, model: Any, names: list[str], sample: tuple[int, ...]) -> _Batched | None:
        """The model's layers, their parameters' indices in `names` and output shapes for inputs of per-sample
        shape `sample`, or None when it is not such a Sequential (or its layers do not fit those shapes)."""
        import torch

        nn = torch.nn
        if isinstance(model, nn.Sequential):
            # every entry as forward runs them (named_children skips a module's second appearance)
            children = [(f"{name}.", module) for name, module in model._modules.items()]
        elif type(model) in (nn.Linear, nn.Conv1d):  # a model that is one layer
            children = [("", model)]
        else:
            return None
        index = {name: i for i, name in enumerate(names)}
        layers: list[tuple[str, Any, tuple[int, ...]]] = []
        shape = tuple(sample)
        for name, module in children:
            kind = type(module)
            if kind in (nn.Linear, nn.Conv1d) and f"{name}weight" not in index:  # a weight shared with another layer
                return None
            if kind is nn.Linear and shape == (module.in_features,):
                what: Any = (index[f"{name}weight"], index.get(f"{name}bias"))
                shape = (module.out_features,)
                layers.append(("linear", what, shape))
            elif (kind is nn.Conv1d and len(shape) == 2 and shape[0] == module.in_channels and module.groups == 1
                  and module.dilation == (1,) and module.padding_mode == "zeros"
                  and not isinstance(module.padding, str)):
                (k,), (stride,), (pad,) = module.kernel_size, module.stride, module.padding
                length = (shape[1] + 2 * pad - k) // stride + 1
                if length < 1:
                    return None
                what = (index[f"{name}weight"], index.get(f"{name}bias"), k, stride, pad)
                shape = (module.out_channels, length)
                layers.append(("conv1d", what, shape))
            elif kind in (nn.Flatten, nn.Unflatten):
                if (module.start_dim if kind is nn.Flatten else module.dim) in (0, -1 - len(shape)):  # the batch's
                    return None
                try:
                    shape = tuple(module(torch.empty((1, *shape), device="meta")).shape[1:])
                except (RuntimeError, ValueError, IndexError):
                    return None
                layers.append(("reshape", None, shape))
            elif kind.__name__ in _ELEMENTWISE and kind.__module__.startswith("torch.nn"):
                layers.append(("elementwise", module, shape))
            else:
                return None
        return cls(layers)

    @property
    def first_linear(self) -> tuple[int, int | None] | None:
        """The indices of the first layer's weight and bias when that layer is a Linear one (else None)."""
        kind, what, _ = self.layers[0]
        return what if kind == "linear" else None

    @staticmethod
    def linear(params: Sequence[Any], w: int, b: int | None, h: Any, shared: bool) -> Any:
        """A Linear layer's outputs (K, n, out) for inputs h: (n, in) shared by all members, else (K, n, in)."""
        import torch

        if shared:  # (n, in) against every member's (out, in): one matrix product, bias included
            k, n_out = params[w].shape[:2]
            weight = params[w].reshape(k * n_out, -1).T
            h = h @ weight if b is None else torch.addmm(params[b].reshape(k * n_out), h, weight)
            return h.view(-1, k, n_out).transpose(0, 1)
        if b is None:  # W @ h^T: the weight's gradient then comes out in its own layout (no copy)
            return torch.bmm(params[w], h.transpose(1, 2)).transpose(1, 2)
        return torch.baddbmm(params[b].unsqueeze(2), params[w], h.transpose(1, 2)).transpose(1, 2)

    @staticmethod
    def conv1d(params: Sequence[Any], w: int, b: int | None, k: int, stride: int, pad: int, h: Any,
               shared: bool) -> Any:
        """A Conv1d layer's outputs (K, n, L', out), channels last, for inputs h (n, L, in) shared by all members,
        else (K, n, L, in): every output position's window copied into a row (`_windows`), then one product with
        the weight as a (out, k * in) matrix."""
        import torch

        if pad:
            h = torch.nn.functional.pad(h, (0, 0, pad, pad))
        channels = h.shape[-1]
        rows = _windows(h, k, stride)  # (..., n * L', k * in): a row is an output position's window
        out_len = rows.shape[-2] // h.shape[-3]
        weight = params[w].transpose(2, 3)  # (K, out, k, in): the window's order
        members, n_out = weight.shape[:2]
        if shared:
            rows = rows.view(-1, k * channels)
            flat = weight.reshape(members * n_out, k * channels).T
            out = rows @ flat if b is None else torch.addmm(params[b].reshape(-1), rows, flat)
            return out.view(h.shape[0], out_len, members, n_out).permute(2, 0, 1, 3).contiguous()
        flat = weight.reshape(members, n_out, k * channels).transpose(1, 2)
        out = torch.bmm(rows, flat) if b is None else torch.baddbmm(params[b].unsqueeze(1), rows, flat)
        return out.view(members, h.shape[1], out_len, n_out)

    def __call__(self, params: Sequence[Any], x: Any, shared: bool, first: Any = None) -> Any:
        """The outputs (K, n, ...) for inputs x ((n, ...) when shared by all members, else (K, n, ...)); `first`: the
        first layer's outputs, already computed (the pass goes on from there)."""
        h, layers = (x, self.layers) if first is None else (first, self.layers[1:])
        shared = shared and first is None
        last = False  # h is channels last: (..., L, C) for the torch layout's (..., C, L)
        for kind, what, shape in layers:
            if kind == "elementwise":
                h = what(h)
                continue
            if last and kind != "conv1d":  # back to torch's layout
                h, last = h.transpose(-1, -2), False
            if kind == "linear":
                h = self.linear(params, *what, h, shared)
            elif kind == "conv1d":
                if not last:
                    h = h.transpose(-1, -2)
                h, last = self.conv1d(params, *what, h, shared), True
            else:
                h = h.reshape(*h.shape[: 1 if shared else 2], *shape)
                continue
            shared = False
        return h.transpose(-1, -2) if last else h


def stacked_forward(model: Any, names: list[str], sample: tuple[int, ...]) -> Callable[..., Any]:
    """forward(params, x, shared) -> outputs (K, n, ...): params in `names`' order with a leading K; x (n, *sample)
    when shared by all members, else (K, n, *sample). Batched products for a Sequential of the layers `_Batched`
    knows (MLPs, 1-D CNNs), vmap over functional_call else."""
    fast = _Batched.of(model, names, sample)
    if fast is not None:
        return fast
    from torch.func import functional_call, vmap

    def one(params: Sequence[Any], x: Any) -> Any:
        return functional_call(model, dict(zip(names, params)), (x,))

    shared_map, own_map = vmap(one, in_dims=(0, None)), vmap(one, in_dims=(0, 0))

    def forward(params: Sequence[Any], x: Any, shared: bool) -> Any:
        return (shared_map if shared else own_map)(list(params), x)

    return forward
