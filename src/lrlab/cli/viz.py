"""`lrlab animate` and `lrlab demo`: the pictures layer of the command (matplotlib and torch load lazily)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

GALLERY = ("descent", "keras-schedules", "decay-formulas", "lr-too-big-small", "mnist")


def _cmd_animate(args: argparse.Namespace) -> int:
    """Train `line` under each schedule and write the gradient-descent animation."""
    from .. import schedules

    if args.task != "line":
        raise ValueError(f"animate shows one weight moving on a 1-D loss: only the 'line' task, got {args.task!r}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.fps <= 0:
        raise ValueError(f"--fps must be > 0, got {args.fps}")
    suffix = Path(args.output).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"-o {args.output!r}: the animation is written as .gif or .mp4")
    parsed = [schedules.parse(spec) for spec in args.specs]  # bad specs fail before any training

    from ..viz.animate import animate

    path, traces = animate(parsed, args.output, epochs=args.epochs, fps=args.fps)
    for tr in traces:
        print(f"{tr.label}: {len(tr.weights) - 1} updates, a = {tr.weights[-1]:.9f}, loss = {tr.losses[-1]:.9f}")
    print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run one demo of the gallery, or all of them, and print where the pictures are."""
    import torch

    from ..viz.gallery import run_demo

    torch.set_num_threads(1)  # the seeds' models are tiny: one thread is several times faster than two
    names = [args.name] if args.name else list(GALLERY)
    written: list[Path] = []
    for name in names:
        start = time.perf_counter()
        print(f"== {name}")
        paths = run_demo(name, args.out, epochs=args.epochs)
        written += paths
        print(f"   ({time.perf_counter() - start:.1f} s)")
    print(f"\npictures in {Path(args.out).resolve()}:")
    for path in written:
        print(f"  {path}")
    return 0


def register(sub: Any) -> None:
    """Add `animate` and `demo` to the `lrlab` subcommands."""
    p = sub.add_parser("animate", help="gradient-descent animation on the 'line' task (GIF, or mp4 with ffmpeg)")
    p.add_argument("task", metavar="TASK", help="the task: 'line' (one weight, the first seed)")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="one schedule per row of the animation")
    p.add_argument("--epochs", type=int, default=None, help="updates to show (default: the task's 50)")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second (default 4)")
    p.add_argument("-o", "--output", default="descent.gif", help="output .gif or .mp4 (default descent.gif)")
    p.set_defaults(func=_cmd_animate)

    p = sub.add_parser("demo", help="the seeds' experiments reproduced, with their pictures")
    p.add_argument("name", nargs="?", choices=GALLERY, metavar="NAME",
                   help=f"one of {', '.join(GALLERY)} (default: all)")
    p.add_argument("--out", default="lrlab-demo", metavar="DIR", help="where the pictures go (default lrlab-demo)")
    p.add_argument("--epochs", type=int, default=None, help="fewer epochs for a quick look (default: the seeds')")
    p.set_defaults(func=_cmd_demo)
