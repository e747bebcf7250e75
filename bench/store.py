"""What the run store costs: save, find and claim of 200 runs on SQLite, before (the stdlib-sqlite3 store of an
earlier commit) and after the move to SQLAlchemy Core, and on PostgreSQL.

Each round saves N runs one by one (each its own committed transaction, as `compare` does) into a new database,
then finds each again by its config, then claims each (a rerun of `compare`: the claim finds the stored run and
reuses it). The rounds of the candidates are interleaved (A B C A B C ...), so load on the machine hits all of
them alike, and the median round and the best are reported. The runs are made up, of the size of real ones:
20 epochs of history, 2000 steps of per-step arrays, the seed changed from run to run.
Run: `python bench/store.py [--runs 200] [--rounds 5] [--baseline REV] [--postgres URL]`. REV is the commit whose
src/lrlab/lab/store.py is the "before" (default cdf77b5, the sqlite3 store); --postgres '' skips PostgreSQL.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WHAT = ("save", "find", "claim")


def baseline_module(rev: str) -> Any:
    """The store.py of commit `rev`, imported as a module of lrlab.lab (its relative imports resolve there)."""
    source = subprocess.run(["git", "show", f"{rev}:src/lrlab/lab/store.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "store_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("lrlab.lab._store_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_runs(n: int) -> list[Any]:
    import pandas as pd

    from lrlab.lab.run import Run

    steps, epochs = 2000, 20
    rng = np.random.default_rng(0)
    config = {"task": "bench", "schedule": "cosine(0.1, decay_steps=2000)", "label": "cosine(0.1)",
              "schedule_config": {"kind": "cosine", "lr": 0.1, "decay_steps": 2000}, "optimizer": "sgd",
              "optimizer_kwargs": {"momentum": 0.9}, "epochs": epochs, "batch_size": 32, "plateau": None,
              "dtype": "float32"}
    history = pd.DataFrame({"epoch": np.arange(1, epochs + 1), "step": np.arange(1, epochs + 1) * 100,
                            "lr": rng.random(epochs), "loss": rng.random(epochs), "val_loss": rng.random(epochs),
                            "val_accuracy": rng.random(epochs)})
    metrics = {"loss": 0.1, "accuracy": 0.9, "val_loss": 0.2, "val_accuracy": 0.8, "test_loss": 0.2,
               "test_accuracy": 0.8, "epochs_done": epochs, "steps": steps}
    return [Run(config=dict(copy.deepcopy(config), seed=seed), history=history, step_lr=rng.random(steps),
                step_loss=rng.random(steps), metrics=dict(metrics), wall_s=1.0, status="ok", model=None)
            for seed in range(n)]


def one_round(store_cls: Any, db: Any, runs: list[Any]) -> tuple[float, float, float]:
    """Seconds to save every run (one commit each), to find every one again, and to claim every one (a rerun of
    `compare`: the claim finds the stored run and reuses it)."""
    with store_cls(db) as store:
        start = time.perf_counter()
        for run in runs:
            run.id = None
            store.save(run)
        saved = time.perf_counter() - start
        start = time.perf_counter()
        for run in runs:
            assert store.find(run.config).id == run.id
        found = time.perf_counter() - start
        start = time.perf_counter()
        for run in runs:
            with store.claim(run.config) as claim:
                assert claim.run.id == run.id
        claimed = time.perf_counter() - start
    return saved, found, claimed


def postgres_database(server: str) -> tuple[str, Any] | None:
    """A new database on the server (its URL, and a function dropping it); None where the server is unreachable."""
    import sqlalchemy as sa

    admin = sa.create_engine(sa.engine.make_url(server).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"lrlab_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL skipped: {' '.join(str(exc.orig).split())[:120]}")
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="cdf77b5", metavar="REV")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test", metavar="URL")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    import sqlalchemy as sa

    from lrlab.lab.store import Store

    old = baseline_module(args.baseline)
    runs = make_runs(args.runs)
    folder = Path(tempfile.mkdtemp(prefix="lrlab-bench-store-"))
    pg = postgres_database(args.postgres) if args.postgres else None
    candidates: dict[str, Any] = {f"sqlite3 ({args.baseline})": old.Store, "SQLAlchemy, SQLite": Store}
    if pg is not None:
        candidates["SQLAlchemy, PostgreSQL"] = Store
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in candidates}
    try:
        for r in range(args.rounds):
            for i, (name, cls) in enumerate(candidates.items()):
                if "PostgreSQL" in name:
                    assert pg is not None
                    engine = sa.create_engine(sa.engine.make_url(pg[0]).set(drivername="postgresql+psycopg"))
                    with engine.begin() as conn:  # a new, empty store each round
                        conn.execute(sa.text("DROP TABLE IF EXISTS lrlab_runs, lrlab_claims, lrlab_meta"))
                    engine.dispose()
                    db: Any = pg[0]
                else:
                    db = folder / f"round{r}-{i}.db"
                times[name].append(one_round(cls, db, runs))
    finally:
        if pg is not None:
            pg[1]()
    first = times[next(iter(times))]
    print(f"{args.runs} runs, {args.rounds} interleaved rounds: the median round and the best (a busy machine makes "
          "the median noisy; the best is the cost without interference)")
    print(f"{'store':<25}" + "".join(f"{w + ' ms/run':>14}" for w in WHAT) + "".join(f"{w + ' x':>10}" for w in WHAT)
          + "".join(f"{'best ' + w + ' x':>14}" for w in WHAT))
    for name, rounds in times.items():
        median = [statistics.median(t[i] for t in rounds) for i in range(3)]
        ratio = [m / statistics.median(t[i] for t in first) for i, m in enumerate(median)]
        best = [min(t[i] for t in rounds) / min(t[i] for t in first) for i in range(3)]
        print(f"{name:<25}" + "".join(f"{1000 * m / args.runs:>14.3f}" for m in median)
              + "".join(f"{r:>10.2f}" for r in ratio) + "".join(f"{b:>14.2f}" for b in best))

if __name__ == "__main__":
    main()
