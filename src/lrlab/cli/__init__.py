"""The `lrlab` command: glue only. Each subcommand parses its options and calls the library.

This module holds `list` and `plot`; `cli/lab.py` (compare, runs) and `cli/viz.py` (animate, demo) each
expose `register(subparsers)` and import their heavy dependencies inside the command functions.

Bad input (an unknown task, a spec that does not parse, a bad option, an output path that cannot be
written) prints one clear line to stderr and exits with status 2; no traceback. Output paths are checked
before any work (`cli.output.check_writable`).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Sequence

from .. import __version__, schedules
from . import cooldowns, forecast, lab, pbt, tune, viz
from .lab import _int
from .output import check_writable


def _cmd_list(args: argparse.Namespace) -> int:
    """Print every schedule kind with its parameters and a one-line description.

    The kinds come from `lrlab.schedules.KINDS`, sorted by name; each line shows the parameters with their defaults,
    the next the kind's summary. Use it to see which names and arguments a spec may use.

    Examples:
        $ lrlab list
        $ lrlab list | grep -A1 '^cosine('
    """
    for name in sorted(schedules.KINDS):
        cls = schedules.KINDS[name]
        params = []
        for p in cls._fields:
            params.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
        print(f"{name}({', '.join(params)})")
        print(f"    {cls.summary}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    """Preview schedules in the terminal; with -o, also write a matplotlib figure.

    Every SPEC is parsed (a bad one fails before any output); a spec that leaves out its lengths is stretched to
    --steps optimizer steps (default 100), which is also how many steps are shown. --log draws the rate on a
    logarithmic axis; -o writes a .png, .svg or .pdf as well (its name is checked before anything is drawn).

    Examples:
        $ lrlab plot "cosine(0.1, decay_steps=100)" "wsd(0.1)" --steps 200
        $ lrlab plot "exponential(0.1, decay_steps=10, decay_rate=0.5)" --log -o decay.png
    """
    from ..viz.terminal import preview

    steps = _int("--steps", args.steps)
    if args.output:
        from ..viz._figure import check_suffix

        check_suffix(args.output)  # before any output: a bad name fails alone
        check_writable("-o", args.output, directory=False)
    parsed = [schedules.parse(spec) for spec in args.specs]
    parsed = [s if s.is_bound else s.stretch(steps) for s in parsed]
    print(preview(parsed, steps, log=args.log))
    if args.output:
        from ..viz.schedule_plots import plot_schedules

        path = plot_schedules(parsed, steps, args.output, log=args.log)
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrlab", description="Learning-rate schedules: see them, use them, compare them."
    )
    parser.add_argument("--version", action="version", version=f"lrlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every schedule kind with its parameters",
                       description="List every schedule kind with its parameters and their defaults, one line of "
                       "what it does under each: the names a SPEC is written with.")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("plot", help="preview schedules (terminal; -o FILE for png/svg/pdf)",
                       description="Draw the learning rate of every SPEC over --steps steps in the terminal (a "
                       "schedule without lengths is stretched to them); -o also writes a figure.")
    p.add_argument("specs", nargs="+", metavar="SPEC", help='a schedule spec, e.g. "cosine(0.1, decay_steps=100)"')
    p.add_argument("--steps", default="100", help="steps to show (default 100); binds left-out lengths")
    p.add_argument("--log", action="store_true", help="logarithmic learning-rate axis")
    p.add_argument("-o", "--output", help="also write a figure (.png, .svg or .pdf)")
    p.set_defaults(func=_cmd_plot)

    lab.register(sub)
    cooldowns.register(sub)
    tune.register(sub)
    viz.register(sub)
    forecast.register(sub)
    pbt.register(sub)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush of what is still buffered for a reader that
    left raises no second BrokenPipeError ("Exception ignored ..." on stderr); Python's documented recipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured): nothing to flush
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for the commands that record how to reproduce them
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # stdout's reader left (`lrlab list | head -2`): stop quietly, as Unix tools do
        _quiet_stdout()
        return 0
    except ValueError as exc:
        print(f"lrlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a write that failed after the checks (disk full, a path removed meanwhile)
        print(f"lrlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lrlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
