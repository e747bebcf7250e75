"""The population file of a PBT study (lrlab.lab.studies.pbt): its members' checkpoints, lineages and figures after
an interval, written as plain data (torch.save, replaced atomically: tmp file then os.replace) and read back with
torch.load(weights_only=True) (lrlab.lab.engines.checkpoint.read: a file is data, never code), so an interrupted
study goes on from the last interval it finished."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..engines import checkpoint
from .pbt_result import PBT

FORMAT = 1
"""The format of a population file."""


def study_key(config: dict[str, Any], *settings: Any) -> str:
    """A hash of what decides a study's course: the runs' config (task, options, dtype) and PBT's settings.

    It names the population file, so a study with other settings never picks up another's population (the
    schedule, seed, epochs and label of the probe config are left out: they change member by member).

    Args:
        config: a plan's config (lrlab.lab.plan.plan) for the study's runs.
        settings: PBT's settings (population, interval, epochs, quantile, factors, resample, space, seed).

    Examples:
        >>> from lrlab.lab.studies.pbt_state import study_key
        >>> a = study_key({"task": "or3", "seed": 0}, 4, 2)
        >>> a == study_key({"task": "or3", "seed": 1}, 4, 2), a == study_key({"task": "or3"}, 4, 3), len(a)
        (True, False, 16)
    """
    what = {k: v for k, v in config.items() if k not in ("label", "schedule", "schedule_config", "seed", "epochs")}
    text = json.dumps([what, [list(s) if isinstance(s, tuple) else s for s in settings]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(path: Path, key: str, done: int, states: list[Any], values: list[list[float]], roots: list[int],
          parents: list[int], result: PBT) -> None:
    """Write the population after `done` intervals as plain data (tmp file, then os.replace).

    A kill during the write leaves the previous file whole; the file holds numbers, strings, lists, dicts and
    tensors only (lrlab.lab.engines.checkpoint.plain), so `resume` reads it with weights_only=True.

    Args:
        path: the file.
        key: the study's `study_key`.
        done: intervals finished.
        states: each member's checkpoint for the next interval.
        values: each member's lineage rates (one per interval begun).
        roots: each member's run seed.
        parents: each member's donor for the next interval.
        result: the result so far (its per-interval arrays and events).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.studies.pbt import pbt
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = pbt("or3", population=2, interval=1, epochs=2, checkpoint_dir=folder, progress=False)
        ...     [p.name.startswith("pbt-") for p in Path(folder).iterdir()]
        [True]
    """
    import torch

    data = {
        "format": FORMAT, "key": key, "done": done, "states": [checkpoint.plain(s) for s in states],
        "values": [list(map(float, v)) for v in values], "roots": [int(r) for r in roots],
        "parents": [int(p) for p in parents], "rates": torch.from_numpy(result.rates.copy()),
        "history_parents": torch.from_numpy(result.parents.copy()), "seeds": torch.from_numpy(result.seeds.copy()),
        "metrics": torch.from_numpy(result.metrics.copy()), "curves": torch.from_numpy(result.curves.copy()),
        "events": [dict(e) for e in result.events], "wall_s": float(result.wall_s),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(data, tmp)
    os.replace(tmp, path)


def resume(path: Path, key: str, result: PBT) -> tuple[int, list[Any], list[list[float]], list[int], list[int]]:
    """The population in a file `save` wrote, read as data only (lrlab.lab.engines.checkpoint.read: torch.load with
    weights_only=True) and checked, put into `result`.

    Each member's checkpoint is checked as a checkpoint file is (`checkpoint.checked`), and again against its
    plan when its stack resumes it.

    Args:
        path: the file.
        key: the study's `study_key` (the file's must match).
        result: the fresh result to fill (its per-interval arrays, events and wall time).

    Returns:
        (intervals done, states, lineage rates, run seeds, donors), as `save` was given them.

    Raises:
        ValueError: one line naming the file: not a population file, another study's, or another population size.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.studies.pbt_state import resume
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "pbt-x.pt").write_text("text")
        ...     resume(Path(folder) / "pbt-x.pt", "x", None)
        Traceback (most recent call last):
        ...
        ValueError: pbt population '.../pbt-x.pt': not a checkpoint of lrlab.lab.engines.checkpoint (...)...
    """
    where = f"pbt population {str(path)!r}"
    data = checkpoint.read(path, where)
    names = ("format", "key", "done", "states", "values", "roots", "parents", "rates", "history_parents", "seeds",
             "metrics", "curves", "events", "wall_s")
    if not isinstance(data, dict) or any(n not in data for n in names) or data["format"] != FORMAT:
        raise ValueError(f"{where}: not a population file of this lrlab; remove it, or start over (fresh=True)")
    if data["key"] != key:
        raise ValueError(f"{where}: written by a study with other settings; remove it, or start over (fresh=True)")
    k_count = result.rates.shape[1]
    states = [checkpoint.checked(s, where) for s in data["states"]]
    if len(states) != k_count or len(data["values"]) != k_count:
        raise ValueError(f"{where}: holds {len(states)} members, this study has {k_count}")
    result.rates, result.parents = data["rates"].numpy(), data["history_parents"].numpy()
    result.seeds, result.metrics = data["seeds"].numpy(), data["metrics"].numpy()
    result.curves, result.events = data["curves"].numpy(), list(data["events"])
    result.wall_s = float(data["wall_s"])
    return (int(data["done"]), states, [list(v) for v in data["values"]], list(data["roots"]),
            list(data["parents"]))
