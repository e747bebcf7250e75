"""`lrlab pbt`: population-based training of the learning rate in one stack, the learned schedule printed as a spec
(lrlab.lab.studies.pbt); --confirm trains it from scratch beside hand schedules. torch, pandas and rich are imported
inside the command."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import _check
from .lab import (
    DB_HELP,
    DEFAULT_DB,
    MAX_SEEDS,
    MAX_THREADS,
    _batch_size,
    _console,
    _fmt,
    _int,
    _optimizer_kwargs,
    print_leaderboard,
)
from .output import check_writable, need_lab


def register(sub: Any) -> None:
    """Add the pbt subcommand to the `lrlab` parser."""
    p = sub.add_parser(
        "pbt",
        help="population-based training of the rate in one stack; the learned schedule as a spec",
        description="Train --population members of TASK as one stacked model, each at a rate drawn from --space. "
        "Every --interval epochs the members are ranked on the validation figure; each of the bottom --quantile "
        "copies the whole state (weights, optimizer state, data order) of a member drawn from the top --quantile "
        "and explores: its rate times a factor from --perturb, or with probability --resample a fresh rate from "
        "--space (Ray Tune's PBT rules). The winner's rates, step for step, are printed as a spec, with the closest "
        "smooth specs; training that spec from scratch on the printed seed replays the winner. Every member's final "
        "run goes to --db under the config compare gives its spec on its seed, the lineage beside it. --confirm "
        "trains the learned spec on --seeds fresh seeds beside constant and cosine at the task's rate and any "
        "--against SPEC (e.g. tune's winner).",
    )
    p.add_argument("task", help="a task name (line, or3, quantiles, mnist1d, ...)")
    p.add_argument("--population", default="8", metavar="K", help="members trained together (default 8)")
    p.add_argument("--interval", default="5", metavar="E", help="epochs between exploit and explore (default 5)")
    p.add_argument("--epochs", default=None, metavar="N", help="epochs in all (default: the task's)")
    p.add_argument("--quantile", default="0.25",
                   help="the share of members that copy, and that are copied from, in (0, 0.5] (default 0.25)")
    p.add_argument("--perturb", default="0.8,1.2",
                   help="factors a copied rate is multiplied by, comma-separated (default 0.8,1.2)")
    p.add_argument("--resample", default="0.25",
                   help="the probability of a fresh rate from --space instead, in [0, 1] (default 0.25)")
    p.add_argument("--space", default=None,
                   help="where rates are drawn: loguniform(a, b), uniform(a, b) or choice(x, y, ...) (default: "
                   "loguniform over a decade either side of the task's rate)")
    p.add_argument("--seed", default="0", help="member k trains on seed SEED + k; PBT's draws too (default 0)")
    p.add_argument("--confirm", action="store_true",
                   help="train the learned spec, its best smooth fit, and constant and cosine at the task's rate "
                   "on --seeds fresh seeds, on one leaderboard")
    p.add_argument("--against", action="append", default=[], metavar="SPEC",
                   help="with --confirm: another entry of its leaderboard, e.g. tune's winner (repeatable; a spec "
                   "as compare takes it, @plateau(...) or @OPTIMIZER(...) allowed)")
    p.add_argument("--seeds", default="3", metavar="S", help="fresh seeds per entry of --confirm (default 3)")
    p.add_argument("--optimizer", default=None, help="sgd, adam or adamw (default: the task's)")
    p.add_argument("--momentum", default=None, help="optimizer momentum (sgd)")
    p.add_argument("--weight-decay", default=None, help="optimizer weight decay")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="any other optimizer option")
    p.add_argument("--batch-size", default=None, help='batch size, or "full" (default: the task\'s)')
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write members.csv, population.csv, events.csv, learned.txt and pbt.png here")
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="keep the population after every interval here (default: --out), so an interrupted call "
                   "goes on from the last interval it finished")
    p.add_argument("--fresh", action="store_true", help="start over, ignoring a population kept in --checkpoints")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"where the members' final runs, the lineage "
                   f"and --confirm's runs are stored: {DB_HELP} (default {DEFAULT_DB})")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="local data for tasks that take one (mnist)")
    p.add_argument("--threads", default="1", help="torch CPU threads (default 1)")
    p.add_argument("--engine", default="auto", help="auto, stacked or sequential (default auto)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda (default auto)")
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the task's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_pbt)


def _number(option: str, text: str, low: float, high: float, *, low_open: bool = False) -> float:
    try:
        value: Any = float(text)
    except ValueError:
        value = text
    return _check.number("", option, value, low, high, low_open=low_open)


def _perturb(text: str) -> tuple[float, ...]:
    """--perturb: comma-separated factors > 0."""
    from ..lab.studies.pbt import check_perturb

    try:
        return check_perturb([float(part) for part in text.split(",")], "", "--perturb")
    except ValueError:
        raise _check.fail("", "--perturb", "factors > 0, comma-separated, e.g. 0.8,1.2", text) from None


def cmd_pbt(args: argparse.Namespace) -> int:
    """Population-based training of the learning rate on a task, in one stack; print the learned schedule as a spec.

    --population members train as one stacked model, each at a rate drawn from --space. Every --interval epochs
    they are ranked on the validation figure, and each of the bottom --quantile copies the whole state of a member
    drawn from the top --quantile, then takes its rate times a factor from --perturb (or, with probability
    --resample, a fresh rate from --space). It prints the members' final figures, the winner's schedule as a spec
    that gives its rate at every step (training it from scratch on the printed seed replays the winner), and the
    closest smooth specs with their errors; every member's final run is stored in --db under the config compare gives
    its spec on its seed (so `lrlab runs` lists it and a compare of the printed spec on the printed seed reuses it),
    with the lineage as a note. --confirm trains the learned spec, its best smooth fit, constant and cosine at the
    task's rate and every --against SPEC (e.g. tune's winner) on --seeds fresh seeds, on one leaderboard. --out
    writes CSV files, learned.txt and pbt.png; the population is kept after every interval (--checkpoints, default
    --out) so the same command goes on after an interruption.

    Examples:
        $ lrlab pbt quantiles --population 8 --interval 5 --epochs 50
        $ lrlab pbt or3 --population 4 --interval 2 --epochs 10 --space "loguniform(0.05, 2)" --confirm --seeds 3
        $ lrlab pbt mnist1d --population 16 --interval 3 --out pbt/
        $ lrlab pbt quantiles --epochs 30 --confirm --seeds 5 --against "wsd(0.02)"
    """
    from ..lab.engines.train import DEVICES
    from ..lab.options import resolve_task
    from ..lab.studies.pbt import ENGINES, RateSpace
    from ..lab.tasks.task import DTYPES, OPTIMIZERS, get_task

    options = {"data_dir": args.data_dir} if args.data_dir else {}
    resolve_task(args.task, "pbt", "it copies the built-in loop's training state between members")
    task = get_task(args.task, **options)
    population = _int("--population", args.population, low=2, high=4096)
    interval = _int("--interval", args.interval)
    epochs = _int("--epochs", args.epochs)
    quantile = _number("--quantile", args.quantile, 0.0, 0.5, low_open=True)
    perturb = _perturb(args.perturb)
    resample = _number("--resample", args.resample, 0.0, 1.0)
    if args.space is not None:
        RateSpace(args.space)
    seed = _int("--seed", args.seed, low=0, high=2**31)
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    engine = _check.choice("", "--engine", args.engine, ENGINES)
    device = _check.choice("", "--device", args.device, DEVICES)
    dtype = None if args.dtype is None else _check.choice("", "--dtype", args.dtype, DTYPES)
    batch_size = _batch_size(args.batch_size)
    opt_kwargs = _optimizer_kwargs(args)
    if args.optimizer is not None and args.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    for option, folder in (("--out", args.out), ("--checkpoints", args.checkpoints)):
        if folder:
            check_writable(option, folder, directory=True)
    against = _against(args.against, args.confirm)
    from ..lab.store import Store, display_name

    Store(args.db).close()  # the members' runs and --confirm's go there: checked before anything trains
    need_lab("pbt", "pandas", "rich", "torch")
    import torch

    from ..lab.studies.pbt import pbt

    if threads is not None:
        torch.set_num_threads(threads)
    print(f"pbt on {task.name}: {population} members, a round every {interval} epochs…", file=sys.stderr, flush=True)
    result = pbt(task, population=population, interval=interval, epochs=epochs, quantile=quantile, perturb=perturb,
                 resample=resample, space=args.space, seed=seed, optimizer=args.optimizer, batch_size=batch_size,
                 engine=engine, device=device, dtype=dtype, checkpoint_dir=args.checkpoints or args.out,
                 fresh=args.fresh, db=args.db, progress=not args.no_progress, **opt_kwargs)
    print_members(result)
    print(f"{len(result.events)} copies in {len(result.rates)} intervals; training {result.wall_s:.2f} s "
          f"({result.engine})")
    for line in result.export_lines():
        print(line)
    extra = "".join(f", {k}={v!r}" for k, v in result.options.items() if v is not None and k != "plateau")
    print(f"replay (the winner's run, from scratch): lrlab.lab.train({task.name!r}, {result.replay!r}, "
          f"epochs={result.epochs}, seed={result.seed}{extra})")
    print(f"stored: the members' runs {', '.join(map(str, result.run_ids))} (the winner's: "
          f"{result.run_ids[result.winner]}) and the lineage (note 'pbt {result.key}') in {display_name(args.db)}")
    if args.confirm:
        lr = float(task.lr)
        comparison = result.confirm(seeds, hand=[f"constant({lr!r})", f"cosine({lr!r})", *against], db=args.db,
                                    progress=not args.no_progress, engine=engine, device=device)
        print_leaderboard(comparison)  # the order against the seeds' noise below it (lrlab.lab.ties)
    if args.out:
        from ..viz.pbt_plots import plot_pbt

        for path in [*result.write(args.out), plot_pbt(result, f"{args.out}/pbt.png")]:
            print(f"wrote {path}")
    return 0


def _against(specs: list[str], confirm: bool) -> list[str]:
    """--against: specs as compare takes them, each checked (one line naming the bad one), only with --confirm."""
    from ..lab.studies.compare import entry_optimizer, split_entry

    if specs and not confirm:
        raise ValueError(f"--against needs --confirm (its entries join the confirmation), got --against {specs[0]!r}")
    for spec in specs:
        try:
            split_entry(spec)
            entry_optimizer(spec)
        except ValueError as exc:
            raise ValueError(f"--against {spec!r}: {' '.join(str(exc).split())}") from None
    return list(specs)


def print_members(result: Any) -> None:
    """The members' final figures as a rich table, best first: figure, test figure, final rate, seed, copies."""
    from rich.table import Table

    frame = result.table()
    table = Table(title=f"{result.task.name}: PBT, {len(frame)} members", caption=result.ranking.describe())
    for name in frame.columns:
        table.add_column(str(name), justify="right")
    for row in frame.to_dict("records"):
        table.add_row(*(_fmt(v) if isinstance(v, float) else str(v) for v in row.values()))
    _console().print(table)
