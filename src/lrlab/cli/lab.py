"""`lrlab compare` (train a task under several schedules, show a leaderboard) and `lrlab runs` (the run store).

torch, pandas and rich are imported inside the command functions, so `lrlab list` stays light.
Options are read here as strings and checked with lrlab._check, so a bad value gives one line, not a usage dump.
"""

from __future__ import annotations

import argparse
import ast
import math
import shlex
import sys
from typing import Any

from .. import _check, _paths
from .output import check_writable, command_line, need_lab, say

DEFAULT_DB = str(_paths.DEFAULT_DB)
MAX_SEEDS = 10_000  # seeds per schedule
MAX_THREADS = 4096
MAX_RUN_ID = 2**63 - 1  # SQLite's largest integer
DB_HELP = ("the run store: an SQLite file, or a database URL (sqlite:///FILE, postgresql://USER@HOST:PORT/NAME "
           "for many machines)")


def register(sub: Any) -> None:
    """Add the compare and runs subcommands to the `lrlab` parser."""
    p = sub.add_parser(
        "compare",
        help="train a task under several schedules and rank them",
        description="Train TASK under every SPEC (and seed), store every run, print a leaderboard ranked by the final "
        "validation metric (mean over seeds; the test metric beside it does not rank; the final training loss for a "
        "task without a validation split). "
        'A SPEC may end in "@plateau(factor=0.5,patience=10,min_lr=1e-5)" to put a plateau-controlled run '
        "into the comparison; --plateau applies one to every SPEC without its own. A SPEC may end in an optimizer of "
        'its own, e.g. "constant(0.003)@adamw_sf(warmup_steps=60)", to rank it beside the scheduled runs.',
    )
    p.add_argument("task", help="a task name (line, or3, quantiles, digits, mnist1d, mnist1d_cnn, mnist, tinylm, ...), "
                   "or your own training function: path/to/train.py:NAME or package.module:NAME")
    p.add_argument("specs", nargs="+", metavar="SPEC", help='a schedule spec, e.g. "cosine(0.05)" or "0.01"')
    p.add_argument("--optimizer", default=None,
                   help="sgd, adam, adamw, or schedule-free sgd_sf, adamw_sf (default: the task's)")
    p.add_argument("--momentum", default=None, help="optimizer momentum (sgd)")
    p.add_argument("--weight-decay", default=None, help="optimizer weight decay")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="any other optimizer option, e.g. --opt betas=(0.9,0.99), --opt warmup_steps=60 "
                   "(sgd_sf, adamw_sf); repeatable")
    p.add_argument("--epochs", default=None, help="epochs per run (default: the task's)")
    p.add_argument("--steps", default=None, metavar="N",
                   help="a budget of N optimizer steps per run instead of --epochs (the last epoch may be partial)")
    p.add_argument("--batch-size", default=None, help='batch size, or "full" for full-batch (default: the task\'s)')
    p.add_argument("--seeds", default="1", help="number of seeds per schedule (0, 1, ..., N-1; default 1)")
    p.add_argument("--plateau", default=None, metavar="OPTIONS",
                   help='reduce on plateau for every SPEC, e.g. "factor=0.5, patience=10, min_lr=1e-5" '
                   "(spec grammar: strings quoted). It watches val_loss; to watch accuracy: "
                   "\"monitor='val_accuracy', mode='max', patience=2\"")
    p.add_argument("--target", default=None,
                   help="target of epochs_to_target: a val accuracy (or a val loss for tasks without accuracy)")
    p.add_argument("--out", default=None, metavar="DIR", help="write runs.csv, history.csv, report.html here")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"{DB_HELP} (default {DEFAULT_DB})")
    p.add_argument("--fresh", action="store_true", help="train again even when a stored run matches")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="local data for tasks that take one (mnist)")
    p.add_argument("--text", default=None, metavar="PATH", help="a text file to train on (tinylm; at most 256 MiB)")
    p.add_argument(
        "--threads",
        default="1",
        help="torch CPU threads (default 1: fastest for the small built-in models; raise it for big ones)",
    )
    p.add_argument("--engine", default="auto",
                   help="auto (stack the runs when more than one is to be trained, the model can be stacked and "
                   "a few timed steps of each engine found stacking faster: timed once per task, stack size and "
                   "device, kept in the store), stacked or sequential (default auto)")
    p.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda (default auto)")
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the task's)")
    p.add_argument("--max-stack", default=None, metavar="K",
                   help="at most K runs per stack (default: as many as fit in half the free memory)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--workers", default="1", metavar="N",
                   help="worker processes for a training function's runs, each taking the next free run (default 1)")
    p.add_argument("--devices", default=None, metavar="IDS",
                   help="GPU ids for the workers, e.g. 0,1 (each worker gets one: CUDA_VISIBLE_DEVICES)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "find",
        help="the learning-rate range test on a task: suggestions and ready specs",
        description="Train TASK's model for --steps updates while the rate rises from --start to --end (stopping "
        "early when the smoothed loss passes 4x its best), once per seed; show the curves, each rule's suggestion "
        "(valley, steep, minimum, slide, gradient) with its spread over the seeds, and specs ready for "
        "`lrlab compare`.",
    )
    p.add_argument("task", help="a task name (quantiles, digits, mnist1d, ...), or your own training function: "
                   "path/to/train.py:NAME or package.module:NAME (it must declare steps_per_epoch)")
    p.add_argument("--optimizer", default=None,
                   help="sgd, adam, adamw, sgd_sf or adamw_sf (default: the task's)")
    p.add_argument("--start", default="1e-7", help="the first rate (default 1e-7)")
    p.add_argument("--end", default="10", help="the last rate (default 10)")
    p.add_argument("--steps", default="100", help="updates (default 100)")
    p.add_argument("--seeds", default="3", help="seeds 0..N-1 (default 3)")
    p.add_argument("--linear", action="store_true", help="a linear rise (default: exponential)")
    p.add_argument("--batch-size", default=None, help='batch size, or "full" (default: the task\'s)')
    p.add_argument("-o", "--output", default=None, help="also write the picture (.png, .svg or .pdf)")
    p.add_argument("--data-dir", default=None, metavar="DIR", help="local data for tasks that take one (mnist)")
    p.add_argument("--text", default=None, metavar="PATH", help="a text file to train on (tinylm; at most 256 MiB)")
    p.add_argument("--threads", default="1", help="torch CPU threads (default 1)")
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("runs", help="list stored runs; `lrlab runs show ID` prints one")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"{DB_HELP} (default {DEFAULT_DB})")
    p.add_argument("--task", default=None, help="only runs of this task")
    p.add_argument("--limit", default=None, help="at most this many (newest first)")
    p.set_defaults(func=cmd_runs)
    runs_sub = p.add_subparsers(dest="runs_command", metavar="show ID")
    s = runs_sub.add_parser("show", help="print one stored run")
    s.add_argument("run_id", metavar="ID")
    s.add_argument("--db", default=argparse.SUPPRESS, metavar="DB", help=DB_HELP)
    s.add_argument("--all", action="store_true", help="every epoch of the history (default: first and last 10)")
    s.set_defaults(func=cmd_show)


# -- option parsing -------------------------------------------------------------------------------
def _int(option: str, text: str | None, low: int = 1, high: int = _check.MAX_STEPS) -> int | None:
    """A whole-number option in [low, high] (lrlab._check.whole), or None when not given."""
    if text is None:
        return None
    try:
        value: Any = int(text)
    except ValueError:  # not digits (or past Python's digit limit): whole() names the option and the text
        value = text
    return _check.whole("", option, value, low, high)


def _float(option: str, text: str | None, low: float = -math.inf) -> float | None:
    """A finite-number option >= low (lrlab._check.number), or None when not given."""
    if text is None:
        return None
    try:
        value: Any = float(text)
    except ValueError:
        value = text
    return _check.number("", option, value, low)


def _target(args: argparse.Namespace) -> Any:
    """The task argument: a registered task (with --data-dir / --text), or a training function named as
    path/to/train.py:NAME or package.module:NAME (imported now: the only code the command imports)."""
    from ..lab.tasks.experiment import is_reference, load
    from ..lab.tasks.task import get_task

    if not is_reference(args.task):
        return get_task(args.task, **_task_options(args))
    refused = (("--data-dir", "data_dir", "reads its own data"), ("--text", "text", "reads its own data"),
               ("--batch-size", "batch_size", "batches its own data"), ("--dtype", "dtype", "picks its own dtype"))
    for option, name, why in refused:
        if getattr(args, name, None) is not None:
            raise ValueError(f"{option} is an option of built-in tasks; {args.task} {why}")
    return load(args.task)


def _devices(text: str | None) -> list[str] | None:
    """--devices: comma-separated GPU ids ("0,1"), or None."""
    if text is None:
        return None
    ids = [part.strip() for part in text.split(",")]
    if not ids or not all(part.isdigit() for part in ids):
        raise _check.fail("", "--devices", "GPU ids separated by commas, e.g. 0,1", text)
    return ids


def _batch_size(text: str | None) -> Any:
    """--batch-size: the task's (not given), None for "full" (full batch), or a whole number >= 1."""
    from ..lab.options import TASK_DEFAULT

    if text is None:
        return TASK_DEFAULT
    if text.strip().lower() == "full":
        return None
    return _int("--batch-size", text)


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The task's options from --data-dir (mnist) and --text (tinylm); a task that takes neither says so."""
    options = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}
    if getattr(args, "text", None) is not None:  # not every command takes --text (tune does not)
        options["text"] = args.text
    return options


def _study_parameters() -> set[str]:
    """The names the studies take themselves (compare, tune, cooldowns, find_lr, pbt): an --opt of one of these would
    collide with the study's own keyword instead of reaching the optimizer."""
    import inspect

    from ..lab import compare, cooldowns, find_lr, pbt, tune

    studies = (compare, tune, cooldowns, find_lr, pbt)
    return {name for fn in studies for name, p in inspect.signature(fn).parameters.items()
            if p.kind is not p.VAR_KEYWORD}


def _optimizer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.momentum is not None:
        out["momentum"] = _float("--momentum", args.momentum)
    if args.weight_decay is not None:
        out["weight_decay"] = _float("--weight-decay", args.weight_decay)
    if args.nesterov:
        out["nesterov"] = True
    for item in args.opt:
        if "=" not in item:
            raise ValueError(f"--opt takes KEY=VALUE, got {item!r}")
        key, raw = (s.strip() for s in item.split("=", 1))
        if not key.isidentifier():
            raise ValueError(f"--opt: bad option name {key!r}")
        if key in _study_parameters():
            raise ValueError(f"--opt {key}: not an optimizer option (it is the command's own: use its option, e.g. "
                             f"--{key.replace('_', '-')})")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError(f"--opt {key}: cannot read {_check.shown(raw)} as a value (give a number, True/False "
                             "or a tuple such as (0.9, 0.99))") from None
        out[key] = value
    return out


def _console() -> Any:
    from .output import console

    return console()


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _pm(mean: Any, std: Any) -> str:
    text = _fmt(mean)
    if isinstance(std, float) and not math.isnan(std):
        text += f" ± {std:.2g}"
    return text


# -- compare --------------------------------------------------------------------------------------
def cmd_compare(args: argparse.Namespace) -> int:
    """Train a task under several schedules (and seeds), store every run and print a leaderboard.

    The leaderboard ranks by the final validation metric (mean over seeds: val_accuracy, val_bpb or val_loss; the
    final training loss for a task without a validation split, as its caption says) and shows the test metric
    beside it, which does not rank (lrlab.lab.ranking).

    Every option is checked before torch is imported, so a typo fails fast with exit status 2. Runs already in the
    store (--db, default lrlab-runs/runs.db) with the same configuration are reused unless --fresh; the others train
    (stacked into one model when --engine auto finds more than one and stacking the model pays). A SPEC may end in
    `@plateau(...)` or in an optimizer of its own (`@adamw_sf(...)`); --epochs or --steps (optimizer steps) set the
    budget; --target adds the first epoch (with --steps: the steps at its end) where each schedule reached a val
    accuracy (or a val loss for tasks without accuracy); --out writes runs.csv, history.csv, leaderboard.csv and
    report.html.

    Examples:
        $ lrlab compare or3 "constant(0.5)" "cosine(0.5)" --epochs 3 --seeds 2
        $ lrlab compare mnist1d "one_cycle(0.05)" "wsd(0.05)@plateau(factor=0.5, patience=5)" --target 0.6 --out out/
    """
    from ..lab.engines.train import DEVICES
    from ..lab.studies.compare import ENGINES, compare, split_entry
    from ..lab.tasks.task import DTYPES, OPTIMIZERS
    from ..plateau import Plateau

    # Check every option before importing torch, so a typo costs no startup time.
    task = _target(args)
    for spec in args.specs:
        split_entry(spec)
    Plateau.from_options(args.plateau)
    if args.out:
        check_writable("--out", args.out, directory=True)
    from ..lab.store import Store

    with Store(args.db) as store:  # the store checks itself at open (writable, not damaged, not another program's)
        db_name = store.name  # a URL's password hidden
    epochs = _int("--epochs", args.epochs)
    steps = _int("--steps", args.steps)
    if epochs is not None and steps is not None:
        raise ValueError("--epochs and --steps are exclusive (a run's length is one or the other)")
    batch_size = _batch_size(args.batch_size)
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    target = _float("--target", args.target)
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    engine = _check.choice("", "--engine", args.engine, ENGINES)
    device = _check.choice("", "--device", args.device, DEVICES)
    dtype = None if args.dtype is None else _check.choice("", "--dtype", args.dtype, DTYPES)
    max_stack = _int("--max-stack", args.max_stack)
    workers = _int("--workers", args.workers, high=512)
    devices = _devices(args.devices)
    opt_kwargs = _optimizer_kwargs(args)
    if args.optimizer is not None and args.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    n_runs = len(args.specs) * (seeds or 1)
    print(f"training {n_runs} run{'s' if n_runs != 1 else ''} of {task.name}…", file=sys.stderr, flush=True)
    need_lab("compare", "pandas", "rich", "torch")
    import torch
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        comparison = compare(
            task, args.specs, seeds=seeds, optimizer=args.optimizer, epochs=epochs, steps=steps, batch_size=batch_size,
            plateau=args.plateau, db=args.db, fresh=args.fresh, progress=not args.no_progress, target=target,
            engine=engine, device=device, dtype=dtype, max_stack=max_stack, workers=workers, devices=devices,
            **opt_kwargs,
        )
    except OSError as exc:
        raise ValueError(str(exc)) from None
    print_leaderboard(comparison)
    if args.out:
        argv = getattr(args, "argv", None)  # what main() was given
        command = command_line(argv)  # database URLs' passwords hidden
        for path in write_outputs(comparison, args.out, command):
            print(f"wrote {path}")
    trained = sum(1 for r in comparison.runs if not r.reused)
    print(f"{len(comparison.runs)} runs ({trained} trained, {len(comparison.runs) - trained} reused) in {db_name}")
    return 0


def write_outputs(comparison: Any, out: str, command: str | None = None) -> list[Any]:
    """runs.csv, history.csv, leaderboard.csv and report.html (lrlab.viz.report)."""
    import warnings
    from pathlib import Path

    from ..viz.report import write_report

    with warnings.catch_warnings():  # a stale report.html is replaced right below
        warnings.simplefilter("ignore")
        paths = comparison.write(out)
    report = Path(out) / "report.html"
    write_report(comparison, report, command=command)
    return [*paths, report]


FOLDED = 32
"""The width a long schedule name folds to on a narrow terminal before the leaderboard drops a column."""


def print_leaderboard(comparison: Any) -> None:
    """The leaderboard as a rich table on stdout: the ranked figure first (`comparison.ranking`: the final
    validation figure, or the training loss without a validation split), the test figures beside it, and a status
    (diverged, failed, no progress) per schedule; the caption says what it is ranked by and what the target counts.

    It fits the console's width (`output.fit`): the schedule column is never cut (it folds), and the less important
    columns go first (wall_s, test_loss, the best figure, the way to the target, the test figure). Each figure
    column has one precision (`output.decimals`). Below it, one line per schedule that learned nothing
    (`Comparison.flags`) and per failed run."""
    from rich.table import Table

    from .output import decimals, fit, number, pm

    board = comparison.leaderboard
    rank = comparison.ranking
    target = comparison.resolved_target()
    best_col = next((c for c in board.columns if c.startswith("best_") and not c.endswith("_std")), None)
    to_target = comparison.target_column
    what = "steps at the end of the first epoch" if to_target == "steps_to_target" else "first epoch"
    higher = best_col is not None and best_col[5:] == rank.metric and rank.higher_is_better
    rows = board.to_dict("records")
    places = {c: decimals(board[c]) for c in board.columns if c in (rank.column, rank.test, "test_loss", best_col)}
    ways = [v for v in board[to_target].tolist() if math.isfinite(v)] if to_target in board else []
    places[to_target] = 0 if all(float(v).is_integer() for v in ways) else 1  # a mean over seeds: 6.5
    captions = [rank.describe(),
                f"{to_target}: {what} with {best_col[5:] if best_col else rank.metric} {'>=' if higher else '<='} "
                f"{_fmt(target)}, mean over the seeds that reached it (reached)",
                "wall_s: training seconds per run, mean over seeds (runs trained as one stack share its time "
                "equally)"]
    optional = [c for c in comparison.shown_columns(board) if c not in (rank.column, "reached")]
    status = comparison.status

    def cell(row: dict[str, Any], name: str) -> list[str]:
        if name == to_target:
            return [number(row.get(to_target), places[to_target]), row.get("reached", "-")]
        if name == "wall_s":
            return [f"{row.get('wall_s', 0):.2f}"]
        return [pm(row.get(name), row.get(f"{name}_std"), places[name])]

    def build(shown: list[str]) -> Any:
        names = [rank.column, *(c for c in optional if c in shown)]
        table = Table(title=f"{comparison.task.name}: {len(comparison.runs)} runs", caption_justify="left",
                      caption="\n".join(
            line for line in captions if (to_target in shown or not line.startswith(to_target))
            and ("wall_s" in shown or not line.startswith("wall_s"))))
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("schedule", justify="left", overflow="fold", min_width=8)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True)
            if name == to_target:
                table.add_column("reached", justify="right", no_wrap=True)
        table.add_column("status", justify="left", max_width=15)  # "1/2 diverged," over "1/2 no progress"
        for i, row in enumerate(rows, 1):
            cells = [str(i), row["schedule"]]
            for name in names:
                cells += cell(row, name)
            table.add_row(*cells, status(row))
        return table

    longest = max((len(str(row["schedule"])) for row in rows), default=0)
    _console().print(fit(build, optional, slack=max(0, longest - FOLDED)))
    spreads = [row.get(f"{rank.column}_std") for row in rows if row.get("runs", 1) > 1]
    if spreads and all(s == 0 for s in spreads):  # once, not a "± 0" to puzzle over on every row
        say(f"every schedule's seeds gave the same {rank.column}: nothing in task {comparison.task.name!r} "
            "depends on the seed here, so the ± is 0")
    for line in comparison.flags():  # one line each, however long: a record to grep, as "failed:" below
        print(line)
    for line in comparison.noise_lines():  # is the order more than the seeds' noise? (lrlab.lab.ties)
        say(line)
    for run in comparison.runs:  # a training function that raised: what it said, one line a run
        if run.status == "failed":
            print(f"failed: {run.label} seed {run.seed}: {run.error}")


# -- find -----------------------------------------------------------------------------------------
def cmd_find(args: argparse.Namespace) -> int:
    """Run the learning-rate range test on a task and print each rule's suggestion with ready specs.

    The task's model trains for --steps updates (optimizer steps, default 100) while the rate rises from --start to
    --end (exponentially, or linearly with --linear), once per seed (--seeds, default 3), stopping early when the
    smoothed loss passes 4x its best. It prints the curves, the suggestions of the rules valley, steep, minimum,
    slide and gradient with their spread over the seeds, and specs ready for `lrlab compare`; -o writes the picture.
    TASK may be a training function of the user's (path/to/train.py:NAME): the sweep is handed to it as its
    schedule, and the lab stops it inside run.log_step (lrlab.lab.studies.find.find_function).

    Examples:
        $ lrlab find digits
        $ lrlab find mnist1d --steps 200 --seeds 5 --optimizer adam -o find.png
        $ lrlab find path/to/train.py:my_model --start 1e-5 --end 10 --steps 200
    """
    from ..lab.tasks.experiment import Experiment
    from ..lab.tasks.task import OPTIMIZERS
    from ..rangetest import Settings

    task = _target(args)
    function = isinstance(task, Experiment)
    start, end = _float("--start", args.start), _float("--end", args.end)
    steps = _int("--steps", args.steps, low=1)
    if start is None or end is None or steps is None:
        raise ValueError("--start, --end and --steps need values")
    try:
        Settings(start, end, steps, "linear" if args.linear else "exp")
    except ValueError as exc:
        text = str(exc).removeprefix("find_lr: ")
        for name, option in (("start_lr", "--start"), ("end_lr", "--end"), ("steps", "--steps")):
            text = text.replace(name, option)
        raise ValueError(text) from None
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    batch_size = _batch_size(args.batch_size)
    if args.optimizer is not None and args.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {args.optimizer!r}")
    if args.output:
        from ..viz._figure import check_suffix

        check_suffix(args.output)
        check_writable("-o", args.output, directory=False)
    print(f"range test on {task.name}: {seeds} seed{'s' if seeds != 1 else ''}, {steps} steps…", file=sys.stderr,
          flush=True)
    need_lab("find", "torch")
    import torch

    from ..lab.studies.find import find_lr
    from ..viz.terminal import preview_find

    if threads is not None:
        torch.set_num_threads(threads)
    options = {} if function else {"batch_size": batch_size}
    found = find_lr(task, seeds=seeds, optimizer=args.optimizer, start_lr=start, end_lr=end, steps=steps,
                    mode="linear" if args.linear else "exp", **options)
    stops = [r.stopped for r in found.runs]
    print(f"{found.label}; stopped early: {sum(s is not None for s in stops)} of {len(stops)} seeds "
          f"(at update {', '.join(str(len(r.lrs)) for r in found.runs)})")
    print(preview_find(found))
    specs = found.specs("valley")
    if specs:
        print("\nready specs at the valley rate" + ("" if function else f" (task default: {task.lr:g})") + ":")
        for spec in specs:
            print(f"  {spec}")
        optimizer = f" --optimizer {args.optimizer}" if args.optimizer else ""
        optimizer += f" --batch-size {shlex.quote(args.batch_size)}" if args.batch_size else ""
        quoted = " ".join(shlex.quote(s) for s in [*specs, *([] if function else [f"constant({task.lr:g})"])])
        print(f"  lrlab compare {shlex.quote(args.task) if function else task.name} {quoted}{optimizer} --seeds 3")
    if args.output:
        found.plot(args.output)
        print(f"wrote {args.output}")
    return 0


# -- runs -----------------------------------------------------------------------------------------
def _shown(db: str) -> str:
    """How a store is shown (lrlab.lab.store.display_name: a URL's password hidden), imported when needed."""
    from ..lab.store import display_name as shown

    return shown(db)


def _store(db: str) -> Any:
    from ..lab.store import Store, sqlite_path

    file = sqlite_path(db)
    if file is not None and not file.exists():
        return None
    return Store(db, readonly=True)  # listing writes nothing: a read-only store lists too


def cmd_runs(args: argparse.Namespace) -> int:
    """List the runs in the store as a table, newest first.

    Each row shows the run's id, creation time, task, schedule, optimizer, epochs, batch size, seed, status, test
    accuracy and loss and wall time; --task keeps one task's runs and --limit the newest N. A store that does not
    exist yet prints "no runs stored" (nothing is created). The ids are what `lrlab runs show` and
    `lrlab forecast --fit` take.

    Examples:
        $ lrlab runs
        $ lrlab runs --task or3 --limit 5 --db lrlab-runs/runs.db
    """
    from rich.table import Table

    limit = _int("--limit", args.limit)
    store = _store(args.db)
    if store is None:
        print(f"no runs stored in {_shown(args.db)}")
        return 0
    with store:
        rows = store.summaries(task=args.task, limit=limit)
    if not rows:  # store.name: a URL's password hidden
        print(f"no runs stored in {store.name}" + (f" for task {args.task!r}" if args.task else ""))
        return 0
    from .output import fit

    cells = {
        "id": lambda r: str(r["id"]), "created": lambda r: r["created"], "task": lambda r: r["task"],
        "schedule": lambda r: r["schedule"], "optimizer": lambda r: str(r["optimizer"]),
        "epochs": lambda r: str(r["epochs"]),
        "batch": lambda r: "full" if r["batch_size"] is None else str(r["batch_size"]),
        "seed": lambda r: str(r["seed"]), "status": lambda r: r["status"],
        "test_accuracy": lambda r: _fmt(r["metrics"].get("test_accuracy")),
        "test_loss": lambda r: _fmt(r["metrics"].get("test_loss")), "wall_s": lambda r: f"{r['wall_s']:.2f}",
    }
    always = ("id", "task", "schedule", "seed", "status")
    optional = ["test_accuracy", "test_loss", "optimizer", "epochs", "batch", "wall_s", "created"]  # kept first

    def build(shown: list[str]) -> Any:  # the schedule folds; the less important columns go first (`output.fit`)
        table = Table(title=f"{len(rows)} runs in {store.name}")
        names = [n for n in cells if n in always or n in shown]
        for name in names:
            table.add_column(name, justify="left" if name in ("created", "task", "schedule", "optimizer", "status")
                             else "right", overflow="fold" if name == "schedule" else "ellipsis",
                             no_wrap=name != "schedule", min_width=8 if name == "schedule" else None)
        for r in rows:
            table.add_row(*(cells[name](r) for name in names))
        return table

    longest = max(len(str(r["schedule"])) for r in rows)
    _console().print(fit(build, optional, slack=max(0, longest - FOLDED)))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print one stored run: its configuration, final metrics and training history.

    The configuration is printed as JSON, the metrics one per line, and the per-epoch history (first and last 10
    epochs unless --all). An id that is not in the store, or a store that does not exist, exits with status 2.

    Examples:
        $ lrlab runs show 12
        $ lrlab runs show 12 --all --db lrlab-runs/runs.db
    """
    import json

    import pandas as pd

    run_id = _int("ID", args.run_id, low=0, high=MAX_RUN_ID)
    store = _store(args.db)
    if store is None:
        raise ValueError(f"no run store at {_shown(args.db)!r}")
    with store:
        run = store.get(run_id)
    print(f"run {run.id} ({run.created}): {run.task} {run.label} seed {run.seed}: {run.status}, "
          f"{run.wall_s:.2f} s")
    print("config: " + json.dumps(run.config, indent=2, sort_keys=True))
    print("metrics:")
    for key, value in run.metrics.items():
        print(f"  {key}: {_fmt(value, 6)}")
    print(f"history ({len(run.history)} epochs, {len(run.step_lr)} steps):")
    history = run.history
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.6g}".format):
        if args.all or len(history) <= 20:
            print(history.to_string(index=False))
        else:
            lines = pd.concat([history.head(10), history.tail(10)]).to_string(index=False).splitlines()
            # the gap where it is: a marker row between the first 10 epochs and the last 10
            print("\n".join([*lines[:11], f"  ... {len(history) - 20} epochs not shown (--all shows every epoch)",
                             *lines[11:]]))
    return 0
