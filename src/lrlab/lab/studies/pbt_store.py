"""A PBT study (lrlab.lab.studies.pbt) in the run store (lrlab.lab.store): every member's final run under the config
`compare` gives its replay, and the study's lineage as plain data in a note beside the runs.

A member is at every moment the run of ONE seed (its lineage's first member's) under ONE schedule (its lineage's
rates, `PBT.member_spec`), exploits included: its final run is trained from that spec's plan (lrlab.lab.plan.plan
with the study's run options, the whole epoch budget and that seed), resumed from checkpoints interval after
interval. Its config is therefore exactly the config compare builds for "SPEC" (`PBT.replay` for the winner) on
that seed, and its figures equal a from-scratch run of it within the engines' agreement (float64: 1e-9; float32:
the stack's and a single run's sums differ in the last digits, as compare's own stacked and sequential runs do;
tests/lab/test_pbt.py). So the member runs are stored under that config: `lrlab runs` lists them, `Store.find`
finds them, and a later compare of the replay spec on that seed reuses them instead of training again.

What tells them apart is outside the config key: the label ("pbt member K") and a "pbt" field in the config
({"study": the study key, "member": K}). A run already stored under the same config (an earlier run of the same
study, a member with the same lineage, or compare's own run of the spec) is not stored again: a rerun adds no rows.
A member's `wall_s` is its last interval's training time (the time before it is shared with the members it was
copied from).

The lineage (rates, donors and seeds per interval, figures, exploits, each member's lineage, spec and run id, the
winner) is one JSON note (`Store.note`) named NOTE + the study key, replaced by a rerun: `stored_lineage` reads it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from .pbt_result import PBT

NOTE = "pbt "
"""The prefix of the store's note that keeps a study's lineage: NOTE + the study key (`PBT.key`)."""

FORMAT = 1
"""The format of a lineage note."""


def _plain(rows: Any) -> list[list[Any]]:
    """A 2-D array as lists of Python numbers (NaN as None: a note is strict JSON)."""
    return [[None if isinstance(v, float) and not math.isfinite(v) else v for v in row] for row in rows.tolist()]


def lineage_data(result: PBT) -> dict[str, Any]:
    """The study's lineage as plain data (what the note keeps, without run ids).

    Args:
        result: the finished study.

    Examples:
        >>> from lrlab.lab.studies.pbt import pbt
        >>> from lrlab.lab.studies.pbt_store import lineage_data
        >>> result = pbt("or3", population=2, interval=1, epochs=2, progress=False)
        >>> data = lineage_data(result)
        >>> data["rates"] == result.rates.tolist(), data["lineages"][result.winner] == result.lineage()
        (True, True)
    """
    k_count = result.rates.shape[1]
    return {
        "format": FORMAT, "key": result.key, "task": result.task.name, "population": k_count,
        "interval": result.interval, "interval_steps": result.interval_steps, "epochs": result.epochs,
        "first_seed": result.first_seed, "winner": result.winner, "seed": result.seed, "replay": result.replay,
        "ranked_by": result.ranking.metric, "rates": result.rates.tolist(),
        "parents": result.parents.astype(int).tolist(), "seeds": result.seeds.astype(int).tolist(),
        "metrics": _plain(result.metrics), "events": [dict(e) for e in result.events],
        "lineages": [result.lineage(k) for k in range(k_count)],
        "specs": [repr(result.member_spec(k)) + (f"@{result.plateau}" if result.plateau else "")
                  for k in range(k_count)],
    }


def save_study(store: Any, result: PBT) -> list[int | None]:
    """Store every member's final run (unless its config is stored already) and the lineage note; set each run's
    `id` and the result's `run_ids`. Returns the run ids, member by member.

    Args:
        store: an open, writable Store.
        result: the finished study (its `key` set).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.store import Store
        >>> from lrlab.lab.studies.pbt import pbt
        >>> from lrlab.lab.studies.pbt_store import save_study, stored_lineage
        >>> result = pbt("or3", population=2, interval=1, epochs=2, space="choice(0.5, 1.0)", progress=False)
        >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
        ...     first, again = save_study(store, result), save_study(store, result)  # again: no new rows
        ...     print(first, again, len(store), stored_lineage(store, result.key)["runs"])
        [1, 2] [1, 2] 2 [1, 2]

        With factor 1 and one rate the member that copied is the same run as its donor (same spec, same seed):
        stored once.

        >>> twins = pbt("or3", population=2, interval=1, epochs=2, space="choice(0.5)", perturb=[1.0], resample=0,
        ...             progress=False)
        >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
        ...     print(save_study(store, twins), len(store))
        [1, 1] 1
    """
    ids: list[int | None] = []
    for k, run in enumerate(result.runs):
        found = store.find(run.config)
        if found is not None and found.status in ("ok", run.status):
            run.id = found.id
        else:
            mine = dataclasses.replace(run, config={**run.config, "pbt": {"study": result.key, "member": k}})
            run.id = store.save(mine)
        ids.append(run.id)
    result.run_ids = ids
    store.note(NOTE + result.key, json.dumps({**lineage_data(result), "runs": ids}, allow_nan=False))
    return ids


def stored_lineage(store: Any, key: str) -> dict[str, Any] | None:
    """A study's lineage as `save_study` kept it (None: no such note, or one this lrlab cannot read).

    Its fields: key, task, population, interval, interval_steps, epochs, first_seed, winner, seed (the winner's),
    replay (the winner's spec as compare takes it), ranked_by, rates / parents / seeds / metrics (one list per
    interval, one number per member; a figure that is not finite is None), events (the exploits), lineages (each
    member's slot per interval), specs (each member's replay spec) and runs (each member's run id).

    Args:
        store: a Store (read-only will do).
        key: the study key (`PBT.key`).

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.store import Store
        >>> from lrlab.lab.studies.pbt_store import stored_lineage
        >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
        ...     print(stored_lineage(store, "0123"))
        None
    """
    text = store.note(NOTE + key)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None
