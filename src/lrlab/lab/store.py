"""The run store: every finished run in one SQLite file (stdlib sqlite3), committed as soon as it ends.

A run is found again by its config key (task, schedule config, optimizer and its options, epochs, batch size,
seed, plateau, and FORMAT_VERSION), so re-running a comparison reuses what is stored instead of training again.
History is kept as JSON (columns + rows), the per-step arrays as float64 bytes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from .run import Run

DEFAULT_DB = Path("lrlab-runs") / "runs.db"
FORMAT_VERSION = 3  # bump when the trainer changes what a config produces; old runs then train again
# 2: a diverged run reports NaN metrics (1 evaluated the NaN model and stored made-up accuracies)
# 3: a loss past 1e6 x the first epoch's is divergence (lrlab.lab.train.DIVERGED_FACTOR); plateau names its monitor

_KEY_FIELDS = ("task", "schedule_config", "optimizer", "optimizer_kwargs", "epochs", "batch_size", "seed", "plateau")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    created TEXT NOT NULL,
    task TEXT NOT NULL,
    label TEXT NOT NULL,
    schedule TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    wall_s REAL NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    history TEXT NOT NULL,
    step_lr BLOB NOT NULL,
    step_loss BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_key ON runs (key);
"""


def config_key(config: dict[str, Any]) -> str | None:
    """The identity of a run's config: equal keys train the same thing. None when the schedule has no config."""
    if config.get("schedule_config") is None:
        return None
    picked = {name: config.get(name) for name in _KEY_FIELDS}
    picked["format"] = FORMAT_VERSION
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


class Store:
    """Runs in an SQLite file; `save` commits at once. Usable as a context manager."""

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ValueError(f"db must be a file, got the directory {str(self.path)!r}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=30.0)
            self._conn.executescript(_SCHEMA)
            self._conn.commit()
        except (sqlite3.Error, OSError) as exc:
            raise ValueError(f"cannot open the run store {str(self.path)!r}: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------
    def save(self, run: Run) -> int:
        """Write a finished run (committed before returning) and set its id."""
        history = run.history
        hist = {"columns": [str(c) for c in history.columns], "data": history.astype(object).values.tolist()}
        created = run.created or time.strftime("%Y-%m-%d %H:%M:%S")
        with self._conn:
            cur = self._conn.execute(
                "INSERT INTO runs (key, created, task, label, schedule, seed, status, wall_s, config, metrics, history,"
                " step_lr, step_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    config_key(run.config),
                    created,
                    run.task,
                    run.label,
                    str(run.config.get("schedule")),
                    run.seed,
                    run.status,
                    float(run.wall_s),
                    _dumps(run.config),
                    _dumps(run.metrics),
                    _dumps(hist),
                    np.ascontiguousarray(run.step_lr, dtype="<f8").tobytes(),
                    np.ascontiguousarray(run.step_loss, dtype="<f8").tobytes(),
                ),
            )
        run.id = int(cur.lastrowid)
        run.created = created
        return run.id

    def delete(self, run_id: int) -> bool:
        with self._conn:
            cur = self._conn.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))
        return cur.rowcount > 0

    # -- reading ----------------------------------------------------------------------------------
    def find(self, config: dict[str, Any]) -> Run | None:
        """The latest stored run with this config's key, or None."""
        key = config_key(config)
        if key is None:
            return None
        row = self._conn.execute("SELECT * FROM runs WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)).fetchone()
        return None if row is None else self._run(row)

    def get(self, run_id: int) -> Run:
        """The run stored under `run_id`; ValueError if there is none."""
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise ValueError(f"no run with id {run_id} in {str(self.path)!r}")
        return self._run(row)

    def summaries(self, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """One dict per stored run, newest first: id, created, task, schedule, seed, status, wall_s, metrics."""
        sql = "SELECT id, created, task, label, schedule, seed, status, wall_s, config, metrics FROM runs"
        args: list[Any] = []
        if task is not None:
            sql += " WHERE task = ?"
            args.append(task)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        out = []
        for rid, created, task_name, label, schedule, seed, status, wall, config, metrics in self._conn.execute(
            sql, args
        ):
            cfg = json.loads(config)
            out.append({
                "id": rid, "created": created, "task": task_name, "schedule": label, "spec": schedule,
                "optimizer": cfg.get("optimizer"), "epochs": cfg.get("epochs"), "batch_size": cfg.get("batch_size"),
                "seed": seed, "status": status, "wall_s": wall, "metrics": json.loads(metrics),
            })
        return out

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def _run(self, row: tuple[Any, ...]) -> Run:
        import pandas as pd

        names = [d[0] for d in self._conn.execute("SELECT * FROM runs LIMIT 0").description]
        rec = dict(zip(names, row))
        hist = json.loads(rec["history"])
        history = pd.DataFrame(hist["data"], columns=hist["columns"])
        for col in history.columns:
            history[col] = pd.to_numeric(history[col])
        return Run(
            config=json.loads(rec["config"]),
            history=history,
            step_lr=np.frombuffer(rec["step_lr"], dtype="<f8").astype(np.float64),
            step_loss=np.frombuffer(rec["step_loss"], dtype="<f8").astype(np.float64),
            metrics=json.loads(rec["metrics"]),
            wall_s=float(rec["wall_s"]),
            status=rec["status"],
            model=None,
            id=int(rec["id"]),
            created=rec["created"],
        )
