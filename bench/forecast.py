"""How well do the loss laws forecast schedules they were not fitted on? (issue 14)

For each task: train (or reuse from the run store) constant, cosine and one wsd run at the task's peak rate, fit
each law (lrlab.lab.studies.forecast) on those three curves, then train the held-out schedules (step, exponential,
one_cycle, wsd with other cooldowns, and cosine / wsd over twice the steps) and compare: relative error of the
final loss (mean over the last 1/64 of the updates) and of the whole curve (mean over the fit's blocks), mean and
worst over the held-out schedules, and Kendall's tau between the predicted and the trained ranking of their final
losses. Training loss (the batch loss of every update) is what the laws describe and what is compared.

    PYTHONPATH=src python bench/forecast.py [TASK ...] [--db FILE] [--laws multi_power,tissue]

Default tasks: mnist1d, and tinylm when that task is registered. Timings are not measured here.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

import torch

torch.set_num_threads(1)


def schedules(peak: float, steps: int) -> tuple[list[str], list[str], list[str]]:
    """(fitting specs, held-out specs at the same length, held-out specs trained for twice the steps)."""
    fitting = [f"constant({peak:g})", f"cosine({peak:g})", f"wsd({peak:g}, decay_steps={steps // 5})"]
    held = [
        f"step_decay({peak:g}, 0.5, {steps // 4})",
        f"exponential({peak:g}, {steps}, 0.05)",
        f"one_cycle({peak:g})",
        f'wsd({peak:g}, decay_steps={steps // 10}, decay="cosine")',
        f'wsd({peak:g}, decay_steps={2 * steps // 5}, decay="1-sqrt")',
        f"multistep({peak:g}, [{steps // 2}, {3 * steps // 4}], 0.2)",
    ]
    longer = [f"cosine({peak:g})", f"wsd({peak:g}, decay_steps={2 * steps // 5})"]
    return fitting, held, longer


def run_task(name: str, db: str, laws: list[str]) -> None:
    from scipy.stats import kendalltau

    from lrlab.lab import compare, get_task
    from lrlab.lab import forecast as fc_mod
    from lrlab.lab.plan import plan
    from lrlab.schedules import parse

    task = get_task(name)
    p = plan(task, f"constant({task.lr})")
    epochs, steps = p.options.epochs, p.options.epochs * p.config["steps_per_epoch"]
    fitting, held, longer = schedules(task.lr, steps)
    print(f"\n== {name}: {task.optimizer} at peak {task.lr:g}, {epochs} epochs = {steps} updates "
          f"(longer horizon: {2 * epochs} epochs)", flush=True)
    base = compare(task, fitting + held, db=db, progress=False)
    long = compare(task, longer, epochs=2 * epochs, db=db, progress=False)
    by_label = {r.label: r for r in [*base.runs, *long.runs] if r.config["epochs"] == epochs}
    by_long = {r.label: r for r in long.runs}
    fit_runs = [by_label[repr(parse(s))] for s in fitting]
    targets = [(s, by_label[repr(parse(s))]) for s in held]
    targets += [(f"{s} x2 steps", by_long[repr(parse(s))]) for s in longer]
    for law in laws:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = fc_mod.fit(fit_runs, law)
        print(f"\n-- {law}: {fc.summary()}")
        if fc.warning:
            print(f"   WARNING: {fc.warning}")
        rows = []
        for label, run in targets:
            rows.append((label, fc_mod.compare_curve(fc, run)))
        print(f"   {'held-out schedule':58s} {'measured':>9s} {'forecast':>9s} {'final err':>9s} {'curve err':>9s}")
        for label, c in rows:
            print(f"   {label:58s} {c['measured_final']:9.4g} {c['predicted_final']:9.4g} "
                  f"{c['final_error']:9.2%} {c['curve_error']:9.2%}")
        finals = [c["final_error"] for _, c in rows]
        curves = [c["curve_error"] for _, c in rows]
        same = [c for label, c in rows if "x2" not in label]  # rank the ones of the same length
        tau = kendalltau([c["predicted_final"] for c in same], [c["measured_final"] for c in same])
        tau_all = kendalltau([c["predicted_final"] for _, c in rows], [c["measured_final"] for _, c in rows])
        print(f"   final loss: mean error {sum(finals) / len(finals):.2%}, worst {max(finals):.2%}; "
              f"whole curve: mean error {sum(curves) / len(curves):.2%}, worst {max(curves):.2%}")
        print(f"   Kendall tau predicted vs trained ranking: {tau.statistic:.3f} over the {len(same)} of the same "
              f"length (p={tau.pvalue:.3g}), {tau_all.statistic:.3f} over all {len(rows)}"
              + ("" if math.isfinite(tau.statistic) else " (undefined: ties)"))


def main(argv: list[str] | None = None) -> int:
    from lrlab.lab import task_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="task names (default: mnist1d, and tinylm when registered)")
    parser.add_argument("--db", default="lrlab-runs/forecast-bench.db", help="run store (runs are reused)")
    parser.add_argument("--laws", default="multi_power,tissue")
    args = parser.parse_args(argv)
    tasks = args.tasks or ["mnist1d", *(["tinylm"] if "tinylm" in task_names() else [])]
    laws = [law.strip() for law in args.laws.split(",") if law.strip()]
    for name in tasks:
        run_task(name, args.db, laws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
