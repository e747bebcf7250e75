"""`lrlab forecast`: fit a loss law to a few runs of a task and forecast the final loss of other schedules (issue 14).

Heavy imports (torch, scipy, rich, matplotlib) happen inside the command; bad input is one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import _check
from .lab import DB_HELP, DEFAULT_DB, MAX_RUN_ID, MAX_SEEDS, MAX_THREADS, _int
from .output import check_writable

LAWS = ("multi_power", "tissue")


def register(sub: Any) -> None:
    """Add the forecast subcommand to the `lrlab` parser."""
    p = sub.add_parser(
        "forecast",
        help="fit a loss law to a few runs, forecast other schedules' loss before training them",
        description="Fit a loss law over the learning-rate curve (multi-power: Luo et al. 2025; tissue: Tissue et "
        "al. 2024) to the training-loss curves of the --fit runs (stored run ids, or specs trained now or reused "
        "from the store), then print the forecast final training loss of every --predict schedule. --check trains "
        "the candidates too and prints the error of each forecast; --optimise searches the schedule the fitted law "
        "likes best. When the law does not fit the runs (large in-sample or leave-one-out error) a WARNING says so.",
    )
    p.add_argument("task", nargs="?", default=None,
                   help="a task name (mnist1d, digits, quantiles, ...), or your own training function: "
                   "path/to/train.py:NAME or package.module:NAME (its runs must log their steps: run.log_step); "
                   "optional with --curve")
    p.add_argument("--fit", nargs="+", default=None, metavar="RUN_ID|SPEC",
                   help="the runs to fit: stored run ids (e.g. 12 13 14 or 12,13,14) and/or schedule specs")
    p.add_argument("--curve", nargs="+", default=[], metavar="FILE.csv=SPEC",
                   help="loss curves to fit, given as points: a CSV with columns step and loss (step: the number "
                   "of updates done when the loss was measured; a validation loss every N steps, a paper's curve), "
                   "trained under the schedule SPEC (bound to --steps, or to the file's last step)")
    p.add_argument("--predict", nargs="+", default=[], metavar="SPEC", help="candidate schedules to forecast")
    p.add_argument("--steps", default=None, metavar="N",
                   help="a budget of N optimizer steps for the runs trained here (fitting specs, --check) instead "
                   "of --epochs, and the horizon of the forecasts (default: the length of the runs trained, or of "
                   "the fitting runs; at most 50000: lrlab.lab.studies.forecast.MAX_HORIZON)")
    p.add_argument("--epochs", default=None,
                   help="epochs of the runs trained here (default: the task's); exclusive with --steps")
    p.add_argument("--seeds", default="1", help="seeds per trained schedule (default 1)")
    p.add_argument("--law", default="multi_power", help="multi_power (default) or tissue")
    p.add_argument("--check", action="store_true", help="train the candidates too and print each forecast's error")
    p.add_argument("--optimise", "--optimize", action="store_true",
                   help="print the schedule (wsd, cosine, exponential families) that minimises the forecast loss")
    p.add_argument("--out", default=None, metavar="DIR", help="write forecast.png and forecast.csv here")
    p.add_argument("--db", default=DEFAULT_DB, metavar="DB", help=f"{DB_HELP} (default {DEFAULT_DB})")
    p.add_argument("--threads", default="1", help="torch CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_forecast)


def _fit_items(items: list[str]) -> tuple[list[int], list[str]]:
    """--fit values: run ids (digits, or comma-separated digits) and specs, in that order of kinds."""
    from ..lab.plan import as_schedule

    ids: list[int] = []
    specs: list[str] = []
    for item in items:
        parts = [s.strip() for s in item.split(",")]
        if all(s.isdigit() for s in parts if s) and any(parts):
            ids += [int(_int("--fit run id", s, low=0, high=MAX_RUN_ID) or 0) for s in parts if s]
        else:
            as_schedule(item)  # a spec that does not parse fails here, before any training
            specs.append(item)
    return ids, specs


def cmd_forecast(args: argparse.Namespace) -> int:
    """Fit a loss law to a few runs and forecast other schedules' final training loss before training them.

    The law (--law multi_power, Luo et al. 2025, or tissue, Tissue et al. 2024) is fitted to the training-loss curves
    of the --fit runs (stored run ids, or specs trained now or reused from the store); each --predict schedule gets
    its forecast final training loss at the horizon (--steps optimizer steps; default the length of the runs
    trained, or of the fitting runs).
    --check trains the candidates too and prints each forecast's error; --optimise searches the wsd, cosine and
    exponential families for the schedule the fitted law likes best. A WARNING says when the law does not fit.

    Examples:
        $ lrlab forecast mnist1d --fit "cosine(0.05)" "constant(0.05)" "wsd(0.05)" --predict "one_cycle(0.05)"
        $ lrlab forecast mnist1d --fit 12 13 14 --predict "wsd(0.05, decay='1-sqrt')" --check --out fc/
        $ lrlab forecast path/to/train.py:my_model --fit 21 22 23 --predict "one_cycle(0.05)"
    """
    from pathlib import Path

    from ..schedules import parse
    from .lab import _target

    law = _check.choice("", "--law", args.law, LAWS)
    if not args.fit and not args.curve:
        raise ValueError("--fit is required: the run ids or specs to fit the law to (e.g. --fit 'constant(0.01)' "
                         "'cosine(0.01)' 'wsd(0.01, decay_steps=192)'), or --curve FILE.csv=SPEC")
    if args.task is None and not args.curve:
        raise ValueError("a task is required (mnist1d, path/to/train.py:NAME, ...), or --curve FILE.csv=SPEC")
    if args.task is None and (args.fit or args.check):
        raise ValueError(f"{'--fit' if args.fit else '--check'} trains or reads runs of a task: give the task")
    task = _target(args) if args.task is not None else None  # a task, or a training function (train.py:NAME)
    ids, fit_specs = _fit_items(args.fit or [])
    for spec in args.predict:
        parse(spec)
    from ..lab.studies.forecast import MAX_HORIZON

    steps = _int("--steps", args.steps, low=2, high=MAX_HORIZON)  # the horizon: checked before any allocation
    curves = [read_curve(item, steps) for item in args.curve]
    epochs = _int("--epochs", args.epochs)
    seeds = _int("--seeds", args.seeds, high=MAX_SEEDS)
    threads = _int("--threads", args.threads, high=MAX_THREADS)
    from ..lab.options import RunOptions

    RunOptions(epochs=epochs, steps=steps)  # both given: its one-line error, before any training
    if args.check and not args.predict:
        raise ValueError("--check trains the --predict schedules: give some")
    if not args.predict and not args.optimise:
        raise ValueError("nothing to forecast: give --predict SPEC... or --optimise")
    if args.out:
        check_writable("--out", args.out, directory=True)
    from ..lab.store import Store, display_name

    runs = []
    if ids:
        if "://" not in str(args.db) and not Path(args.db).exists():  # a URL (PostgreSQL) is the store's to check
            raise ValueError(f"--fit: no run store at {display_name(args.db)!r} to take run ids from")
        with Store(args.db, readonly=True) as store:
            for rid in ids:
                run = store.get(rid)
                if run.task != task.name:
                    raise ValueError(f"--fit: run {rid} is a run of task {run.task!r}, not {task.name!r}")
                identity = run.config.get("task_identity")
                if _is_function(task) and identity is not None and identity != task.identity:
                    raise ValueError(f"--fit: run {rid} is a run of version {identity.get('version')!r} of "
                                     f"{task.name!r}, not {task.version!r}")
                runs.append(run)
    if fit_specs or args.check:
        Store(args.db).close()  # checked before training: writable, not damaged
    if task is None:
        return _forecast(args, task, law, curves, steps, epochs, seeds)
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    from ..lab.studies.compare import compare

    if fit_specs:
        print(f"fitting runs: {len(fit_specs) * (seeds or 1)} of {task.name} (trained or reused from "
              f"{display_name(args.db)})…",
              file=sys.stderr, flush=True)
        runs += compare(task, fit_specs, seeds=seeds, epochs=epochs, steps=steps, db=args.db,
                        progress=not args.no_progress).runs
    return _forecast(args, task, law, runs + curves, steps, epochs, seeds)


def read_curve(item: str, steps: int | None = None) -> Any:
    """A --curve value, FILE.csv=SPEC, read as a Curve given as points (lrlab.lab.forecast.Curve with steps).

    The CSV has a header with columns `step` and `loss` (others are ignored); step is the number of updates done
    when the loss was measured. The schedule SPEC gives the rate of every update, bound to `steps` (default: the
    file's last step).

    Args:
        item: "path/to/file.csv=SPEC".
        steps: the horizon SPEC is bound to (None: the file's last step).

    Examples:
        >>> import tempfile, pathlib
        >>> from lrlab.cli.forecast import read_curve
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "val.csv"
        >>> _ = path.write_text("step,loss\\n100,2.5\\n200,2.1\\n300,1.9\\n")
        >>> curve = read_curve(f"{path}=cosine(0.1)")
        >>> curve.label, curve.lrs.size, curve.steps.tolist(), curve.loss.tolist()
        ('cosine(0.1)', 300, [100, 200, 300], [2.5, 2.1, 1.9])
    """
    import csv
    from pathlib import Path

    import numpy as np

    from ..lab.studies.forecast import Curve, bind

    path, sep, spec = item.partition("=")
    if not sep or not path or not spec.strip():
        raise ValueError(f"--curve must be FILE.csv=SPEC, got {item!r}")
    if not Path(path).is_file():
        raise ValueError(f"--curve: no file {path!r}")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"step", "loss"} <= set(rows[0]):
        raise ValueError(f"--curve: {path!r} needs a header with columns step and loss, and rows")
    try:
        at = [float(r["step"]) for r in rows]
        loss = [float(r["loss"]) for r in rows]
    except (TypeError, ValueError):
        raise ValueError(f"--curve: {path!r} has a step or loss that is not a number") from None
    horizon = steps if steps is not None else int(max(at))
    sched = bind(spec.strip(), horizon)
    return Curve(spec.strip(), sched(np.arange(horizon)), loss, steps=at)


def _forecast(args: argparse.Namespace, task: Any, law: str, runs: list[Any], steps: int | None,
              epochs: int | None, seeds: int | None) -> int:
    import warnings

    from ..lab.studies import forecast as F
    from ..lab.studies.compare import compare

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # shown below, prominently
        fc = F.fit(runs, law)
    print(f"fitted on {len(runs)} {'runs' if task is not None else 'curves'} "
          f"({', '.join(dict.fromkeys(r.label for r in runs))}):")
    print(f"  {fc.summary()}")
    if fc.warning:
        _warn(fc.warning)
    horizon = steps or max(r.lrs.size if isinstance(r, F.Curve) else r.step_lr.size for r in runs)
    measured: dict[str, list[Any]] = {}
    if args.check:
        if steps is None:  # the candidates train --epochs (or the task's): forecast over the updates they make
            from ..lab.options import RunOptions
            from ..lab.plan import plan

            if _is_function(task):
                from ..lab.engines.function import budget

                total = budget(task, RunOptions(epochs=epochs))[2]
                if total is None:
                    raise ValueError(f"--check: {args.task} declares no steps_per_epoch, so the horizon is unknown: "
                                     "give --steps")
                horizon = int(total)
            else:
                trained = plan(task, "constant(0.1)", RunOptions(epochs=epochs)).config
                horizon = trained["epochs"] * trained["steps_per_epoch"]
    horizon = F.horizon(horizon)  # a derived one too (long stored runs), before the candidates train
    if args.check:
        print(f"checking: training {len(args.predict) * (seeds or 1)} runs of the candidates…", file=sys.stderr,
              flush=True)
        checked = compare(task, args.predict, seeds=seeds, epochs=epochs, steps=steps, db=args.db,
                          progress=not args.no_progress)
        from ..schedules import parse

        labels = {repr(parse(spec)): spec for spec in args.predict}  # a run's label is its spec, canonical
        for run in checked.runs:
            measured.setdefault(labels.get(run.label, run.label), []).append(run)
    predictions = [fc.predict(spec, horizon) for spec in args.predict]
    rows = _table(fc, predictions, measured, horizon, task.name if task is not None else "curves")
    if args.optimise:
        best = F.optimise(fc, horizon)
        print(f"\noptimised schedule over {horizon} updates (forecast final loss {best.final:.4g}):")
        print(f"  {best.spec}")
        for name, (spec, final) in sorted(best.families.items(), key=lambda item: item[1][1]):
            print(f"    {name:12s} {final:.4g}  {spec}")
        if fc.warning:
            print("  (the law does not hold on these runs: this optimum is not to be trusted, see the WARNING)")
        rows.append({"schedule": "optimised", "spec": best.spec, "forecast_final": best.final})
    if args.out:
        _write(args.out, fc, predictions, measured, rows)
    return 0


def _is_function(task: Any) -> bool:
    from ..lab.tasks.experiment import Experiment

    return isinstance(task, Experiment)


def _warn(text: str) -> None:
    """The fit-quality warning, never hidden and shown once: on stdout (kept in logs), in red on a terminal; when
    stdout goes elsewhere (a file, a pipe), also in red on stderr, where the person running it sees it."""
    from rich.console import Console

    from .output import console

    if sys.stdout.isatty():
        console().print(f"[bold red]WARNING:[/] {text}")
        return
    if sys.stderr.isatty():
        Console(stderr=True).print(f"[bold red]WARNING:[/] {text}")
    print(f"WARNING: {text}")


def _table(fc: Any, predictions: list[Any], measured: dict[str, list[Any]], horizon: int, task: str) -> list[dict]:
    from rich.table import Table

    from ..lab.studies.forecast import compare_curve
    from .lab import _console

    table = Table(title=f"{task}: forecast final training loss over {horizon} updates ({fc.law} law)",
                  caption="final = mean batch loss over the last 1/64 of the updates")
    for name in ("#", "schedule", "forecast"):
        table.add_column(name, justify="left" if name == "schedule" else "right")
    if measured:
        for name in ("measured", "error", "curve error"):
            table.add_column(name, justify="right")
    rows = []
    order = sorted(predictions, key=lambda p: p.final)
    for i, pred in enumerate(order, 1):
        row: dict[str, Any] = {"schedule": pred.label, "spec": pred.spec, "forecast_final": pred.final}
        cells = [str(i), pred.label, f"{pred.final:.4g}"]
        if measured:
            checks = [compare_curve(fc, run) for run in measured.get(pred.label, [])]
            if checks:
                m = sum(c["measured_final"] for c in checks) / len(checks)
                err = abs(pred.final - m) / m
                curve = sum(c["curve_error"] for c in checks) / len(checks)
                row.update(measured_final=m, final_error=err, curve_error=curve)
                cells += [f"{m:.4g}", f"{err:.1%}", f"{curve:.1%}"]
            else:
                cells += ["-", "-", "-"]
        table.add_row(*cells)
        rows.append(row)
    _console().print(table)
    return rows


def _write(out: str, fc: Any, predictions: list[Any], measured: dict[str, list[Any]], rows: list[dict]) -> None:
    import csv
    from pathlib import Path

    from ..viz.forecast_plots import plot_forecast

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = plot_forecast(fc, predictions, folder / "forecast.png", measured or None)
    print(f"wrote {path}")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(folder / "forecast.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {folder / 'forecast.csv'}")
