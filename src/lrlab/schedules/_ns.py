"""Array namespaces: the handful of operations a schedule formula may use.

Every schedule writes its formula once against a `Namespace`. The same formula then runs on Python
floats (the fast scalar path), on numpy arrays, and, through the adapters, on jax.numpy, torch and
keras.ops tensors. A formula may also use `+ - * /` and comparisons, which every backend has; a power is
`xp.pow(a, b)`, so that numpy can be given libm's.

numpy's exp, log, cos and power on arrays are not always the C library's that Python's floats use: on CPUs
with AVX-512, numpy calls SVML, which differs from glibc in the last bit for a few percent of arguments. The
numpy namespace checks this once, on import (`NUMPY_IS_LIBM`), and where they differ it computes those four
functions with Python's math module element by element (slower), so that s(array) equals s(t) one by one
bit for bit on every CPU.

A formula that floors (or ceils) a quotient of steps calls `xp.floordiv(t, n)` (`xp.ceildiv(t, n)`), never
`xp.floor(t / n)`: a compiler may compute `t / n` as `t * (1 / n)` (XLA does under `jax.jit`), one ulp
short of k exactly at t = k * n, and the floor then lands one step late. `floordiv` corrects the floor by
one where q * n > t or (q + 1) * n <= t, so it is exact for whole-number steps on every backend (below
2**53 in float64, 2**24 in float32).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Namespace:
    """The operations a formula may call, for one array library."""

    name: str
    cos: Callable[[Any], Any]
    exp: Callable[[Any], Any]
    log: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    floor: Callable[[Any], Any]
    ceil: Callable[[Any], Any]
    minimum: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    where: Callable[[Any, Any, Any], Any]
    pow: Callable[[Any, Any], Any] = operator.pow
    """a ** b (the array library's own power, unless the namespace is given another)."""
    floordiv: Callable[[Any, Any], Any] = field(default=None)  # type: ignore[assignment]
    """floor(t / n), exact for whole numbers; built from `floor` and `where` when not given."""
    ceildiv: Callable[[Any, Any], Any] = field(default=None)  # type: ignore[assignment]
    """ceil(t / n), exact for whole numbers; built from `floordiv` and `where` when not given."""

    def __post_init__(self) -> None:
        if self.floordiv is None:
            object.__setattr__(self, "floordiv", exact_floordiv(self.floor, self.where))
        if self.ceildiv is None:
            object.__setattr__(self, "ceildiv", exact_ceildiv(self.floordiv, self.where))


def exact_floordiv(floor: Callable[[Any], Any], where: Callable[[Any, Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """floor(t / n) for an array library, corrected by one where the rounded quotient crossed a whole number.

    q * n and (q + 1) * n are exact for whole numbers below the float's integer limit, so the corrected q
    is the true floor whatever `t / n` rounded to (the reciprocal multiply of XLA included).
    """

    def floordiv(t: Any, n: Any) -> Any:
        q = floor(t / n)
        q = where(q * n > t, q - 1.0, q)
        return where((q + 1.0) * n <= t, q + 1.0, q)

    return floordiv


def exact_ceildiv(
    floordiv: Callable[[Any, Any], Any], where: Callable[[Any, Any, Any], Any]
) -> Callable[[Any, Any], Any]:
    """ceil(t / n) from an exact floordiv: the floor, plus one where n does not divide t."""

    def ceildiv(t: Any, n: Any) -> Any:
        q = floordiv(t, n)
        return where(q * n < t, q + 1.0, q)

    return ceildiv


def _py_where(cond: Any, a: Any, b: Any) -> Any:
    return a if cond else b


def _py_floor(x: float) -> float:
    return float(math.floor(x))


def _py_ceil(x: float) -> float:
    return float(math.ceil(x))


def _py_floordiv(t: Any, n: Any) -> float:
    """floor(t / n) as a float: exact integer division for ints, a corrected floor otherwise."""
    if t.__class__ is int and n.__class__ is int:
        return float(t // n)
    q = math.floor(t / n)
    if q * n > t:
        q -= 1
    elif (q + 1) * n <= t:
        q += 1
    return float(q)


def _py_ceildiv(t: Any, n: Any) -> float:
    """ceil(t / n) as a float, exact like `_py_floordiv`."""
    if t.__class__ is int and n.__class__ is int:
        return float(-(-t // n))
    q = _py_floordiv(t, n)
    return q + 1.0 if q * n < t else q


SCALAR = Namespace(
    name="python",
    cos=math.cos,
    exp=math.exp,
    log=math.log,
    sqrt=math.sqrt,
    floor=_py_floor,
    ceil=_py_ceil,
    minimum=min,
    maximum=max,
    where=_py_where,
    floordiv=_py_floordiv,
    ceildiv=_py_ceildiv,
)


def _libm(fn: Callable[..., float], ufunc: np.ufunc) -> Callable[..., np.ndarray]:
    """`fn` from Python's math module, element by element over arrays; where math raises (an overflow, a log of
    zero, a negative base), numpy's own value for that element (inf, -inf, nan), as numpy would give."""

    def one(*args: float) -> float:
        try:
            return fn(*args)
        except (OverflowError, ValueError):
            with np.errstate(all="ignore"):
                return float(ufunc(*args))

    elementwise = np.frompyfunc(one, ufunc.nin, 1)

    def call(*args: Any) -> np.ndarray:
        return np.asarray(elementwise(*args), dtype=np.float64)

    return call


_PROBE = np.random.default_rng(0)
_X, _Y = _PROBE.uniform(-60.0, 60.0, 2048), _PROBE.uniform(1e-3, 3.0, 2048)


def _agrees(ufunc: np.ufunc, fn: Callable[..., float], *args: np.ndarray) -> bool:
    """Whether numpy's `ufunc` gives Python's `fn` on the 2048 probe arguments."""
    return bool(np.array_equal(ufunc(*args), [fn(*a) for a in zip(*args)]))


def _as_libm(ufunc: np.ufunc, fn: Callable[..., float], *args: np.ndarray) -> Callable[..., Any]:
    """numpy's `ufunc` where it agrees with `fn` on this CPU, else `fn` element by element."""
    return ufunc if _agrees(ufunc, fn, *args) else _libm(fn, ufunc)


_COS, _EXP, _LOG = _as_libm(np.cos, math.cos, _X), _as_libm(np.exp, math.exp, _X), _as_libm(np.log, math.log, _Y)
_POW = _as_libm(np.power, math.pow, _Y, _X)

NUMPY_IS_LIBM: bool = all(f is u for f, u in [(_COS, np.cos), (_EXP, np.exp), (_LOG, np.log), (_POW, np.power)])
"""True where numpy's own exp, log, cos and power give Python's values on this CPU (then the numpy namespace
uses them all; otherwise those that differ are computed element by element with the math module)."""

NUMPY = Namespace(
    name="numpy",
    cos=_COS,
    exp=_EXP,
    log=_LOG,
    pow=_POW,
    sqrt=np.sqrt,
    floor=np.floor,
    ceil=np.ceil,
    minimum=np.minimum,
    maximum=np.maximum,
    where=np.where,
)
