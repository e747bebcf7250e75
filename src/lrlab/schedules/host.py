"""Schedules computed on the host only: a deterministic pseudo-random rate, and any Python function.

Their formulas need integer hashing or arbitrary Python, so they run on Python floats and numpy only;
the adapters call them back on the host (jax.pure_callback, eager torch/keras). A function is named in
text (a spec, a config, a checkpoint) only if the program registered it (`register_function`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar, overload

import numpy as np

from .. import _check as check
from ._ns import Namespace
from .base import Schedule

F = TypeVar("F", bound=Callable[..., Any])

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _splitmix64(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK
    return z ^ (z >> 31)


def _splitmix64_array(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


class random_uniform(Schedule):
    kind = "random_uniform"
    summary = "a rate drawn uniformly from [low, high) at each step, the same for the same (seed, step)"
    host_only = True

    def __init__(self, low: float, high: float, seed: int = 0) -> None:
        k = self.kind
        low, high = check.rate(k, "low", low), check.rate(k, "high", high)
        if high < low:
            raise ValueError(f"{k}: high must be >= low ({low!r}), got {high!r}")
        # only the seed's low 64 bits reach the hash: a larger one would alias a smaller one
        self._set(low=low, high=high, seed=check.whole(k, "seed", seed, 0, 2**64 - 1))
        object.__setattr__(self, "_key_seed", _splitmix64(self.seed))

    def apply(self, xp: Namespace, t: Any) -> Any:
        if xp.name == "python":
            bits = _splitmix64(self._key_seed ^ int(t))
            return self.low + (self.high - self.low) * ((bits >> 11) * 2.0**-53)
        if xp.name == "numpy":
            steps = np.asarray(t, dtype=np.float64).astype(np.uint64)
            with np.errstate(over="ignore"):
                bits = _splitmix64_array(np.uint64(self._key_seed) ^ steps)
            return self.low + (self.high - self.low) * ((bits >> np.uint64(11)).astype(np.float64) * 2.0**-53)
        raise ValueError(f"{self.kind} runs on the host only, not on {xp.name}")


_REGISTRY: dict[str, Callable[[int], float]] = {}
"""Functions a spec, a config or a checkpoint may name, by name: only those the program registered."""
_NAMES: dict[Any, str] = {}
"""The registered name of each registered function."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:<>\-]*")

_HOW = (
    "register it in the program that reads it, before reading: lrlab.register_function(fn) "
    '(or the decorator @lrlab.register_function, or @lrlab.register_function(name="..."))'
)


@overload
def register_function(fn: F, name: str | None = None) -> F: ...


@overload
def register_function(fn: None = None, name: str | None = None) -> Callable[[F], F]: ...


def register_function(fn: Any = None, name: str | None = None) -> Any:
    """Allow `fn` to be named in specs, configs and checkpoints (`custom("name")`), as Keras's
    `register_keras_serializable` does for objects; returns `fn` unchanged.

    Data never picks a function of its own: only a registered one (a spec, a config, a `torch.load`
    checkpoint or a `.keras` file could otherwise call `os:_exit` with the step). The name defaults to
    "module:qualname". Use it as a call, `register_function(fn, name=...)`, or as a decorator, bare or with
    a name. Registering a name again replaces its function (a module reloaded).
    """
    if fn is None:
        return lambda f: register_function(f, name)
    try:
        usable = callable(fn) and not isinstance(fn, (type, Schedule)) and isinstance(hash(fn), int)
    except TypeError:  # an unhashable callable cannot be looked up by its name
        usable = False
    if not usable:
        raise check.fail("register_function", "fn", "a (hashable) function step -> rate", fn)
    if name is None:
        module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise check.fail("register_function", "fn", "a function with a __module__ and __qualname__ (or name=)", fn)
        name = f"{module}:{qualname}"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise check.fail("register_function", "name", "a name of letters, digits and _ . : < > -", name)
    old = _REGISTRY.get(name)
    if old is not None and _NAMES.get(old) == name:
        del _NAMES[old]
    _REGISTRY[name] = fn
    _NAMES[fn] = name
    return fn


def registered_function(name: str) -> Callable[[int], float]:
    """The function registered under `name`; a ValueError naming it and saying how to register it otherwise."""
    fn = _REGISTRY.get(name) if isinstance(name, str) else None
    if fn is None:
        raise ValueError(f"custom: fn {check.shown(name)} is not a registered function; {_HOW}")
    return fn


def _registered_name(fn: Any) -> str | None:
    try:
        return _NAMES.get(fn)
    except TypeError:  # an unhashable callable is never registered
        return None


class custom(Schedule):
    """Any function step -> rate, like torch's LambdaLR. `custom(fn)` works in-process with any function; a
    spec, config or checkpoint names it, `custom("name")`, only once the program registered it with
    `lrlab.register_function` (its repr and config then carry the name)."""

    kind = "custom"
    summary = 'any function step -> rate (like LambdaLR); saved by name once lrlab.register_function(fn) is called'
    host_only = True

    def __init__(self, fn: Callable[[int], float] | str) -> None:
        if isinstance(fn, str):
            ref, func = fn, registered_function(fn)
        elif callable(fn) and not isinstance(fn, (type, Schedule)):
            ref, func = _registered_name(fn), fn
        else:
            raise check.fail("custom", "fn", "a function or the name of a registered one", fn)
        self._set(fn=ref if ref is not None else func)
        object.__setattr__(self, "_func", func)

    def _value(self, step: int) -> float:
        try:
            value = self._func(step)
        except Exception as exc:  # the user's function: report it as a bad schedule, not a deep traceback
            raise ValueError(f"custom: fn({step}) raised {type(exc).__name__}: {exc}") from exc
        try:
            out = float(value)
        except (TypeError, ValueError):
            out = float("nan")
        if not out >= 0 or out == float("inf"):
            raise ValueError(f"custom: fn({step}) must return a finite number >= 0, got {value!r}")
        return out

    def apply(self, xp: Namespace, t: Any) -> Any:
        if xp.name == "python":
            return self._value(int(t))
        if xp.name == "numpy":
            steps = np.asarray(t, dtype=np.float64)
            flat = [self._value(int(s)) for s in steps.ravel()]
            return np.asarray(flat, dtype=np.float64).reshape(steps.shape)
        raise ValueError(f"{self.kind} runs on the host only, not on {xp.name}")

    def to_config(self) -> dict[str, Any]:
        if not isinstance(self.fn, str):
            raise ValueError(f"custom: fn {check.shown(self.fn)} cannot be saved: it is not registered; {_HOW}")
        return super().to_config()

    def __repr__(self) -> str:
        return f"custom({json.dumps(self.fn)})" if isinstance(self.fn, str) else f"custom({self.fn!r})"
