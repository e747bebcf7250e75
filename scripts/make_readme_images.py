"""Make the README's picture: the training curves of a comparison on `quantiles` (docs/compare-quantiles.png).

    KERAS_BACKEND=torch .venv/bin/python scripts/make_readme_images.py [--epochs 50] [--seeds 3] [--out docs]

Six schedules under Adam (the fourth seed's optimizer), the same model and data, several seeds: loss, validation
accuracy and learning rate per epoch, mean and spread over the seeds. Runs are not stored (db=None). The picture
is deterministic for the same arguments; the lead commits it once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# The comparison `make demo` runs: lengths left out are stretched to the run by the trainer.
SCHEDULES = (
    "constant(0.01)",
    "step_decay(0.01, drop=0.5, step_size=150)",
    "exponential(0.01, decay_steps=100, decay_rate=0.7)",
    "cosine(0.01)",
    "one_cycle(0.02)",
    "constant(0.05)@plateau(factor=0.5, patience=5, min_lr=1e-5)",  # the fourth seed's plateau run, shorter
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="docs", help="folder of the picture (default docs)")
    parser.add_argument("--db", default=None, help="keep the runs in this SQLite file and reuse them (default: none)")
    args = parser.parse_args(argv)

    from lrlab.lab.studies.compare import compare
    from lrlab.viz import _figure
    from lrlab.viz.run_curves import curves_figure

    start = time.perf_counter()
    comparison = compare("quantiles", list(SCHEDULES), seeds=args.seeds, optimizer="adam", epochs=args.epochs,
                         db=args.db, progress=False)
    print(comparison.leaderboard.to_string(index=False))
    fig = curves_figure(comparison, title=f"quantiles · Adam · {args.epochs} epochs", size=(11.0, 4.0))
    path = _figure.save(fig, Path(args.out) / "compare-quantiles.png", dpi=100)
    print(f"wrote {path} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
