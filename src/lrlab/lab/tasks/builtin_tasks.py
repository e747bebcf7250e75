"""The built-in tasks: the seeds' problems (line, or3, quantiles, mnist) and two real benchmarks that run
offline (digits, mnist1d). Each is registered by name; `lrlab.lab.get_task(name, **options)` builds it.

Data does not depend on the run's seed (fixed splits): the seed only changes the model's initialisation
(and the trainer's shuffling), so runs with different seeds compare the same problem. The seeds' Keras
models (or3, quantiles, mnist) start like Keras's Dense layers (Glorot-uniform weights, zero biases);
digits and mnist1d use torch's default initialisation.

| task | data (train/val/test) | x | y | model | loss | defaults |
|---|---|---|---|---|---|---|
| line | 30/30/30 (the same points) | (n, 1) f64 | (n, 1) f64 | a*x, one weight | mse | sgd 0.025, full batch, 50 ep |
| or3 | 8/8/8 (the same rows) | (n, 3) f32 | (n, 1) f32 | Linear(3, 1) | bce | sgd 0.1, full batch, 500 ep |
| quantiles | 1120/280/600 | (n, 2) f32 | (n, 1) f32 | 2-10-1 ReLU | bce | adam 0.005, batch 100, 50 ep |
| digits | 1149/288/360 | (n, 64) f32 | (n,) i64 | 64-64-10 ReLU | ce | sgd 0.05, batch 32, 30 ep |
| mnist1d | 3200/800/1000 | (n, 40) f32 | (n,) i64 | 40-100-100-10 ReLU | ce | adam 0.01, batch 100, 30 ep |
| mnist1d_cnn | as mnist1d | (n, 40) f32 | (n,) i64 | 3 conv1d + linear | ce | adam 0.01, batch 100, 30 ep |
| mnist | 50000/10000/10000 | (n, 784) f32 | (n,) i64 | 784-128-10 ReLU | ce | sgd 0.1, batch 32, 15 ep |
| mnist_softmax | as mnist | (n, 784) f32 | (n,) i64 | 784-10 | ce | sgd 0.1, batch 32, 15 ep |
| tinylm | 1600/256/256 windows | (n, 64) i64 | (n, 64) i64 | byte transformer | lm | adamw 0.003, batch 32, 12 ep |

tinylm (lab/tinylm.py): 64-byte windows of Python's standard-library sources (or of a file: text=PATH), the next
byte at every position; a 2-layer, width-64 transformer. Options: text, context, width, layers, heads,
train_windows, eval_windows.
"""

from __future__ import annotations

import os
import random
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from . import mnist as _mnist
from .models import conv1d_net, mlp, slope
from .task import Data, Split, Task, register_builtin
from .tinylm import tinylm as _tinylm

# ----------------------------------------------------------------------------------------------------- line

# The 30 points of the first seed (also in ../shared/data/line.csv): x from 0 to 10, y roughly 2x plus noise.
LINE_X = np.array([
    0.0, 0.34482759, 0.68965517, 1.03448276, 1.37931034, 1.72413793, 2.06896552, 2.4137931, 2.75862069,
    3.10344828, 3.44827586, 3.79310345, 4.13793103, 4.48275862, 4.82758621, 5.17241379, 5.51724138,
    5.86206897, 6.20689655, 6.55172414, 6.89655172, 7.24137931, 7.5862069, 7.93103448, 8.27586207,
    8.62068966, 8.96551724, 9.31034483, 9.65517241, 10.0,
])  # fmt: skip
LINE_Y = np.array([
    -0.16281253, 1.88707606, 0.39649312, 0.03857752, 4.0148778, 0.58866234, 3.35711859, 1.94314906,
    6.96106424, 5.89792585, 8.47226615, 3.67698542, 12.05958678, 9.85234481, 9.82181679, 6.07652248,
    14.17536744, 12.67825433, 12.97499286, 11.76098542, 12.7843083, 16.42241036, 13.67913705, 15.55066478,
    17.45979602, 16.41982806, 17.01977617, 20.28151197, 19.38148414, 19.41029831,
])  # fmt: skip
LINE_A0 = random.Random(45).random()  # the first seed's starting slope, 0.2719...


def _load_line(seed: int) -> Data:
    """x, y: float64 (30, 1). Train = val = test = the same 30 points: the seed fits them all, and the
    validation loss after epoch i is the seed's printed error after update i."""
    split = Split(LINE_X.reshape(-1, 1).copy(), LINE_Y.reshape(-1, 1).copy())
    return Data(split, split, split)


def _line_model(seed: int) -> object:
    """One weight, no bias, float64, starting at random.Random(45).random() whatever the seed (the
    problem is deterministic, as in the seed)."""
    return slope(LINE_A0, "float64")


@register_builtin
def line() -> Task:
    return Task(
        name="line",
        description="first seed: fit y = a*x to 30 points by full-batch gradient descent on one weight",
        loss="mse", load=_load_line, model=_line_model,
        epochs=50, batch_size=None, optimizer="sgd", lr=0.025, dtype="float64",
    )


# ------------------------------------------------------------------------------------------------------ or3


def _load_or3(seed: int) -> Data:
    """x: float32 (8, 3), all 0/1 input triples; y: float32 (8, 1), their OR. Train = val = test."""
    x = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=np.float32)
    y = x.max(axis=1, keepdims=True)
    split = Split(x, y)
    return Data(split, split, split)


@register_builtin
def or3() -> Task:
    return Task(
        name="or3",
        description="second seed: the 3-input OR gate, one sigmoid unit, binary cross-entropy",
        loss="bce", load=_load_or3, model=partial(mlp, (3, 1), init="keras"),
        epochs=500, batch_size=None, optimizer="sgd", lr=0.1,
    )


# ------------------------------------------------------------------------------------------------ quantiles


def _load_quantiles(seed: int) -> Data:
    """make_gaussian_quantiles(2000, 2 features, 2 classes, cov=0.1, random_state=3) as in the fourth seed,
    split like it (test 30%, then val 20% of the rest) with a fixed random_state: 1120/280/600.
    x: float32 (n, 2); y: float32 (n, 1) in {0, 1}."""
    from sklearn.datasets import make_gaussian_quantiles
    from sklearn.model_selection import train_test_split

    x, y = make_gaussian_quantiles(n_samples=2000, n_features=2, n_classes=2, cov=0.1, random_state=3)
    x = x.astype(np.float32)
    y = y.astype(np.float32).reshape(-1, 1)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.3, shuffle=True, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, shuffle=True, random_state=0)
    return Data(Split(x_train, y_train), Split(x_val, y_val), Split(x_test, y_test))


@register_builtin
def quantiles() -> Task:
    return Task(
        name="quantiles",
        description="fourth seed: two Gaussian-quantile classes in 2-D, a 2-10-1 ReLU net (the seed uses "
        "batch 100, and 50 for its plateau run)",
        loss="bce", load=_load_quantiles, model=partial(mlp, (2, 10, 1), init="keras"),
        epochs=50, batch_size=100, optimizer="adam", lr=0.005,
    )


# --------------------------------------------------------------------------------------------------- digits


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every feature to zero mean, unit variance on the training split (constant features stay 0)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return [((a - mean) / std).astype(np.float32) for a in (train, *others)]


def _load_digits(seed: int) -> Data:
    """scikit-learn's 8x8 handwritten digits (1797 real images shipped with scikit-learn), standardised on
    the training split, stratified fixed split 1149/288/360. x: float32 (n, 64); y: int64 (n,) in 0..9."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    y = y.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=0
    )
    x_train, x_val, x_test = _standardise(x_train, x_val, x_test)
    return Data(Split(x_train, y_train), Split(x_val, y_val), Split(x_test, y_test))


@register_builtin
def digits() -> Task:
    return Task(
        name="digits",
        description="scikit-learn's 8x8 handwritten digits (real, offline), MLP 64-64-10",
        loss="ce", load=_load_digits, model=partial(mlp, (64, 64, 10)),
        epochs=30, batch_size=32, optimizer="sgd", lr=0.05,
    )


# -------------------------------------------------------------------------------------------------- mnist1d


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    """MNIST-1D generated locally by the `mnist1d` package with its default arguments (seed 42, 4000 train
    and 1000 test sequences of length 40), never downloaded; cached under the data dir as an .npz."""
    path = _mnist.data_root() / "mnist1d" / "mnist1d_default.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:  # a cached file is data: an object array is refused
                arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):  # unreadable or foreign file: generate it again
            arrays = {}
        if arrays and arrays["x"].shape == (4000, 40) and arrays["x_test"].shape == (1000, 40):
            return arrays
    arrays = _generate_mnist1d()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
    return arrays


def _generate_mnist1d() -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(f"the mnist1d task needs the `mnist1d` package (pip install mnist1d): {exc}") from None
    # make_dataset reseeds the global `random` and numpy RNGs: keep the caller's streams untouched
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {
        "x": np.asarray(d["x"], dtype=np.float32), "y": np.asarray(d["y"], dtype=np.int64),
        "x_test": np.asarray(d["x_test"], dtype=np.float32), "y_test": np.asarray(d["y_test"], dtype=np.int64),
    }


def _load_mnist1d(seed: int) -> Data:
    """x: float32 (n, 40); y: int64 (n,) in 0..9. The package's 4000 training sequences split 3200/800
    into train/val (they are already shuffled), and its 1000 test sequences."""
    a = _mnist1d_arrays()
    n_train = 3200
    return Data(
        Split(a["x"][:n_train], a["y"][:n_train]),
        Split(a["x"][n_train:], a["y"][n_train:]),
        Split(a["x_test"], a["y_test"]),
    )


@register_builtin
def mnist1d() -> Task:
    return Task(
        name="mnist1d",
        description="MNIST-1D (generated locally by the mnist1d package), MLP 40-100-100-10",
        loss="ce", load=_load_mnist1d, model=partial(mlp, (40, 100, 100, 10)),
        epochs=30, batch_size=100, optimizer="adam", lr=0.01,
    )


@register_builtin
def mnist1d_cnn() -> Task:
    return Task(
        name="mnist1d_cnn",
        description="MNIST-1D (generated locally by the mnist1d package), a small 1-D CNN",
        loss="ce", load=_load_mnist1d, model=conv1d_net,
        epochs=30, batch_size=100, optimizer="adam", lr=0.01,
    )


# ---------------------------------------------------------------------------------------------------- mnist


def _load_mnist(seed: int, *, data_dir: str | None, cache: str | None, download: bool) -> Data:
    """x: float32 (n, 784) in [0, 1]; y: int64 (n,). The last sixth of the 60000 training images
    (10000) is the validation split; the 10000 test images are the test split."""
    x_train, y_train, x_test, y_test = _mnist.load(data_dir, cache=cache, download=download)

    def flat(x: np.ndarray) -> np.ndarray:
        return (x.reshape(len(x), -1) / np.float32(255.0)).astype(np.float32)

    n_val = len(x_train) // 6
    n_fit = len(x_train) - n_val
    y_train = y_train.astype(np.int64)
    return Data(
        Split(flat(x_train[:n_fit]), y_train[:n_fit]),
        Split(flat(x_train[n_fit:]), y_train[n_fit:]),
        Split(flat(x_test), y_test.astype(np.int64)),
    )


def _mnist_task(name: str, description: str, sizes: tuple[int, ...], data_dir: str | Path | None,
                cache: str | Path | None, download: bool) -> Task:
    options = {"data_dir": None if data_dir is None else str(data_dir),
               "cache": None if cache is None else str(cache), "download": bool(download)}
    return Task(
        name=name, description=description, loss="ce",
        load=partial(_load_mnist, **options), model=partial(mlp, sizes, init="keras"),
        epochs=15, batch_size=32, optimizer="sgd", lr=0.1, options=options,
    )


@register_builtin
def mnist(data_dir: str | Path | None = None, cache: str | Path | None = None, download: bool = True) -> Task:
    """data_dir: a local copy of the four IDX files; else the cache dir ($LRLAB_DATA_DIR/mnist or
    ~/.cache/lrlab/mnist), downloading once unless download=False."""
    return _mnist_task("mnist", "third seed: MNIST, MLP 784-128-10 ReLU", (784, 128, 10),
                       data_dir, cache, download)


@register_builtin
def mnist_softmax(data_dir: str | Path | None = None, cache: str | Path | None = None,
                  download: bool = True) -> Task:
    """Softmax regression on MNIST (one linear layer 784-10); options as for `mnist`."""
    return _mnist_task("mnist_softmax", "MNIST, softmax regression 784-10", (784, 10), data_dir, cache, download)


# --------------------------------------------------------------------------------------------------- tinylm


@register_builtin
def tinylm(text: str | Path | None = None, context: int = 64, width: int = 64, layers: int = 2, heads: int = 4,
           train_windows: int = 1600, eval_windows: int = 256) -> Task:
    """A byte-level transformer language model on Python's standard-library sources, or on `text` (a file);
    see lrlab.lab.tasks.tinylm."""
    return _tinylm(text, context=context, width=width, layers=layers, heads=heads, train_windows=train_windows,
                   eval_windows=eval_windows)
