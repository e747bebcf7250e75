"""The numpy namespace gives Python's math values (libm's) for exp, log, cos and power on every CPU.

numpy's own loops differ from libm in the last bit on CPUs with AVX-512 (SVML); there the namespace computes
those functions with the math module element by element. Both paths are checked here, whichever this CPU takes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab.schedules import _ns

RNG = np.random.default_rng(1)
X = RNG.uniform(-700.0, 700.0, 20_000)
Y = RNG.uniform(1e-6, 5.0, 20_000)


@pytest.mark.parametrize("name", ["exp", "log", "cos", "pow"])
def test_the_numpy_namespace_equals_math(name):
    fn, args = {"exp": (math.exp, (X,)), "log": (math.log, (Y,)), "cos": (math.cos, (X,)),
                "pow": (math.pow, (Y, X / 20.0))}[name]
    got = getattr(_ns.NUMPY, name)(*args)
    want = np.array([fn(*a) for a in zip(*args)])
    assert got.dtype == np.float64 and got.shape == want.shape
    assert np.array_equal(got, want), f"{name}: {(got != want).sum()} of {len(want)} differ"


def test_the_elementwise_path_gives_numpys_value_where_math_raises():
    pow_, exp, log, cos = (_ns._libm(math.pow, np.power), _ns._libm(math.exp, np.exp), _ns._libm(math.log, np.log),
                           _ns._libm(math.cos, np.cos))
    np.testing.assert_array_equal(pow_(np.array([2.0, 0.0, -2.0, 1.5]), np.array([2000.0, -1.0, 0.5, 41.0])),
                                  [math.inf, math.inf, math.nan, math.pow(1.5, 41.0)])
    np.testing.assert_array_equal(exp(np.array([1000.0, -1000.0, 1.0])), [math.inf, 0.0, math.e])
    np.testing.assert_array_equal(log(np.array([0.0, -1.0, math.e])), [-math.inf, math.nan, 1.0])
    np.testing.assert_array_equal(cos(np.array([math.inf, 0.0])), [math.nan, 1.0])
    assert pow_(0.5, np.arange(3.0)).tolist() == [1.0, 0.5, 0.25]  # a float and an array broadcast


def test_the_probe_tells_which_path_is_taken():
    native = [getattr(_ns.NUMPY, name) is ufunc for name, ufunc in
              [("cos", np.cos), ("exp", np.exp), ("log", np.log), ("pow", np.power)]]
    assert _ns.NUMPY_IS_LIBM == all(native)
    assert (_ns.NUMPY.pow is np.power) == _ns._agrees(np.power, math.pow, _ns._Y, _ns._X)
