"""What the framework helpers of tests/lab/test_frameworks_fn.py share: the data (256 samples of 8 features, the
label is whether x0 + x1 > 0; 192 to train in batches of 32, so 6 updates per epoch, 64 to validate), what each
run records for the tests to check, and the failure the tests ask for."""

from __future__ import annotations

import numpy as np

STEPS_PER_EPOCH = 6
EPOCHS = 3
BATCH = 32

SEEN: dict[tuple[str, int], dict[str, list[float]]] = {}
"""Per (label, seed) of the last run trained in this process: what the framework itself used and computed
("rates": the rate of each update read from the optimizer; others per framework)."""


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, x_val, y_val): float32 features, int64 labels; the same for every run (a fixed generator)."""
    rng = np.random.default_rng(123)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x[:192], y[:192], x[192:], y[192:]


def seen(run) -> dict[str, list[float]]:
    """A fresh record for this run (tests read it after the comparison)."""
    SEEN[(run.config["label"], run.seed)] = record = {}
    return record


def maybe_fail(run) -> None:
    """Raise where the comparison asked for it: seed `raise_seed` of the entry `raise_label` (run.options)."""
    if run.seed == run.options.get("raise_seed") and run.config["label"] == run.options.get("raise_label"):
        raise RuntimeError(f"boom on seed {run.seed}")
