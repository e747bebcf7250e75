"""The built-in tasks' torch models. torch is imported inside each factory, so importing this module is free.

Each factory seeds its own initialisation (torch's global RNG state is restored afterwards), so the same
seed gives the same weights whatever ran before.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .task import torch_dtype


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """torch's global RNG seeded with `seed` inside the block and restored after it."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU's (the models are made there); torch.manual_seed would
        yield  # also queue a seeding of every accelerator, each with a traceback (milliseconds per model)


def slope(init: float, dtype: str = "float64") -> Any:
    """y = a * x: torch.nn.Linear(1, 1, bias=False) with its one weight set to `init`. Input (n, 1) -> (n, 1)."""
    import torch

    with _seeded(0):  # the layer's own init draws from the RNG before we overwrite it
        model = torch.nn.Linear(1, 1, bias=False, dtype=torch_dtype(dtype))
    with torch.no_grad():
        model.weight.fill_(float(init))
    return model


def mlp(sizes: Sequence[int], seed: int, dtype: str = "float32", init: str = "torch") -> Any:
    """Linear layers of the given widths with ReLU between them (none after the last), initialised under
    `seed`: init="torch" is torch's default, "keras" is Keras's Dense default (Glorot-uniform weights, zero
    biases), for the seeds' Keras models. Input (n, sizes[0]) -> (n, sizes[-1])."""
    import torch

    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output width, got {list(sizes)}")
    if init not in ("torch", "keras"):
        raise ValueError(f"mlp: init must be 'torch' or 'keras', got {init!r}")
    with _seeded(seed):
        layers: list[Any] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            if i:
                layers.append(torch.nn.ReLU())
            layer = torch.nn.Linear(n_in, n_out, dtype=torch_dtype(dtype))
            if init == "keras":
                torch.nn.init.xavier_uniform_(layer.weight)
                torch.nn.init.zeros_(layer.bias)
            layers.append(layer)
        return torch.nn.Sequential(*layers)


def conv1d_net(seed: int, length: int = 40, classes: int = 10, channels: int = 25, dtype: str = "float32") -> Any:
    """A small 1-D CNN for MNIST-1D: three strided convolutions with ReLU, then a linear layer.
    Input (n, length) -> class logits (n, classes)."""
    import torch

    nn = torch.nn
    with _seeded(seed):
        dt = torch_dtype(dtype)
        convs = nn.Sequential(
            nn.Unflatten(1, (1, length)),
            nn.Conv1d(1, channels, 5, stride=2, padding=1, dtype=dt),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1, dtype=dt),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1, dtype=dt),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            width = convs(torch.zeros(1, length, dtype=dt)).shape[1]
        return nn.Sequential(*convs, nn.Linear(width, classes, dtype=dt))
