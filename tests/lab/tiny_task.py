"""A task small enough for the run-store tests that train many times (60 rows, a 3-4-1 net, 2 epochs)."""

from __future__ import annotations

import numpy as np

from lrlab.lab.tasks.task import Data, Split, Task


def _load(seed: int) -> Data:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    return Data(Split(x[:40], y[:40]), Split(x[40:50], y[40:50]), Split(x[50:], y[50:]))


def _model(seed: int):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


TINY = Task(name="tiny", description="test task", loss="bce", load=_load, model=_model, epochs=2, batch_size=20)
