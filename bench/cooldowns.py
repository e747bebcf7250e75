"""What branching WSD cooldowns from one run saves (lrlab.lab.studies.cooldowns): optimizer steps and wall time of the
trunk plus the stacked branches, against training every wsd length from scratch, sequentially and stacked, side by side
in one invocation (same plans, same thread count; no run store). Wall times are noisy on a shared machine.

    KERAS_BACKEND=torch python bench/cooldowns.py [--task quantiles] [--spec "wsd(0.05, decay='1-sqrt')"]
        [--steps 2000] [--at 0.25,0.5,0.75,1.0] [--fraction 0.2] [--seeds 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="quantiles")
    parser.add_argument("--spec", default="wsd(0.05, decay='1-sqrt')")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--at", default="0.25,0.5,0.75,1.0")
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from lrlab.lab.engines.train import execute
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.compare import train_plans
    from lrlab.lab.studies.cooldowns import cooldowns

    torch.set_num_threads(args.threads)
    at = tuple(float(a) for a in args.at.split(","))
    common = {"steps": args.steps, "seeds": args.seeds, "db": None, "progress": False, "device": "cpu"}
    cooldowns(args.task, args.spec, at=(1.0,), fraction=args.fraction, cosine=False, **{**common, "steps": 20})

    begin = time.perf_counter()
    result = cooldowns(args.task, args.spec, at=at, fraction=args.fraction, cosine=False, **common)
    branched = time.perf_counter() - begin
    plans = [plan(args.task, r.config["schedule"], RunOptions(steps=r.config["steps"], seed=r.seed))
             for r in result.branches]
    begin = time.perf_counter()
    for p in plans:
        execute(p)
    sequential = time.perf_counter() - begin
    begin = time.perf_counter()
    train_plans(plans, db=None, progress=False, engine="stacked", device="cpu")
    stacked = time.perf_counter() - begin

    trained = result.trunk_steps + result.branch_steps
    print(f"{args.task} {args.spec}: lengths {result.lengths} (cooldowns from {result.starts}), "
          f"{args.seeds} seed(s), {args.threads} thread(s)")
    print(f"optimizer steps: trunk {result.trunk_steps} + branches {result.branch_steps} = {trained}; "
          f"from scratch {result.scratch_steps}; ratio {trained / result.scratch_steps:.3f}")
    print(f"wall: trunk + stacked branches {branched:.2f} s (trunk {result.trunk_wall_s:.2f} s, branches "
          f"{result.branch_wall_s:.2f} s); from scratch sequential {sequential:.2f} s "
          f"({branched / sequential:.2f}x), from scratch stacked {stacked:.2f} s ({branched / stacked:.2f}x)")


if __name__ == "__main__":
    main()
