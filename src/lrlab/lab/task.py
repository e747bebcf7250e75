"""What a task is (data, a model, a loss, metrics) and the registry the lab looks tasks up in.

A user adds a task in a few lines:

    from lrlab.lab import Task, register_task

    @register_task
    def my_task() -> Task:
        return Task(name="my_task", description="...", loss="ce", load=my_loader, model=my_model,
                    epochs=20, batch_size=32)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Split:
    """One split of a data set as numpy arrays: float inputs, targets (float for mse/bce, int for ce)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Data:
    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Task:
    """A learning problem the lab trains on.

    load(seed) -> Data; model(seed) -> torch.nn.Module mapping a batch of inputs to outputs
    (one output per sample for mse/bce given as logits for bce, class logits for ce).
    loss: "mse", "bce" (binary cross-entropy on logits) or "ce" (cross-entropy on class logits).
    batch_size None means full-batch gradient descent. dtype "float64" for exact reproductions.
    """

    name: str
    description: str
    loss: str
    load: Callable[[int], Data]
    model: Callable[[int], Any]
    epochs: int = 20
    batch_size: int | None = 32
    optimizer: str = "sgd"
    lr: float = 0.1
    dtype: str = "float32"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("accuracy",) if self.loss in ("bce", "ce") else ()


_TASKS: dict[str, Callable[..., Task]] = {}


def register_task(factory: Callable[..., Task], name: str | None = None) -> Callable[..., Task]:
    """Register a task factory under its name (the function name unless given); usable as a decorator."""
    _TASKS[name or factory.__name__] = factory
    return factory


def get_task(name: str, **options: Any) -> Task:
    """The task registered under `name` (options go to its factory, e.g. data_dir for mnist);
    ValueError listing the known names otherwise."""
    from . import tasks  # noqa: F401  (registers the built-in tasks)

    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}")
    return _TASKS[name](**options)


def task_names() -> list[str]:
    from . import tasks  # noqa: F401

    return sorted(_TASKS)
