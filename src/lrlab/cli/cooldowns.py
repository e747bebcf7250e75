"""`lrlab cooldowns`: WSD cooldowns branched from one stable run per seed, each length's final metric next to a
cosine run of the same length (lrlab.lab.studies.cooldowns). torch, pandas and rich are imported inside the command."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from .. import _check
from .lab import DB_HELP, DEFAULT_DB, MAX_SEEDS, MAX_THREADS, _batch_size, _console, _fmt, _int, _optimizer_kwargs
from .output import check_writable, need_lab


def register(sub: Any) -> None:
    """Add the cooldowns subcommand to the `lrlab` parser."""
    p = sub.add_parser(
        "cooldowns",
        help="WSD cooldowns branched from one stable run, against cosine runs of the same lengths",
        description="Train the stable phase of SPEC (a wsd schedule without lengths: its peak rate after its "
        "warmup) once per seed, checkpoint it where each length's cooldown starts, branch a cooldown of SPEC's "
        "shape from each checkpoint (trained stacked), and print each length's final metric next to a full cosine "
        "run of the same length. Lengths: --at fractions of --steps; each cools down over its last --fraction.",
    )
    p.add_argument("task", help="a task name (line, or3, quantiles, mnist1d, ...)")
    p.add_argument("spec", metavar="SPEC", help='a wsd spec without lengths, e.g. "wsd(0.1, decay=\'1-sqrt\')"')
    p.add_argument("--at", default="0.25,0.5,0.75,1.0",
                   help="where runs end, as increasing fractions in (0, 1] of --steps (default 0.25,0.5,0.75,1.0)")
    p.add_argument("--fraction", default="0.2", help="each run's share of cooldown, in (0, 1) (default 0.2)")
    p.add_argument("--steps", default=None, metavar="N",
                   help="the longest length in optimizer steps (default: the task's epochs x steps per epoch)")
    p.add_argument("--seeds", default="1", help="seeds 0..N-1 (default 1)")
    p.add_argument("--metric", default=None,
                   help="the final metric compared (default test_accuracy, or test_loss without accuracy)")
    p.add_argument("--no-cosine", action="store_true", help="leave out the cosine runs")
    p.add_argument("--optimizer", default=None,
                   help="sgd, adam or adamw (default: the task's; the schedule-free sgd_sf and adamw_sf cannot be "
                   "checkpointed, so cannot branch)")
    p.add_argument("--momentum", default=None, help="optimizer momentum (sgd)")
    p.add_argument("--weight-decay", default=None, help="optimizer weight decay")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="any other optimizer option")
    p.add_argument("--batch-size", default=None, help='batch size, or "full" (default: the task\'s)')
    p.add_argument("--out", default=None, metavar="DIR", help="write cooldowns.csv, runs.csv and cooldowns.png here")
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="also keep the trunks' checkpoints here: an interrupted call goes on from the last one")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"{DB_HELP} (default {DEFAULT_DB})")
    p.add_argument("--fresh", action="store_true", help="train again even when stored runs match")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="local data for tasks that take one (mnist)")
    p.add_argument("--threads", default="1", help="torch CPU threads (default 1)")
    p.add_argument("--engine", default="auto", help="auto, stacked or sequential (default auto)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda (default auto)")
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the task's)")
    p.add_argument("--max-stack", default=None, metavar="K", help="at most K runs per stack")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_cooldowns)


def _at(text: str) -> tuple[float, ...]:
    """--at: comma-separated increasing fractions in (0, 1]."""
    from ..lab.studies.cooldowns import check_at

    what = "increasing fractions in (0, 1], comma-separated"
    try:
        return check_at([float(part) for part in text.split(",")], "", "--at")
    except ValueError:
        raise _check.fail("", "--at", what, text) from None


def cmd_cooldowns(args: argparse.Namespace) -> int:
    """Compare WSD cooldowns branched from one stable run with cosine runs of the same lengths.

    The stable phase of SPEC (a wsd spec without lengths) trains once per seed up to the last cooldown start,
    checkpointed where each length's cooldown starts; a cooldown of SPEC's shape branches from each checkpoint (the
    branches train stacked). Lengths are --at fractions of --steps, each cooling down over its last --fraction.
    It prints each length's final metric next to a full cosine run of the same length (left out with --no-cosine);
    --out writes cooldowns.csv, runs.csv and cooldowns.png; --checkpoints keeps the trunks' checkpoints so an
    interrupted call goes on from the last one.

    Examples:
        $ lrlab cooldowns or3 "wsd(0.5)" --steps 40
        $ lrlab cooldowns mnist1d "wsd(0.05, decay='1-sqrt')" --at 0.5,1.0 --fraction 0.2 --seeds 3 --out cd/
    """
    from ..lab.engines.train import DEVICES
    from ..lab.options import resolve_task
    from ..lab.studies.compare import ENGINES
    from ..lab.studies.cooldowns import check_fraction, check_spec
    from ..lab.tasks.task import DTYPES, OPTIMIZERS, get_task

    options = {"data_dir": args.data_dir} if args.data_dir else {}
    resolve_task(args.task, "cooldowns", "it branches each cooldown from a checkpoint of the built-in loop's "
                 "state")  # a training function's reference: refused here, in one line
    task = get_task(args.task, **options)
    spec = check_spec(args.spec, who="")
    at = _at(args.at)
    try:
        fraction_value: Any = float(args.fraction)
    except ValueError:
        fraction_value = args.fraction
    fraction = check_fraction(fraction_value, "", "--fraction")
    steps = _int("--steps", args.steps)
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    engine = _check.choice("", "--engine", args.engine, ENGINES)
    device = _check.choice("", "--device", args.device, DEVICES)
    dtype = None if args.dtype is None else _check.choice("", "--dtype", args.dtype, DTYPES)
    max_stack = _int("--max-stack", args.max_stack)
    batch_size = _batch_size(args.batch_size)
    opt_kwargs = _optimizer_kwargs(args)
    if args.optimizer is not None and args.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    if args.metric is not None and not args.metric.replace("_", "").isalnum():
        raise _check.fail("", "--metric", "a metric name such as test_loss", args.metric)
    if args.out:
        check_writable("--out", args.out, directory=True)
    if args.checkpoints:
        check_writable("--checkpoints", args.checkpoints, directory=True)
    from ..lab.store import Store

    Store(args.db).close()
    need_lab("cooldowns", "pandas", "rich", "torch")
    import torch

    from ..lab.studies.cooldowns import cooldowns

    if threads is not None:
        torch.set_num_threads(threads)
    print(f"cooldowns of {spec!r} on {task.name}: {len(at)} lengths, {seeds} seed{'s' if seeds != 1 else ''}…",
          file=sys.stderr, flush=True)
    try:
        result = cooldowns(task, spec, at=at, fraction=fraction, steps=steps, seeds=seeds, optimizer=args.optimizer,
                           batch_size=batch_size, metric=args.metric, cosine=not args.no_cosine, db=args.db,
                           fresh=args.fresh, progress=not args.no_progress, engine=engine, device=device, dtype=dtype,
                           max_stack=max_stack, checkpoint_dir=args.checkpoints, **opt_kwargs)
    except OSError as exc:
        raise ValueError(str(exc)) from None
    if not any(result.metric in r.metrics for r in result.branches):
        have = sorted(result.branches[0].metrics) if result.branches else []
        raise ValueError(f"--metric {result.metric!r} is not a run metric; runs have {', '.join(have)}")
    print_table(result)
    if args.out:
        from ..viz.cooldowns import plot_cooldowns

        for path in [*result.write(args.out), plot_cooldowns(result, f"{args.out}/cooldowns.png")]:
            print(f"wrote {path}")
    return 0


def print_table(result: Any) -> None:
    """The lengths' metrics as a rich table, then what the branching saved."""
    from rich.table import Table

    table = Table(title=f"{result.task.name}: {result.spec!r}, cooldown {result.table.shape[0]} lengths",
                  caption=f"{result.metric}; difference = wsd - cosine")
    for name in ("length", "cooldown from", "wsd branch", "cosine", "difference"):
        table.add_column(name, justify="right")
    for row in result.table.to_dict("records"):
        cells = [str(row["length"]), str(row["cooldown_start"])]
        for name in ("wsd", "cosine"):
            text = _fmt(row[name])
            if isinstance(row[f"{name}_std"], float) and not math.isnan(row[f"{name}_std"]):
                text += f" ± {row[f'{name}_std']:.2g}"
            cells.append(text)
        cells.append(_fmt(row["difference"]))
        table.add_row(*cells)
    _console().print(table)
    trained = result.trunk_steps + result.branch_steps
    if trained:
        print(f"optimizer steps: trunk {result.trunk_steps} + branches {result.branch_steps} = {trained}, against "
              f"{result.scratch_steps} for every wsd length from scratch ({trained / result.scratch_steps:.2f}x); "
              f"wall: trunk {result.trunk_wall_s:.2f} s, branches {result.branch_wall_s:.2f} s")
    else:
        print("every wsd run was in the run store: nothing trained")
