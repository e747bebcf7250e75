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
    """A hash of what decides a study's course: the runs' config (task, options, dtype) and PBT's settings."""
    what = {k: v for k, v in config.items() if k not in ("label", "schedule", "schedule_config", "seed", "epochs")}
    text = json.dumps([what, [list(s) if isinstance(s, tuple) else s for s in settings]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save(path: Path, key: str, done: int, states: list[Any], values: list[list[float]], roots: list[int],
          parents: list[int], result: PBT) -> None:
    """Write the population after `done` intervals as plain data (tmp file, then os.replace)."""
    import torch

    data = {
        "format": FORMAT, "key": key, "done": done, "states": [checkpoint._plain(s) for s in states],
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
    """The population in a file `_save` wrote (read as data only, checked), put into `result`: intervals done,
    states, lineages' rates, seeds, donors."""
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
