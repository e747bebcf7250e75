"""What a task is (data, a model, a loss, metrics) and the registry the lab looks tasks up in.

A user adds a task in a few lines (a factory returning a Task, registered under the function's name):

    import numpy as np
    from lrlab.lab import Data, Split, Task, get_task, register_task

    def load_blobs(seed: int) -> Data:
        rng = np.random.default_rng(0)  # fixed data: the run's seed only changes the model init
        x = rng.normal(size=(300, 2)).astype(np.float32)
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)  # class ids, shape (n,)
        return Data(Split(x[:200], y[:200]), Split(x[200:250], y[200:250]), Split(x[250:], y[250:]))

    def blobs_model(seed: int):
        import torch

        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    @register_task
    def blobs() -> Task:
        return Task(name="blobs", description="XOR of two signs", loss="ce",
                    load=load_blobs, model=blobs_model, epochs=20, batch_size=32, lr=0.1)

    task = get_task("blobs")  # the Task above, for the lab's train and compare
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import _check

LOSSES = ("mse", "bce", "ce", "lm")
DTYPES = ("float32", "float64")
SCHEDULE_FREE = ("sgd_sf", "adamw_sf")
"""The schedule-free optimizers (package `schedulefree`): the trainer switches them to eval mode for every
evaluation and for the model it returns (their README's rule), and trains them sequentially (no stacked form)."""
OPTIMIZERS = ("sgd", "adam", "adamw", *SCHEDULE_FREE)
UNITS = ("epochs", "steps")


def torch_dtype(name: str) -> Any:
    """The torch dtype of a task dtype name (one of DTYPES)."""
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[_check.choice("", "dtype", name, DTYPES)]


def optimizer_class(name: str) -> Any:
    """The optimizer class of an optimizer name (one of OPTIMIZERS): torch.optim's SGD, Adam, AdamW, or
    schedulefree's SGDScheduleFree ("sgd_sf") and AdamWScheduleFree ("adamw_sf")."""
    import torch

    name = _check.choice("", "optimizer", name, OPTIMIZERS)
    if name in SCHEDULE_FREE:
        try:
            import schedulefree
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ValueError(f"optimizer {name} needs the schedulefree package (pip install schedulefree): {exc}") \
                from None
        return {"sgd_sf": schedulefree.SGDScheduleFree, "adamw_sf": schedulefree.AdamWScheduleFree}[name]
    return {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]


@dataclass(frozen=True)
class Split:
    """One split of a data set as numpy arrays.

    x: float inputs, shape (n, *input_shape), in the task's dtype.
    y: for "mse"/"bce" float targets shaped like the model's outputs, (n, 1) for one output;
       for "ce" int64 class ids, shape (n,).
    For "lm" (a language model) x holds int64 token ids, shape (n, T), and y the next token at every position,
    int64 (n, T).
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"Split: x and y differ in length: {len(self.x)} != {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Data:
    """The train, validation and test splits of a task."""

    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Task:
    """A learning problem the lab trains on.

    load(seed) -> Data; model(seed) -> torch.nn.Module mapping a batch of inputs to outputs
    (one output per sample for mse/bce given as logits for bce, class logits for ce).
    loss: "mse", "bce" (binary cross-entropy on logits), "ce" (cross-entropy on class logits) or "lm" (next-token
    cross-entropy: logits (n, T, V) against targets (n, T), averaged over every position; its metric "bpb" is that
    loss in bits, loss / ln 2: bits per byte for a byte-level model).
    batch_size None means full-batch gradient descent. dtype "float64" for exact reproductions.
    epochs, optimizer and lr are the task's defaults (a run may override them).
    unit: "epochs" (default) or "steps": how the leaderboard counts the way to its target (epochs_to_target or
    steps_to_target) and what the run curves show on their x axis.
    identity: what tells this task's runs apart beyond its name and the run's options, JSON-safe (e.g. the data's
    sha256 and sizes chosen by the task's options); every run records it in its config as "task_identity" (the
    store's key includes it, so runs on other data are never reused). Empty for tasks whose name says it all.
    version: bump it when the task's model, data or loss change under the same name (as an experiment's version):
    it joins the identity, so runs of the earlier version are never reused. "" (the default) adds nothing, so the
    keys of runs stored before versions existed stay as they were.
    Before a task's first run trains, the lab runs its model once on the first batch and refuses, naming the task,
    what its loop cannot train (a model that is not a torch module, probabilities under a logits loss, outputs
    shaped wrong for the loss, integer inputs, a model that fails): see `lrlab.lab.tasks.task_check`.
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
    unit: str = "epochs"
    identity: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def __post_init__(self) -> None:
        who = f"Task {self.name!r}"
        _check.choice(who, "loss", self.loss, LOSSES)
        _check.choice(who, "dtype", self.dtype, DTYPES)
        _check.choice(who, "optimizer", self.optimizer, OPTIMIZERS)
        _check.choice(who, "unit", self.unit, UNITS)
        object.__setattr__(self, "epochs", _check.whole(who, "epochs", self.epochs, 1))
        object.__setattr__(self, "batch_size", _check.whole(who, "batch_size", self.batch_size, 1, optional=True))
        object.__setattr__(self, "lr", _check.positive(who, "lr", self.lr))
        if not isinstance(self.version, str):
            raise _check.fail(who, "version", "a string (bump it when the task changes)", self.version)
        if not callable(self.load) or not callable(self.model):
            raise ValueError(f"Task {self.name!r}: load and model must be callables")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The figures besides the loss: accuracy for classifiers, bpb (the loss in bits) for language models."""
        return {"bce": ("accuracy",), "ce": ("accuracy",), "lm": ("bpb",)}.get(self.loss, ())


_TASKS: dict[str, Callable[..., Task]] = {}


def register_task(factory: Callable[..., Task] | None = None, name: str | None = None) -> Any:
    """Register a task factory under its name (the function name unless given); usable as a decorator,
    bare (`@register_task`) or with a name (`@register_task(name="my-task")`). Re-registering a name
    replaces the earlier factory; a user's task named like a built-in one (e.g. "line") replaces the built-in,
    whether registered before or after the built-ins are first loaded."""
    if factory is None:
        return lambda f: register_task(f, name)
    if not callable(factory):
        raise ValueError(f"register_task: factory must be callable, got {factory!r}")
    _TASKS[name or factory.__name__] = factory
    return factory


def register_builtin(factory: Callable[..., Task]) -> Callable[..., Task]:
    """Register a built-in task factory under its function name, unless a user registered that name first."""
    _TASKS.setdefault(factory.__name__, factory)
    return factory


def get_task(name: str, **options: Any) -> Task:
    """The task registered under `name` (options go to its factory, e.g. data_dir for mnist);
    ValueError listing the known names otherwise."""
    from . import builtin_tasks  # noqa: F401  (registers the built-in tasks)

    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}")
    factory = _TASKS[name]
    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        params = [p for p in inspect.signature(factory).parameters.values() if p.kind is p.KEYWORD_ONLY
                  or p.kind is p.POSITIONAL_OR_KEYWORD]
        takes = ", ".join(p.name for p in params) or "no options"
        raise ValueError(
            f"task {name!r} does not take option(s) {', '.join(sorted(options))}; it takes: {takes}"
        ) from None
    return factory(**options)


def task_names() -> list[str]:
    """Names of all registered tasks, sorted."""
    from . import builtin_tasks  # noqa: F401

    return sorted(_TASKS)
