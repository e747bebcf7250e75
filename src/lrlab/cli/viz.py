"""`lrlab animate` and `lrlab demo`: the pictures layer of the command (matplotlib and torch load lazily)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .. import _check
from .lab import _float, _int
from .output import check_writable

MAX_ANIMATE_EPOCHS = 100_000  # every update is kept in memory and drawn

GALLERY = ("descent", "keras-schedules", "decay-formulas", "lr-too-big-small", "mnist")


def _cmd_animate(args: argparse.Namespace) -> int:
    """Train the `line` task under each schedule and write the gradient-descent animation.

    The animation shows the one weight of `line` moving on its 1-D loss, one row per SPEC, for --epochs updates
    (default the task's 50); it is written as .gif, or .mp4 where ffmpeg is installed. It prints each schedule's
    number of updates, final weight and loss, then the path written.

    Examples:
        $ lrlab animate line "constant(0.1)" "exponential(0.3, decay_steps=10, decay_rate=0.5)" -o descent.gif
    """
    from .. import schedules

    if args.task != "line":
        raise ValueError(f"animate shows one weight moving on a 1-D loss: only the 'line' task, got {args.task!r}")
    epochs = _int("--epochs", args.epochs, high=MAX_ANIMATE_EPOCHS)
    fps = _check.positive("", "--fps", _float("--fps", args.fps))
    suffix = Path(args.output).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"-o {args.output!r}: the animation is written as .gif or .mp4")
    check_writable("-o", args.output, directory=False)
    parsed = [schedules.parse(spec) for spec in args.specs]  # bad specs fail before any training

    from ..viz.animate import animate

    path, traces = animate(parsed, args.output, epochs=epochs, fps=fps)
    for tr in traces:
        print(f"{tr.label}: {len(tr.weights) - 1} updates, a = {tr.weights[-1]:.10g}, loss = {tr.losses[-1]:.10g}")
    print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run one demo of the gallery, or all of them, and print where the pictures are.

    The demos (descent, keras-schedules, decay-formulas, lr-too-big-small, mnist) reproduce the source tutorials'
    experiments with their pictures under --out (default lrlab-demo); --epochs gives fewer epochs for a quick look.

    Examples:
        $ lrlab demo
        $ lrlab demo decay-formulas --out pics --epochs 5
    """
    epochs = _int("--epochs", args.epochs)
    check_writable("--out", args.out, directory=True)
    import torch

    from ..viz.gallery import run_demo

    torch.set_num_threads(1)  # the tutorials' models are tiny: one thread is several times faster than two
    names = [args.name] if args.name else list(GALLERY)
    written: list[Path] = []
    for name in names:
        start = time.perf_counter()
        print(f"== {name}")
        paths = run_demo(name, args.out, epochs=epochs)
        written += paths
        print(f"   ({time.perf_counter() - start:.1f} s)")
    print(f"\npictures in {Path(args.out).resolve()}:")
    for path in written:
        print(f"  {path}")
    return 0


def register(sub: Any) -> None:
    """Add `animate` and `demo` to the `lrlab` subcommands."""
    p = sub.add_parser("animate", help="gradient-descent animation on the 'line' task (GIF, or mp4 with ffmpeg)",
                       description="Animate gradient descent on the one-weight 'line' task under each SPEC (one row "
                       "per SPEC): the weight moving on the loss curve, update by update. Writes a GIF, or an mp4 "
                       "when ffmpeg is installed.")
    p.add_argument("task", metavar="TASK", help="the task: 'line' (one weight, the first source tutorial's)")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="one schedule per row of the animation")
    p.add_argument("--epochs", default=None, help="updates to show (default: the task's 50)")
    p.add_argument("--fps", default="4", help="frames per second (default 4)")
    p.add_argument("-o", "--output", default="descent.gif", help="output .gif or .mp4 (default descent.gif)")
    p.set_defaults(func=_cmd_animate)

    p = sub.add_parser("demo", help="the source tutorials' experiments reproduced, with their pictures")
    p.add_argument("name", nargs="?", choices=GALLERY, metavar="NAME",
                   help=f"one of {', '.join(GALLERY)} (default: all)")
    p.add_argument("--out", default="lrlab-demo", metavar="DIR", help="where the pictures go (default lrlab-demo)")
    p.add_argument("--epochs", default=None, help="fewer epochs for a quick look (default: the tutorials')")
    p.set_defaults(func=_cmd_demo)
