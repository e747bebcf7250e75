"""How well do the loss laws forecast schedules they were not fitted on? (issue 14)

For each task: train (or reuse from the run store) constant, cosine and one wsd run at the task's peak rate, fit
each law (lrlab.lab.studies.forecast) on those three curves, then train the held-out schedules (step, exponential,
one_cycle, wsd with other cooldowns, and cosine / wsd over twice the steps) and compare: relative error of the
final loss (mean over the last 1/64 of the updates) and of the whole curve (mean over the fit's blocks), mean and
worst over the held-out schedules, and Kendall's tau between the predicted and the trained ranking of their final
losses. Training loss (the batch loss of every update) is what the laws describe and what is compared.

    PYTHONPATH=src python bench/forecast.py [TASK ...] [--db FILE] [--laws multi_power,tissue]
    PYTHONPATH=src python bench/forecast.py paper

Default tasks: mnist1d, and tinylm when that task is registered. Timings are not measured here.

`paper` (issue 24): the multi-power law paper's own curves (../shared/data/multipower-25M): fitted on the authors'
three curves, their six test curves forecast; PredE and WorstE (their measures) printed beside the authors' own fit
(their parameters, evaluated here) and their reported figures, with the ratios, and the parameters in raw units.
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
        effect = fc.quality.get("schedule_effect") or math.nan
        nats = [abs(c["predicted_final"] - c["measured_final"]) for _, c in rows]
        print(f"   final-loss error in nats: mean {sum(nats) / len(nats):.4g}, worst {max(nats):.4g} = "
              f"{max(nats) / effect:.0%} of the schedule effect ({effect:.4g}: the spread of the fitting schedules' "
              f"final losses)")
        print(f"   SUMMARY {name} {law}: final {sum(finals) / len(finals):.2%} / {max(finals):.2%}, curve "
              f"{sum(curves) / len(curves):.2%} / {max(curves):.2%}, worst / effect {max(nats) / effect:.0%}, "
              f"tau {tau.statistic:.2f}, warning {'yes' if fc.warning else 'no'}")


def run_paper() -> None:
    import numpy as np

    from lrlab.lab import forecast as fc_mod
    from lrlab.lab.studies import forecast_paper as paper
    from lrlab.lab.studies.forecast_fit import in_rate_units

    if not paper.data_dir().is_dir():
        print(f"the paper's curves are not at {paper.data_dir()}: nothing to compare")
        return
    data = paper.curves()
    test = {k: data[k] for k in paper.TEST}
    theirs = fc_mod.Forecast("multi_power", dict(paper.PAPER_PARAMS), scale=1.0, curves=[], bins=64, per_bin=1,
                             skip=0.0, cost=0.0)
    ours = fc_mod.fit([data[k] for k in paper.FIT], "multi_power", skip=0.0, check=False)
    # what a user had to do before curves could be given as points: a dense curve by linear interpolation
    dense = [fc_mod.Curve(k, data[k].lrs, np.interp(np.arange(data[k].lrs.size), data[k].steps, data[k].loss))
             for k in paper.FIT]
    interp = fc_mod.fit(dense, "multi_power", skip=0.15, check=False)
    print("\n== the multi-power law paper's 25M curves: fit on " + ", ".join(paper.FIT) + "; forecast the other six")
    print(f"   {'':44s} {'PredE':>8s} {'x paper':>8s} {'WorstE':>8s} {'x paper':>8s} {'worst point':>11s}")
    print(f"   {'reported by the authors':44s} {paper.PAPER_PREDE:8.3%} {'':8s} {paper.PAPER_WORSTE:8.3%}")
    for name, f in [("the authors' parameters, evaluated here", theirs), ("lrlab fit on the points", ours),
                    ("lrlab fit on dense interpolated curves", interp)]:
        e = paper.errors(f, test)
        print(f"   {name:44s} {e['PredE']:8.3%} {e['PredE'] / paper.PAPER_PREDE:8.2f} {e['WorstE']:8.3%} "
              f"{e['WorstE'] / paper.PAPER_WORSTE:8.2f} {e['max']:11.3%}")
    e = paper.errors(ours, test)
    print("   per test curve (lrlab fit on the points, mean / worst): " + ", ".join(
        f"{k} {m:.3%} / {w:.3%}" for k, (m, w) in e["per_curve"].items()))
    raw = in_rate_units("multi_power", ours.params, ours.scale)
    print("   parameters (rates in raw units):")
    for name in paper.PAPER_PARAMS:
        print(f"     {name:6s} authors {paper.PAPER_PARAMS[name]:9.4g}   lrlab {raw[name]:9.4g}")


def main(argv: list[str] | None = None) -> int:
    from lrlab.lab import task_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="task names, or paper (default: mnist1d, and tinylm when registered)")
    parser.add_argument("--db", default="lrlab-runs/forecast-bench.db", help="run store (runs are reused)")
    parser.add_argument("--laws", default="multi_power,tissue")
    args = parser.parse_args(argv)
    tasks = args.tasks or ["mnist1d", *(["tinylm"] if "tinylm" in task_names() else [])]
    laws = [law.strip() for law in args.laws.split(",") if law.strip()]
    for name in tasks:
        if name == "paper":
            run_paper()
        else:
            run_task(name, args.db, laws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
