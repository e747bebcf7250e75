"""Where lrlab keeps things by default, in one place: the lab's run store and search storage, and the CLI's option
defaults read them from here (this module imports nothing, so `lrlab --help` stays light)."""

from __future__ import annotations

from pathlib import Path

RUNS_DIR = Path("lrlab-runs")
"""The folder, relative to the working directory, of the default run store and search storage."""

DEFAULT_DB = RUNS_DIR / "runs.db"
"""The run store `compare`, `cooldowns`, `forecast` and `lrlab runs` use unless told otherwise (an SQLite file)."""

DEFAULT_STORAGE = RUNS_DIR / "tune.db"
"""The Optuna storage `tune` uses unless told otherwise (an SQLite file)."""
