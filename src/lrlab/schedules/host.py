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
    """A rate drawn uniformly from [low, high) at each step, the same for the same (seed, step).

    For random-search style baselines and for testing code against an erratic schedule. The draw is a hash of
    the step, not a generator's state, so any step can be evaluated alone, in any order, and gives the same rate
    again (restarts and checkpoints need nothing saved). Host only (Python floats and numpy): the hash needs
    64-bit integer arithmetic.

    Formula, at optimizer step t, with splitmix64 the SplitMix64 finalizer on 64-bit integers:

        lr(t) = low + (high - low) * (splitmix64(splitmix64(seed) ^ t) >> 11) * 2**-53

    Args:
        low: the smallest rate (>= 0).
        high: the bound the rates stay below (>= low; high == low gives that constant rate).
        seed: the stream's seed (an integer in [0, 2**64 - 1]); different seeds give unrelated streams.

    Reference:
        No library counterpart: lrlab's own. Its values are tested to be deterministic per (seed, step), in
        [low, high), the same as scalars and arrays, and uniform to within 10% per tenth of the range over
        20000 steps (tests/schedules/test_sched_values.py, test_random_uniform_is_deterministic_bounded_and_seeded).

    Examples:
        >>> from lrlab import random_uniform
        >>> s = random_uniform(0.01, 0.1, seed=3)
        >>> round(s(0), 6), round(s(1), 6), s(0) == random_uniform(0.01, 0.1, seed=3)(0)
        (0.076377, 0.093074, True)
    """

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
    checkpoint or a `.keras` file could otherwise call `os:_exit` with the step). Use it as a call,
    `register_function(fn, name=...)`, or as a decorator, bare or with a name. Registering a name again
    replaces its function (a module reloaded).

    Args:
        fn: the function step -> rate (a hashable callable, not a class or a Schedule); None when used as
            `@register_function(name=...)`.
        name: the name a spec or config uses (letters, digits and _ . : < > -); None takes
            "module:qualname" of fn.

    Returns:
        fn itself (or, when fn is None, a decorator that registers and returns its function).

    Raises:
        ValueError: fn is not a hashable function, or name is not a valid name.

    Examples:
        >>> import lrlab
        >>> def halve(t):
        ...     return 0.1 * 0.5 ** (t // 10)
        >>> lrlab.register_function(halve, name="docs:halve") is halve
        True
        >>> lrlab.parse('custom("docs:halve")')(25)
        0.025
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
    """The function registered under `name` by `register_function`.

    This is how `custom("name")` (and so a spec, a config or a checkpoint) finds its function: by the registry
    only, never by importing the module a name mentions.

    Args:
        name: the registered name, e.g. "module:qualname".

    Returns:
        The function registered under that name.

    Raises:
        ValueError: nothing is registered under name; the message names it and says how to register it.

    Examples:
        >>> import lrlab
        >>> from lrlab.schedules.host import registered_function
        >>> def warm(t):
        ...     return min(0.1, 0.01 * (t + 1))
        >>> lrlab.register_function(warm, name="docs:warm") is warm
        True
        >>> registered_function("docs:warm")(3)
        0.04
    """
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
    """Any Python function step -> rate as a schedule, like torch's LambdaLR.

    For a rule no kind expresses. `custom(fn)` works in-process with any function; a spec, config or
    checkpoint names it, `custom("name")`, only once the program registered it with `lrlab.register_function`
    (its repr and config then carry the name; an unregistered function's `to_config` raises ValueError).
    Host only: fn is called on Python ints, once per step, also for arrays of steps.

    Formula, at optimizer step t:

        lr(t) = float(fn(t))      (fn must return a finite number >= 0, else ValueError)

    Args:
        fn: the function, called with the optimizer step (an int) and returning the rate; or the name of a
            registered function.

    Reference:
        Like torch's `LambdaLR`, except that fn returns the rate itself, not a factor of the optimizer's base
        rate (LambdaLR with base rate 1.0 gives the same values). No parity test: the values are fn's own,
        tested in tests/schedules/test_sched_values.py (test_custom_with_a_registered_function_round_trips).

    Examples:
        >>> import lrlab
        >>> import numpy as np
        >>> s = lrlab.custom(lambda t: 0.1 / (1 + t))
        >>> s(9), s(np.array([0, 1])).tolist()
        (0.01, [0.1, 0.05])
        >>> def halve(t):
        ...     return 0.1 * 0.5 ** (t // 10)
        >>> lrlab.custom(lrlab.register_function(halve, name="docs:halve"))
        custom("docs:halve")
    """

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
