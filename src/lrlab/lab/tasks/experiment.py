"""A user's own training function as a target of every study: `@experiment(...)` declares its budget, its ranked
metric and its version; `load(ref)` finds one by reference ("path/to/train.py:name" or "package.module:name").

An experiment is a function `f(run)` that trains once with the schedule it is handed
(`lrlab.lab.engines.function.RunContext`) and reports what happened; the lab calls it for every (schedule, seed) of a
study, as it trains a built-in Task with its own loop. Its runs are stored under its `name` and `version`: a changed
function keeps its name, so bump the version whenever what it trains changes (the model, the data, the loss, the
metrics), or its old runs are reused. Only what a user names (in code or on the command line) is imported: nothing
stored names code to import.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import _check
from ...plateau import monitor_mode

MODES = ("max", "min")
DECLARATION = "__lrlab_experiment__"
"""The attribute by which a builder (`lrlab.keras.experiment`, `lrlab.lightning.experiment`, ...) declares the
function it returns: {"epochs", "steps_per_epoch", "steps", "metric", "mode", "version", "name", "module"} (module:
where the user's code lives, so a worker process can import the function again by its top-level name). The builders
live with their frameworks' adapters, below the lab, so they hand the lab plain data rather than an Experiment."""


@dataclass(frozen=True)
class Experiment:
    """A training function with what the lab needs to know of it (built by `experiment`).

    fn: the function, called as fn(run). name: how its runs are named and found again (default: the function's
    name). version: bumped by the user when the function trains something else (part of the store's key).
    epochs: the default budget in epochs; steps_per_epoch: its optimizer updates per epoch (so a schedule without
    lengths is stretched to epochs x steps_per_epoch); steps: a budget in updates instead.
    metric: the reported figure the leaderboard ranks by (e.g. "val_accuracy"), mode its direction ("max"/"min",
    default from the name: an accuracy is maximised, a loss minimised). None ranks by the final training loss.
    ref: where it can be imported again ("module:name", or the file for a script); source: that file, if any.
    """

    fn: Callable[[Any], Any]
    name: str
    version: str = "1"
    epochs: int | None = None
    steps_per_epoch: int | None = None
    steps: int | None = None
    metric: str | None = None
    mode: str = "min"
    ref: str = ""
    source: str | None = None

    unit = "epochs"  # how leaderboards count the way to a target (as Task.unit)

    def __post_init__(self) -> None:
        who = f"experiment {self.name!r}"
        if not callable(self.fn):
            raise _check.fail(who, "fn", "a function taking the run", self.fn)
        _check.whole(who, "epochs", self.epochs, 1, optional=True)
        _check.whole(who, "steps_per_epoch", self.steps_per_epoch, 1, optional=True)
        _check.steps(who, "steps", self.steps, optional=True)
        if self.metric is not None and (not isinstance(self.metric, str) or not self.metric.isidentifier()):
            raise _check.fail(who, "metric", "a metric name such as 'val_accuracy'", self.metric)
        _check.choice(who, "mode", self.mode, MODES)
        if not isinstance(self.version, str) or not self.version.strip():
            raise _check.fail(who, "version", "a non-empty string", self.version)

    @property
    def identity(self) -> dict[str, Any]:
        """What tells its runs apart in the store (as Task.identity): its name and version."""
        return {"experiment": self.name, "version": self.version}

    def __call__(self, run: Any) -> Any:
        return self.fn(run)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The kind of figure ranked, as Task.metrics: ("accuracy",) for an accuracy metric, else ()."""
        return ("accuracy",) if self.metric is not None and self.metric.endswith("accuracy") else ()

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, version={self.version!r}, metric={self.metric!r}, ref={self.ref!r})"

    def __reduce__(self) -> Any:
        """Worker processes receive it by reference: they import it again (`load`)."""
        if not self.ref:
            raise ValueError(f"experiment {self.name!r} cannot be sent to a worker process: it has no reference "
                             "(define it at the top level of a module or file)")
        return (load, (self.ref, self.source, self.name, self.version))


def _ref_of(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """(reference, source file) of a top-level function; ("", None) for one that cannot be imported again."""
    qualname = getattr(fn, "__qualname__", "")
    module = getattr(fn, "__module__", None)
    if not module or "<" in qualname or "." in qualname:  # a lambda, a nested function, a method
        return "", None
    source = getattr(sys.modules.get(module), "__file__", None)
    if module in ("__main__", "__mp_main__") or module.startswith("lrlab_experiment_"):
        if source is None:
            return "", None
        return f"{Path(source).stem}:{qualname}", str(Path(source).resolve())
    return f"{module}:{qualname}", None if source is None else str(Path(source).resolve())


def _declared_ref(fn: Callable[..., Any], module: Any) -> tuple[str, str | None]:
    """(reference, source file) of a builder's function by the top-level name that `module` (the module of the
    user's build function) gives it: `product = lrlab.keras.experiment(build, ...)` in train.py is "train:product";
    ("", None) when no top-level name holds it."""
    held = sys.modules.get(module) if isinstance(module, str) else None
    name = next((k for k, v in vars(held).items() if v is fn and k.isidentifier()), None) if held else None
    if name is None:
        return "", None

    def stand_in() -> None: ...

    stand_in.__module__, stand_in.__qualname__ = module, name
    return _ref_of(stand_in)


def experiment(
    fn: Callable[[Any], Any] | None = None,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    steps: int | None = None,
    metric: str | None = None,
    mode: str | None = None,
    version: str | int = "1",
    name: str | None = None,
) -> Any:
    """Declare a training function a target of `compare`, `tune`, `find_lr` and `forecast`; use as a decorator.

    Args:
        fn: the training function, fn(run) (see lrlab.lab.engines.function.RunContext for `run`).
        epochs: the default number of epochs of a run (a study may ask another).
        steps_per_epoch: optimizer updates per epoch (len(train_loader)); with epochs it fixes the run's budget.
        steps: a budget in updates instead of epochs x steps_per_epoch.
        metric: the reported metric ranked on the leaderboard, e.g. "val_accuracy" (None: the final training loss).
        mode: "max" or "min" (default: from the metric's name; a name that says neither is an error).
        version: bump it when the function trains something else: runs of another version are never reused.
        name: how runs are named and stored (default: the function's name).

    Examples:
        >>> from lrlab.lab.tasks.experiment import experiment
        >>> @experiment(epochs=3, steps_per_epoch=10, metric="val_accuracy", version=2)
        ... def my_model(run):
        ...     return {}
        >>> my_model.name, my_model.version, my_model.mode
        ('my_model', '2', 'max')
    """
    if fn is None:
        return lambda f: experiment(f, epochs=epochs, steps_per_epoch=steps_per_epoch, steps=steps, metric=metric,
                                    mode=mode, version=version, name=name)
    if isinstance(fn, Experiment):
        fn = fn.fn
    declared = getattr(fn, DECLARATION, None)
    if isinstance(declared, dict):  # a builder's function (lrlab.keras.experiment, ...): its declaration, then ours
        given = {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "steps": steps, "metric": metric,
                 "mode": mode, "name": name}
        merged = {k: given[k] if given.get(k) is not None else declared.get(k) for k in given}
        if version == "1" and declared.get("version") is not None:
            version = declared["version"]
        epochs, steps_per_epoch, steps, metric, mode, name = (merged[k] for k in given)
    if not callable(fn) or not signature_ok(fn):
        raise _check.fail("experiment", "fn", "a function taking one argument (the run)", fn)
    label = name if name is not None else getattr(fn, "__name__", None)
    if not isinstance(label, str) or not label.strip():
        raise _check.fail("experiment", "name", "a non-empty string", label)
    if metric is not None and (not isinstance(metric, str) or not metric.isidentifier()):
        raise _check.fail(f"experiment {label!r}", "metric", "a metric name such as 'val_accuracy'", metric)
    if mode is None:
        mode = monitor_mode(metric) or ("min" if metric is None else "")
        if not mode:
            raise ValueError(f"experiment {label!r}: mode must be 'max' or 'min' for metric {metric!r} (its name "
                             "does not say which is better)")
    if epochs is not None and steps is not None:
        raise ValueError(f"experiment {label!r}: epochs and steps are exclusive, got epochs={epochs} and "
                         f"steps={steps}")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    ref, source = _ref_of(fn)
    if not ref and isinstance(declared, dict):  # a builder's function: where the user's module holds it
        ref, source = _declared_ref(fn, declared.get("module"))
    return Experiment(fn=fn, name=label, version=version, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      steps=steps, metric=metric, mode=mode, ref=ref, source=source)


def is_reference(text: Any) -> bool:
    """Whether a task argument names an experiment ("file.py:name" or "pkg.module:name") rather than a task."""
    if not isinstance(text, str) or text.count(":") != 1 or "://" in text:
        return False
    where, name = text.rsplit(":", 1)
    return bool(where) and name.isidentifier()


def load(ref: str, source: str | None = None, name: str | None = None, version: str | None = None) -> Experiment:
    """The experiment named by `ref`: "path/to/train.py:name" (the file is run as a module of its own) or
    "package.module:name" (imported); a plain function found there is made an experiment with default settings.

    source: the file to load when the reference's module is not importable (worker processes get it).
    name, version: the experiment sought in that module (an experiment made of the referenced function under
        another variable's name, `tiny = experiment(train, name="tiny")`, is found by them).

    Raises:
        ValueError: a file or module that does not exist or fails to import (its error's last line), or no such
            function in it.
    """
    if not is_reference(ref):
        raise _check.fail("experiment", "reference", "'path/to/file.py:function' or 'package.module:function'", ref)
    where = ref.rsplit(":", 1)[0]
    module = _import(where, source)
    for value in list(vars(module).values()) if name is not None else ():
        if isinstance(value, Experiment) and (value.name, value.version) == (name, version):
            return value
    attr = ref.rsplit(":", 1)[1]
    if not hasattr(module, attr):
        raise ValueError(f"experiment {ref!r}: {where} has no {attr!r}")
    found = getattr(module, attr)
    if isinstance(found, Experiment):
        return found
    if not callable(found):
        raise ValueError(f"experiment {ref!r}: {attr} is not a function (it is {type(found).__name__})")
    return experiment(found)


def _import(where: str, source: str | None) -> Any:
    path = Path(where) if where.endswith(".py") else None
    if path is None and source is not None and importlib.util.find_spec(where.split(".")[0]) is None:
        path = Path(source)
    if path is None:
        try:
            return importlib.import_module(where)
        except Exception as exc:
            raise ValueError(f"experiment module {where!r} failed to import: {_last_line(exc)}") from None
    if not path.is_file():
        raise ValueError(f"experiment file {str(path)!r} does not exist")
    resolved = str(path.resolve())
    for module in list(sys.modules.values()):  # loaded already (this process, or a worker's second plan)
        if getattr(module, "__file__", None) and str(Path(module.__file__).resolve()) == resolved:
            if module.__name__ not in ("__main__", "__mp_main__"):
                return module
    modname = f"lrlab_experiment_{path.stem}"
    spec = importlib.util.spec_from_file_location(modname, resolved)
    if spec is None or spec.loader is None:
        raise ValueError(f"experiment file {str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    if str(path.resolve().parent) not in sys.path:  # its own imports of modules beside it
        sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[modname]
        raise ValueError(f"experiment file {str(path)!r} failed to import: {_last_line(exc)}") from None
    return module


def _last_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def signature_ok(fn: Callable[..., Any]) -> bool:
    """Whether fn can be called with one positional argument (the run)."""
    try:
        inspect.signature(fn).bind(object())
        return True
    except (TypeError, ValueError):
        return False
