"""The fourth seed on `quantiles` with Adam, measured with our 2-10-1 ReLU net (the seed's network is cut off).

The seed (Keras, one run each): lr 0.5 -> test accuracy 0.50, 1e-5 -> 0.51, 0.005 -> 0.96 (batch 100,
50 epochs), and ReduceLROnPlateau from 0.05 (factor 0.5, patience 10, min_lr 1e-5, batch 50, 100 epochs) -> 0.99.

What holds here (test accuracy, seeds 0-4; this file runs seeds 0-2; the tasks use Keras-style init):
  1e-5:    0.482 0.487 0.518 0.502 0.532  (mean 0.504)
  0.005:   0.968 0.972 0.970 0.942 0.983  (mean 0.967)
  0.5:     0.985 0.955 0.965 0.937 0.957  (mean 0.960)
  plateau: 0.987 0.995 0.987 0.993 0.990  (mean 0.990; torch's plateau rules give the same figures +-0.002)
- 1e-5 is far worse than 0.005 on every seed (as in the seed);
- the plateau-controlled run does best, on every seed (as in the seed);
- 0.5 is NOT clearly worse than 0.005: within 0.01 on average, better on seed 0. With a ReLU hidden layer,
  Adam at 0.5 trains; the seed's 0.50 does not reproduce.
The plateau run gets 4x the updates (batch 50, 100 epochs), as in the seed; a constant 0.005 with that same
budget reaches 0.983 on average, so the plateau's edge over it is small (0.990 vs 0.983).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from lrlab.lab.engines.train import train  # noqa: E402

SEEDS = (0, 1, 2)
RUNS = {
    "0.5": {"schedule": "constant(0.5)"},
    "1e-5": {"schedule": "constant(1e-5)"},
    "0.005": {"schedule": "constant(0.005)"},
    "plateau": {"schedule": "constant(0.05)", "epochs": 100, "batch_size": 50,
                "plateau": "factor=0.5,patience=10,min_lr=1e-5,convention='keras'"},
}


@pytest.fixture(scope="module")
def accuracy():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {name: np.array([train("quantiles", optimizer="adam", seed=s, **kw).metrics["test_accuracy"]
                               for s in SEEDS]) for name, kw in RUNS.items()}
    finally:
        torch.set_num_threads(before)
    print({k: v.round(4).tolist() for k, v in out.items()})
    return out


def test_task_defaults_are_the_seeds():
    from lrlab.lab import get_task

    task = get_task("quantiles")
    data = task.load(0)
    assert (len(data.train), len(data.val), len(data.test)) == (1120, 280, 600)
    assert task.batch_size == 100 and task.epochs == 50


def test_tiny_rate_is_clearly_worse_on_every_seed(accuracy):
    assert (accuracy["0.005"] - accuracy["1e-5"] > 0.3).all()
    assert (accuracy["1e-5"] < 0.6).all()  # about chance


def test_plateau_run_does_best_on_every_seed(accuracy):
    others = np.stack([accuracy[k] for k in ("0.5", "1e-5", "0.005")])
    assert (accuracy["plateau"] > others.max(axis=0)).all()
    assert (accuracy["plateau"] > 0.98).all()


def test_large_rate_is_not_clearly_worse(accuracy):
    """The seed's finding that does not hold for our network: recorded, so a change shows up."""
    assert abs(accuracy["0.5"].mean() - accuracy["0.005"].mean()) < 0.03
    assert (accuracy["0.5"] > 0.9).all()
    assert accuracy["0.5"][0] > accuracy["0.005"][0]
