"""The gallery: each seed's experiment reproduced with lrlab's own schedules and trainer, with its pictures.

`run_demo(name, out_dir)` writes the pictures of one demo and returns their paths; `lrlab demo [NAME]` is the
command. Every demo prints what it measured next to what the seed printed, so a reader can compare.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _figure

Say = Callable[[str], Any]

# The first seed's decayed rates: 0.025 for steps 0-4, then /2, /3, /4 every 5 steps (right-inclusive boundaries).
DESCENT_SPECS = ("constant(0.025)", f"piecewise([4, 9, 14], [0.025, 0.0125, {0.025 / 3!r}, 0.00625])")
# What the first seed printed after 10 and 20 updates: (loss, weight).
DESCENT_SEED = {
    DESCENT_SPECS[0]: {10: (3.5332415076132806, 1.945937013155588), 20: (3.463169558318404, 1.990209371273261)},
    DESCENT_SPECS[1]: {10: (3.46312053385814, 1.9914349189821918), 20: (3.4631205160568017, 1.9914120289624948)},
}

# The second seed's Keras schedules, as lrlab specs (one update per epoch: full batch on the 8 rows).
KERAS_SPECS = (
    ("ExponentialDecay staircase", "exponential(0.1, decay_steps=5, decay_rate=0.95, staircase=True)"),
    ("PiecewiseConstantDecay", "piecewise([125, 250, 375], [0.1, 0.075, 0.05, 0.025])"),
    ("PolynomialDecay cycle", "polynomial(0.1, decay_steps=100, end_lr=0.001, power=1.0, cycle=True)"),
    ("InverseTimeDecay staircase", "inverse_time(0.1, decay_steps=50, decay_rate=0.1, staircase=True)"),
    ("CosineDecay", "cosine(0.1, decay_steps=500)"),
    ("CosineDecayRestarts", "cosine_restarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.9)"),
    ("random (custom schedule)", "random_uniform(0.001, 0.1, seed=0)"),
)

# The third seed's four decay formulas, written per epoch with lrlab kinds (lr0 = 0.1 over 50 epochs).
DECAY_SPECS = (
    ("step: 0.1 · 0.5^floor(epoch/10)", "step_decay(0.1, drop=0.5, step_size=10)"),
    ("exponential: 0.1 · e^(-0.1·epoch)", f"exponential(0.1, decay_steps=1, decay_rate={math.exp(-0.1)!r})"),
    ("1/t: 0.1 / (1 + 0.1·epoch)", "inverse_time(0.1, decay_steps=1, decay_rate=0.1)"),
    ("polynomial: 0.1 · (1 - epoch/50)^2", "polynomial(0.1, decay_steps=50, end_lr=0.0, power=2.0)"),
)

# The fourth seed: Adam on the Gaussian quantiles; (title, spec, batch size, epochs, plateau, seed's test accuracy).
QUANTILE_RUNS = (
    ("large: Adam 0.5", "constant(0.5)", 100, 50, None, 0.49666666666666665),
    ("small: Adam 1e-5", "constant(1e-05)", 100, 50, None, 0.5116666666666667),
    ("medium: Adam 0.005", "constant(0.005)", 100, 50, None, 0.96),
    ("plateau from 0.05", "constant(0.05)", 50, 100,
     {"factor": 0.5, "patience": 10, "min_lr": 1e-5, "convention": "keras"}, 0.9916666666666667),
)

# The third seed's MNIST run: MLP 784-128-10, SGD, ExponentialDecay(0.1, 1000, 0.96, staircase), 15 epochs, batch 32.
MNIST_SPEC = "exponential(0.1, decay_steps=1000, decay_rate=0.96, staircase=True)"
MNIST_SEED_ACCURACY = 0.9789000153541565


def _history_frame(runs: list[tuple[str, Any]]) -> Any:
    """A comparison-style history (schedule, seed, run_id, epoch, ...) from (label, Run) pairs."""
    from ..lab.run import history_frame

    return history_frame((run for _, run in runs), labels=[label for label, _ in runs])


# -- the demos ----------------------------------------------------------------------------------
def descent(out: Path, say: Say = print, epochs: int | None = None) -> list[Path]:
    """First seed: constant 0.025 against the decayed rates on `line`; the animation and the numbers."""
    from .animate import render, trace

    n = epochs or 20
    traces = [trace(spec, n) for spec in DESCENT_SPECS]
    say(f"descent: y = a·x by full-batch gradient descent, {n} updates, a0 = {traces[0].weights[0]:.6f}")
    for spec, tr in zip(DESCENT_SPECS, traces):
        say(f"  {spec}")
        for k in (10, 20):
            if k < len(tr.weights):
                loss, weight = float(tr.losses[k]), float(tr.weights[k])
                seed_loss, seed_weight = DESCENT_SEED[spec][k]
                say(f"    after {k:2d}: loss={loss:.12f} a={weight:.12f}   (seed: loss={seed_loss:.12f} "
                    f"a={seed_weight:.12f})")
    return [render(traces, out / "descent.gif")]


def keras_schedules(out: Path, say: Say = print, epochs: int | None = None) -> list[Path]:
    """Second seed: seven Keras-style schedules trained on the 3-input OR gate; lr per epoch."""
    from ..lab.engines.train import train

    n = epochs or 500
    runs = []
    say(f"keras-schedules: OR gate, one sigmoid unit, SGD full batch, {n} epochs")
    for title, spec in KERAS_SPECS:
        run = train("or3", spec, epochs=n)
        runs.append((title, spec, run))
        say(f"  {title:28s} final loss {run.metrics['loss']:.4f}  accuracy {run.metrics.get('accuracy', math.nan):.3f}"
            f"  last lr {run.history['lr'].iloc[-1]:.5f}")
    fig = _figure.new_figure(16.0, 7.6)
    axes = fig.subplots(2, 4).ravel()
    for i, (ax, (title, spec, run)) in enumerate(zip(axes, runs)):
        ax.plot(run.history["epoch"], run.history["lr"], color=_figure.color(i), lw=1.4)
        ax.set_title(title + "\n" + "\n".join(textwrap.wrap(spec, 44)), fontsize=8.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.grid(True, alpha=0.3)
    ax = axes[-1]
    for i, (title, _, run) in enumerate(runs):
        ax.plot(run.history["epoch"], run.history["loss"], color=_figure.color(i), lw=1.2, label=title)
    ax.set_title("training loss (binary cross-entropy)", fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=6.5)
    ax.grid(True, alpha=0.3)
    fig.suptitle("The second seed's Keras schedules, trained on the OR gate with lrlab (lr of each epoch)")
    return [_figure.save(fig, out / "keras-schedules.png")]


def decay_formulas(out: Path, say: Say = print, epochs: int | None = None) -> list[Path]:
    """Third seed: step, exponential, 1/t and polynomial decay per epoch."""
    from ..schedules import parse
    from .schedule_plots import plot_schedules

    n = epochs or 50
    scheds = [parse(spec) for _, spec in DECAY_SPECS]
    say(f"decay-formulas: lr0 = 0.1 over {n} epochs")
    for (title, _), s in zip(DECAY_SPECS, scheds):
        say(f"  {title:36s} epoch 10: {s(10):.5f}  epoch {n - 1}: {s(n - 1):.6f}")
    path = plot_schedules(scheds, n, out / "decay-formulas.png", labels=[t for t, _ in DECAY_SPECS],
                          steps_per_epoch=1, title="The third seed's decay formulas")
    return [path]


def lr_too_big_small(out: Path, say: Say = print, epochs: int | None = None) -> list[Path]:
    """Fourth seed: too large, too small and a medium Adam rate, and a plateau run, on the quantiles."""
    from ..lab.engines.train import train
    from ..lab.tasks.task import get_task
    from .boundary import boundaries_figure
    from .run_curves import curves_figure

    task = get_task("quantiles")
    data = task.load(0)
    runs = []
    say("lr-too-big-small: Gaussian quantiles, 2-10-1 ReLU net, Adam")
    for title, spec, batch, n, plateau, seed_acc in QUANTILE_RUNS:
        n = min(n, epochs) if epochs else n
        run = train(task, spec, optimizer="adam", epochs=n, batch_size=batch, plateau=plateau)
        runs.append((title, run))
        lrs = sorted(set(run.history["lr"].round(8)), reverse=True)
        say(f"  {title:20s} test accuracy {run.metrics['test_accuracy']:.3f}  (seed: {seed_acc:.3f})  "
            f"status {run.status}" + (f"  lr steps {', '.join(f'{v:g}' for v in lrs)}" if plateau else ""))
    panels = [(f"{title}\ntest accuracy {run.metrics['test_accuracy']:.3f}", run.model) for title, run in runs]
    fig = boundaries_figure(panels, data.test.x, data.test.y, columns=2, resolution=150,
                            title="Decision boundaries on the test points (fourth seed's rates)")
    paths = [_figure.save(fig, out / "lr-too-big-small-boundaries.png")]
    curves = curves_figure(_history_frame(runs), title="quantiles, Adam", size=(12.0, 4.0))
    paths.append(_figure.save(curves, out / "lr-too-big-small-curves.png"))
    return paths


def mnist_available() -> bool:
    """True when MNIST can be read without downloading (a cached or local copy)."""
    from ..lab.tasks.mnist import MnistError
    from ..lab.tasks.task import get_task

    try:
        get_task("mnist", download=False).load(0)
    except (MnistError, OSError, ValueError):
        return False
    return True


def mnist(out: Path, say: Say = print, epochs: int | None = None, *, stand_in: bool | None = None) -> list[Path]:
    """Third seed: the 784-128-10 MLP with exponential decay on MNIST; `digits` stands in when MNIST is absent."""
    from ..lab.engines.train import train
    from ..lab.tasks.task import get_task
    from .run_curves import curves_figure

    if stand_in is None:
        stand_in = not mnist_available()
    if stand_in:
        say("mnist: MNIST is not available offline (fetch it once with `lrlab compare mnist ...` or give a local "
            "copy); running the `digits` stand-in (8x8 scikit-learn digits, MLP 64-64-10)")
        task, n = get_task("digits"), epochs or 30
        steps_per_epoch = math.ceil(len(task.load(0).train) / 32)
        # the seed's 28 drops by 0.96 over its run, spread over this shorter run
        every = max(1, round(n * steps_per_epoch / 28))
        spec = f"exponential(0.1, decay_steps={every}, decay_rate=0.96, staircase=True)"
    else:
        task, n, spec = get_task("mnist", download=False), epochs or 15, MNIST_SPEC
    run = train(task, spec, optimizer="sgd", epochs=n, batch_size=32)
    seed = "" if stand_in else f"  (seed: {MNIST_SEED_ACCURACY:.4f}, final lr 0.0319)"
    say(f"  {task.name}: {spec}, SGD, batch 32, {n} epochs: test accuracy {run.metrics['test_accuracy']:.4f}"
        f"  final lr {run.step_lr[-1]:.4f}{seed}")
    fig = curves_figure(_history_frame([(spec, run)]), title=f"{task.name}: MLP with exponential decay",
                        size=(12.0, 3.8))
    return [_figure.save(fig, out / f"{task.name}-exponential-decay.png")]


DEMOS: dict[str, Callable[..., list[Path]]] = {
    "descent": descent,
    "keras-schedules": keras_schedules,
    "decay-formulas": decay_formulas,
    "lr-too-big-small": lr_too_big_small,
    "mnist": mnist,
}


def run_demo(name: str, out_dir: str | Path, *, say: Say = print, epochs: int | None = None) -> list[Path]:
    """Run one demo by name, writing its pictures into out_dir; returns their paths."""
    if name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; known: {', '.join(DEMOS)}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return DEMOS[name](out, say, epochs)
