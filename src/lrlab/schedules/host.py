"""Schedules computed on the host only: a deterministic pseudo-random rate, and any Python function.

Their formulas need integer hashing or arbitrary Python, so they run on Python floats and numpy only;
the adapters call them back on the host (jax.pure_callback, eager torch/keras).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _check as check
from ._ns import Namespace
from .base import Schedule

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
        self._set(low=low, high=high, seed=check.whole(k, "seed", seed, 0))
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


def _resolve(ref: str) -> Callable[[int], float]:
    """The function a "package.module:function" name refers to, looked up in modules already imported.

    lrlab never imports a module because a spec, a config or a checkpoint names it: importing runs the
    module's code, and a checkpoint loaded with torch.load(weights_only=True) must stay data. The program
    that defines the function imports its module first (or passes the function itself).
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f'custom: fn must be a callable or "package.module:function", got {ref!r}')
    module = sys.modules.get(module_name)
    if module is None:
        raise ValueError(
            f"custom: fn {ref!r} names module {module_name!r}, which is not imported; lrlab looks functions up "
            "only in modules already imported (importing one named in a spec or config would run its code): "
            "import it first, or pass the function itself"
        )
    target: Any = module
    try:
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise ValueError(f"custom: module {module_name!r} has no {attr!r} (fn {ref!r})") from None
    if not callable(target):
        raise ValueError(f"custom: fn {ref!r} is not callable")
    return target


def _reference(fn: Callable[..., Any]) -> str | None:
    """'module:qualname' when that import gives back this very function, else None."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or "<" in qualname:
        return None
    try:
        return f"{module}:{qualname}" if _resolve(f"{module}:{qualname}") is fn else None
    except ValueError:
        return None


class custom(Schedule):
    kind = "custom"
    summary = 'any function step -> rate (like LambdaLR); serialisable as "package.module:function"'
    host_only = True

    def __init__(self, fn: Callable[[int], float] | str) -> None:
        if isinstance(fn, str):
            ref, func = fn, _resolve(fn)
        elif callable(fn):
            ref, func = _reference(fn), fn
        else:
            raise ValueError(f'custom: fn must be a callable or "package.module:function", got {fn!r}')
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
            raise ValueError(
                f"custom: {self.fn!r} cannot be saved; pass an importable function or its "
                '"package.module:function" name'
            )
        return super().to_config()

    def __repr__(self) -> str:
        return f'custom("{self.fn}")' if isinstance(self.fn, str) else f"custom({self.fn!r})"
