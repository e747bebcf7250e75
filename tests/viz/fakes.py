"""A small fake Comparison (runs, leaderboard, history) with the lab's shapes, for fast viz tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class FakeRun:
    config: dict[str, Any]
    history: pd.DataFrame
    metrics: dict[str, float]
    status: str = "ok"
    wall_s: float = 0.1
    id: str = "run"


@dataclass
class FakeComparison:
    task: Any
    runs: list[FakeRun]
    leaderboard: pd.DataFrame
    history: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)
    ranking: Any = None  # a lrlab.lab.ranking.Ranking, as a real Comparison has


def fake_comparison(schedules=("constant(0.1)", "cosine(0.1, decay_steps=200)"), seeds=(0, 1, 2), epochs=20):
    """Loss curves that decay at a schedule-dependent speed, with seed noise; deterministic."""
    rng = np.random.default_rng(0)
    rows, runs, board = [], [], []
    for i, spec in enumerate(schedules):
        for seed in seeds:
            e = np.arange(1, epochs + 1)
            loss = 0.7 * np.exp(-e * (0.08 + 0.05 * i)) + 0.02 + 0.01 * rng.random(epochs)
            lr = 0.1 * (0.5 + 0.5 * np.cos(np.pi * (e - 1) / epochs)) if i else np.full(epochs, 0.1)
            frame = pd.DataFrame({
                "schedule": spec, "seed": seed, "epoch": e, "step": e * 10, "lr": lr, "loss": loss,
                "val_loss": loss * 1.1, "val_accuracy": 1 - loss,
            })
            rows.append(frame)
            metrics = {"final_loss": float(loss[-1]), "val_accuracy": float(1 - loss[-1]),
                       "test_loss": float(loss[-1] * 1.1), "test_accuracy": float(1 - loss[-1] * 1.05)}
            config = {"task": "quantiles", "schedule": spec, "seed": seed, "optimizer": "adam", "epochs": epochs}
            runs.append(FakeRun(config=config, history=frame, metrics=metrics, id=f"r{i}{seed}"))
            board.append({"schedule": spec, "seed": seed, **metrics})
    board = pd.DataFrame(board).groupby("schedule", sort=False).mean(numeric_only=True).reset_index()
    board = board.drop(columns="seed").sort_values("val_accuracy", ascending=False).reset_index(drop=True)
    return FakeComparison(task="quantiles", runs=runs, leaderboard=board, history=pd.concat(rows, ignore_index=True))
