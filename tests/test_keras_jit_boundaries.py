"""lrlab.keras.Schedule in a compiled train step (`jit_compile=True`) on the jax and torch backends turns at
exactly the steps s(t) does: the rate each update used, read back from a weight whose gradient is 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lrlab

pytest.importorskip("keras")
SRC = str(Path(lrlab.__file__).resolve().parents[1])
STEPS = 200
# lengths whose first boundary float32 misses as t * (1 / n): 41, 47, 55, 61, 82, 97 (k * n lands one short)
SPECS = [
    "step_decay(0.1, drop=0.5, step_size=41)",
    "exponential(0.1, 47, 0.5, staircase=True)",
    "per_epoch(exponential(0.1, 1, 0.5), 55)",
    "cosine_restarts(0.1, 61, t_mul=1.0)",
    "polynomial(0.1, 82, end_lr=0.01, cycle=True)",
    "inverse_time(0.1, 97, 1.0, staircase=True)",
]
TORCH_SPECS = SPECS[:1]  # torch.compile of a train step is slow; torch turned exactly before the fix too


SCRIPT = r"""
import json, sys
import numpy as np
import keras
import lrlab
from lrlab.keras import Schedule

steps, specs = int(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for spec in specs:
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=Schedule(spec)),
        loss=lambda y, p: keras.ops.mean(p),  # d loss / d w = x = 1: each update subtracts the rate it used
        jit_compile=True,
    )
    weights = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            weights.append(float(keras.ops.convert_to_numpy(self.model.layers[0].kernel)[0, 0]))

    record = Record()
    x = np.ones((steps, 1), dtype="float32")
    model.fit(x, x, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    used = -np.diff(np.concatenate([[0.0], weights]))
    out[spec] = used.tolist()
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_compiled_train_step_turns_at_the_boundaries(backend):
    if backend == "jax":
        pytest.importorskip("jax")
    specs = SPECS if backend == "jax" else TORCH_SPECS
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(STEPS), json.dumps(specs)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": SRC},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    used = json.loads(proc.stdout.strip().splitlines()[-1])
    for spec in specs:
        s = lrlab.parse(spec)
        want = [s(t) for t in range(STEPS)]
        got = used[spec]
        # the weight is float32 and sums the rates: each read-back rate is good to ~1e-5 of the largest
        bad = [t for t in range(STEPS) if abs(got[t] - want[t]) > 1e-3 * want[t] + 2e-5]
        assert not bad, f"{backend} {spec}: step {bad[0]} used {got[bad[0]]!r}, s(t) = {want[bad[0]]!r}"


def test_giant_lengths_on_the_jax_backend_without_x64():
    """optax's giant-step case through lrlab.keras.Schedule under jax.jit in float32: no int32 overflow."""
    pytest.importorskip("jax")
    code = (
        "import jax, lrlab\n"
        "from lrlab.keras import Schedule\n"
        "s = Schedule(lrlab.cosine(1000, decay_steps=10**10))\n"
        "print(float(jax.jit(s.__call__)(10**9)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": SRC},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(975.5282581475767, rel=1e-6)
