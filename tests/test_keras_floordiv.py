"""lrlab.keras.namespace's floordiv and ceildiv: exact for whole numbers and in the namespace's dtype (the
generic ones built from its floor and where)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lrlab.keras import namespace  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_floordiv_and_ceildiv_are_exact(dtype):
    rng = np.random.default_rng(5)
    n = rng.integers(2, 3000, size=200)
    k = rng.integers(1, 5000, size=200)
    t = np.concatenate([k * n - 1, k * n, k * n + 1])
    n = np.concatenate([n, n, n])
    xp = namespace(dtype)
    tt = keras.ops.convert_to_tensor(t.astype(dtype))
    nn = keras.ops.convert_to_tensor(n.astype(dtype))
    q = xp.floordiv(tt, nn)
    c = xp.ceildiv(tt, nn)
    assert keras.backend.standardize_dtype(q.dtype) == dtype
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(q), t // n)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(c), -((-t) // n))
    # a Python length, as the formulas pass it
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(xp.floordiv(tt, 97)), t // 97)
