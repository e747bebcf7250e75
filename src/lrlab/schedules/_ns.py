"""Array namespaces: the handful of operations a schedule formula may use.

Every schedule writes its formula once against a `Namespace`. The same formula then runs on Python
floats (the fast scalar path), on numpy arrays, and, through the adapters, on jax.numpy, torch and
keras.ops tensors. A formula may also use `+ - * / **` and comparisons, which every backend has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
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


def _py_where(cond: Any, a: Any, b: Any) -> Any:
    return a if cond else b


def _py_floor(x: float) -> float:
    return float(math.floor(x))


def _py_ceil(x: float) -> float:
    return float(math.ceil(x))


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
)

NUMPY = Namespace(
    name="numpy",
    cos=np.cos,
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    floor=np.floor,
    ceil=np.ceil,
    minimum=np.minimum,
    maximum=np.maximum,
    where=np.where,
)
