"""`lrlab tune`: search a space of schedules on a task with Optuna, confirm the best on fresh seeds.

Options are read here as strings and checked before any training; torch, optuna and rich are imported inside the
command function.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import _check, _paths
from .lab import FOLDED, MAX_SEEDS, MAX_THREADS, _batch_size, _console, _int, _optimizer_kwargs, write_outputs
from .output import check_writable, command_line, need_lab, say

DEFAULT_STORAGE = str(_paths.DEFAULT_STORAGE)
SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("fair", "asha", "hyperband", "median", "none")


def register(sub: Any) -> None:
    """Add the tune subcommand to the `lrlab` parser."""
    p = sub.add_parser(
        "tune",
        help="search for the schedule that trains a task best (Optuna), confirmed on fresh seeds",
        description="Search SPACE (default: constant, step, exponential, cosine with warmup, one_cycle and wsd "
        "around the task's rate) for the schedule with the best validation metric after --epochs epochs. Trials "
        "train in batches as one stacked model; Optuna's pruner stops poor ones early (the default, fair, judges a "
        "trial at each rung by a short cooldown branched from it, so late decays are not pruned before their "
        "decay). The objective is the validation accuracy with ties broken by the validation loss. One seed's best "
        "trial is partly luck, so the --confirm best trials "
        "train again on --seeds fresh seeds with the full budget: that leaderboard, ranked by the mean validation "
        "metric with the test metric beside it, is the answer. The same "
        "command with the same --storage and --study on another machine joins the search.",
    )
    p.add_argument("task", help="a task name (quantiles, digits, mnist1d, ...), or your own training function: "
                   "path/to/train.py:NAME or package.module:NAME (give --space, or --peak-from-find)")
    p.add_argument("--space", default=None,
                   help="the search space: specs with distributions in place of numbers, branches separated by |, "
                   "e.g. \"one_cycle(loguniform(1e-3, 1)) | wsd(loguniform(1e-3, 1), decay=choice('linear', "
                   "'1-sqrt'))\"; distributions: loguniform, uniform, int, logint, choice")
    p.add_argument("--trials", default="64", help="finished trials of the study, however many workers (default 64)")
    p.add_argument("--epochs", default=None, help="epochs per trial (default: the task's)")
    p.add_argument("--sampler", default="tpe", help="tpe, random or cmaes (default tpe)")
    p.add_argument("--pruner", default="fair",
                   help="fair (successive halving judging each trial at a rung by a short cooldown branched from "
                   "it, so late decays are not pruned before their decay), asha (successive halving at equal "
                   "epochs), hyperband, median or none (default fair)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, metavar="URL",
                   help=f"an SQLite file or URL, or postgresql://... for many machines (default {DEFAULT_STORAGE})")
    p.add_argument("--study", default=None,
                   help="the study's name (default: the task's name and a digest of the space, epochs, seed and run "
                   "options: the same command resumes its study)")
    p.add_argument("--workers", default="1", help="worker processes on this machine (default 1)")
    p.add_argument("--batch", default="16", metavar="K",
                   help="trials trained together as one stack (default 16; at most 1024, and --batch x --forecast at "
                   "most 1024: the trials a worker asks at once)")
    p.add_argument("--confirm", default="5", metavar="K", help="best trials to confirm (default 5)")
    p.add_argument("--seeds", default="5", metavar="S", help="fresh seeds per confirmed trial (default 5)")
    p.add_argument("--no-confirm", action="store_true", help="skip the confirmation (the best trial is the answer)")
    p.add_argument("--forecast", default="0", metavar="M",
                   help="fit a loss law (multi-power) to 3 runs at the space's centre rate, then per batch ask M x "
                   "--batch candidates and train only the --batch with the lowest forecast training loss (the others "
                   "are told pruned and do not count in --trials); when the law does not fit the task, a WARNING "
                   "and the plain search (default 0: off)")
    p.add_argument("--peak-from-find", action="store_true",
                   help="centre the default space on `lrlab find`'s valley rate instead of the task's rate")
    p.add_argument("--seed", default="0", help="the trials' seed (default 0; confirmation uses the next S)")
    p.add_argument("--optimizer", default=None,
                   help="sgd, adam, adamw, or schedule-free sgd_sf, adamw_sf (default: the task's)")
    p.add_argument("--batch-size", default=None, help='batch size, or "full" (default: the task\'s)')
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write the confirmation's report and the study's plots here")
    p.add_argument("--threads", default="1", help="torch CPU threads per worker (default 1)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda (default auto)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="local data for tasks that take one (mnist)")
    p.add_argument("--no-progress", action="store_true", help="no live view")
    p.set_defaults(func=cmd_tune, momentum=None, weight_decay=None, nesterov=False, opt=[])


def cmd_tune(args: argparse.Namespace) -> int:
    """Search for the schedule that trains a task best with Optuna, then confirm the best trials on fresh seeds.

    Trials sample SPACE (default: constant, step, exponential, cosine with warmup, one_cycle and wsd around the task's
    rate), train --epochs epochs in batches stacked as one model, and Optuna's pruner (--pruner) stops poor ones
    early (the default, fair, judges a trial at each rung by a short cooldown branched from it, so schedules that
    decay late are not pruned before their decay). One seed's best trial is partly luck, so the --confirm best
    trials train again on --seeds fresh seeds with the full budget: that leaderboard, ranked by the mean validation
    metric with the test metric beside it, is the answer. The study lives
    in --storage (SQLite by default, postgresql://... for many machines); the same command resumes it, and the same
    --storage and --study on another machine joins it. TASK may be a training function of the user's
    (path/to/train.py:NAME): its trials call it one after another, pruned inside it (lrlab.lab.studies.tune_function).

    Examples:
        $ lrlab tune or3 --trials 16 --epochs 3 --confirm 2 --seeds 2
        $ lrlab tune mnist1d --space "wsd(loguniform(1e-3, 1), decay=choice('linear', '1-sqrt'))" --workers 2
        $ lrlab tune mnist1d --storage postgresql://user@host/db --study shared --workers 4
        $ lrlab tune path/to/train.py:my_model --space "cosine(loguniform(1e-3, 1))" --trials 32 --workers 2
    """
    from ..lab.engines.train import DEVICES
    from ..lab.studies.space import Space
    from ..lab.studies.tune import MAX_ASK
    from ..lab.tasks.experiment import Experiment
    from ..lab.tasks.task import OPTIMIZERS
    from .lab import _target

    task = _target(args)  # a task (with --data-dir), or a training function (which refuses --batch-size, ...)
    if args.space is not None:
        Space(args.space)
    elif isinstance(task, Experiment) and not args.peak_from_find:
        raise ValueError(f"{args.task} has no default rate to centre a space on: give --space, or --peak-from-find")
    trials = _int("--trials", args.trials)
    epochs = _int("--epochs", args.epochs)
    workers = _int("--workers", args.workers, high=512)
    batch = _int("--batch", args.batch, high=MAX_ASK)
    confirm = 0 if args.no_confirm else _int("--confirm", args.confirm, low=0)
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    seed = _int("--seed", args.seed, low=0, high=2**31)
    forecast = _int("--forecast", args.forecast, low=0, high=1000)
    if forecast == 1:
        raise ValueError("--forecast must be 0 (off) or candidates per trained trial >= 2, got 1")
    if batch and forecast and batch * forecast > MAX_ASK:
        raise ValueError(f"--batch x --forecast (the trials a worker asks at once) must be at most {MAX_ASK}, got "
                         f"{batch} x {forecast} = {batch * forecast}")
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    sampler = _check.choice("", "--sampler", args.sampler, SAMPLERS)
    pruner = _check.choice("", "--pruner", args.pruner, PRUNERS)
    device = _check.choice("", "--device", args.device, DEVICES)
    batch_size = _batch_size(args.batch_size)
    if args.optimizer is not None and args.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    if args.study is not None and not args.study.strip():
        raise ValueError("--study needs a name")
    if args.out:
        check_writable("--out", args.out, directory=True)
    if "://" not in args.storage:
        check_writable("--storage", args.storage, directory=False)
    need_lab("tune", "optuna", "torch")
    import torch

    from ..lab.store import display_name
    from ..lab.studies.tune import tune

    if threads is not None:
        torch.set_num_threads(threads)
    print(f"tuning {task.name}: {trials} trials in {display_name(args.storage)}"
          f"{f' with {workers} workers' if workers and workers > 1 else ''}…", file=sys.stderr, flush=True)
    more = {} if isinstance(task, Experiment) else {"batch_size": batch_size}
    try:
        result = tune(task, args.space, trials=trials, epochs=epochs, storage=args.storage, study=args.study,
                      workers=workers, sampler=sampler, pruner=pruner, confirm=confirm, seeds=seeds, batch=batch,
                      seed=seed, peak_from_find=args.peak_from_find, optimizer=args.optimizer, device=device,
                      progress=not args.no_progress, threads=threads, forecast=forecast or 0, **more,
                      **_optimizer_kwargs(args))
    except KeyboardInterrupt:  # Ctrl-C: lrlab.lab.studies.tune's workers tell their running trials FAIL first
        print(f"lrlab tune: interrupted: finished trials kept in {display_name(args.storage)}, running ones marked "
              "failed; the same command resumes the study", file=sys.stderr)
        return 130
    if result.leaderboard is not None:
        print_confirmed(result)
    print(f"study {result.study.study_name!r} in {display_name(args.storage)}: {_summary(result.trials)}")
    if args.out:
        argv = getattr(args, "argv", None)
        command = command_line(argv)  # database URLs' passwords hidden
        from ..viz.tune_plots import write_tune_plots

        paths = write_outputs(result.comparison, args.out, command) if result.comparison is not None else []
        Path(args.out).mkdir(parents=True, exist_ok=True)  # --no-confirm: write_outputs did not make it
        result.trials.to_csv(f"{args.out}/trials.csv", index=False)
        plots, skipped = write_tune_plots(result.study, args.out)
        if result.comparison is not None:  # the search's own report, over the comparison's
            from ..viz.report import write_tune_report

            write_tune_report(result, Path(args.out) / "report.html", command, pictures=plots)
        for path in [*paths, f"{args.out}/trials.csv", *plots]:
            print(f"wrote {path}")
        for line in skipped:
            print(line, file=sys.stderr)
    print("best spec (confirmed):" if result.leaderboard is not None else "best spec (not confirmed):")
    print(result.best_spec)
    return 0


def _summary(trials: Any) -> str:
    skipped = trials["status"] == "forecast" if len(trials) else []
    counts = trials["state"][~skipped].value_counts().to_dict() if len(trials) else {}
    text = ", ".join(f"{counts.get(state, 0)} {state.lower()}" for state in ("COMPLETE", "PRUNED", "FAIL"))
    return text + (f", {int(skipped.sum())} not trained (forecast)" if len(trials) and skipped.any() else "")


def print_confirmed(result: Any) -> None:
    """The confirmed leaderboard as a rich table on stdout: mean ± std and worst seed of the ranked figure (the final
    validation metric, `Comparison.ranking`), then of the test metric beside it (which does not rank); the caption
    says what it is ranked by. It fits the console's width as `print_leaderboard` does (the schedule folds, the
    search value, the test figure's worst seed and the test figure go first), one precision per column, and ends in
    the same status column (ok, or how many runs diverged, failed or made no progress)."""
    from rich.table import Table

    from .output import decimals, fit, number, pm

    board = result.leaderboard
    rank = result.comparison.ranking
    figures = [c for c in dict.fromkeys([rank.column, rank.test]) if c is not None and c in board]
    places = {c: decimals(board[c]) for c in figures}
    search = decimals(board["search_value"]) if "search_value" in board else 4
    rows = board.to_dict("records")
    keep = [f"{figures[0]} worst", *([figures[1], f"{figures[1]} worst"] if len(figures) > 1 else []),
            "search value"] if figures else ["search value"]  # most important first
    keep = [c for c in keep if not c.endswith(" worst") or f"{c[:-6]}_worst" in board]

    def build(shown: list[str]) -> Any:
        table = Table(title=f"{result.comparison.task.name}: the best {len(board)} trials on "
                      f"{int(board['runs'].max()) if len(board) else 0} fresh seeds", caption=rank.describe(),
                      caption_justify="left")
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("trial", justify="right", no_wrap=True)
        table.add_column("schedule", justify="left", overflow="fold", min_width=8)
        names = [c for c in figures if c == figures[0] or c in shown]
        for c in names:
            table.add_column(c, justify="right", no_wrap=True)
            if f"{c} worst" in shown:
                table.add_column("worst", justify="right", no_wrap=True)
        if "search value" in shown:
            table.add_column("search value", justify="right", no_wrap=True)
        table.add_column("status", justify="left", max_width=15)  # as the leaderboard's: ok, diverged, no progress
        for i, row in enumerate(rows, 1):
            cells = [str(i), str(row["trial"]), row["schedule"]]
            for c in names:
                cells.append(pm(row.get(c), row.get(f"{c}_std"), places[c]))
                if f"{c} worst" in shown:
                    cells.append(number(row.get(f"{c}_worst"), places[c]))
            if "search value" in shown:
                cells.append(number(row.get("search_value"), search))
            table.add_row(*cells, result.comparison.status(row))
        return table

    longest = max((len(str(row["schedule"])) for row in rows), default=0)
    _console().print(fit(build, keep, slack=max(0, longest - FOLDED)))
    for line in result.comparison.flags():  # the confirmed specs that learned nothing, one line each
        print(line)
    for line in result.comparison.noise_lines():  # is the confirmed order more than the seeds' noise?
        say(line)
