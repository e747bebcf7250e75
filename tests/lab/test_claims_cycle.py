"""Studies sharing one store never wait on each other in a cycle (issue 27): a stack claims the members it can,
trains them, and leaves the rest to whoever holds them (lrlab.lab.work); entries that bind to one run train once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from lrlab import parse
from lrlab.lab import compare
from lrlab.lab.store import Store

SPECS = [repr(parse(f"constant({0.05 * k:g})")) for k in range(1, 21)]
CODE = """
from lrlab import parse
from lrlab.lab import compare
compare("or3", {specs!r}, epochs=2, db={db!r}, progress=False, engine={engine!r}, max_stack={max_stack!r})
"""


def _start(db, specs, engine, max_stack=None):
    code = CODE.format(specs=specs, db=str(db), engine=engine, max_stack=max_stack)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("engine, max_stack, orders", [
    ("stacked", None, "opposite"), ("sequential", None, "opposite"), ("stacked", 6, "halves3")])
def test_studies_in_other_orders_finish_and_store_each_run_once(db, engine, max_stack, orders):
    if orders == "opposite":
        lists = [SPECS, SPECS[::-1]]
    else:  # three processes: the first two thirds, the last two thirds reversed, and the middle
        lists = [SPECS[:14], SPECS[6:][::-1], SPECS[3:17]]
    procs = [_start(db, specs, engine, max_stack) for specs in lists]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=300)  # a cycle of waits would run into this timeout
            assert proc.returncode == 0, err
            assert "Traceback" not in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wanted = sorted(set().union(*lists))
    with Store(db) as store:
        stored = sorted(s["schedule"] for s in store.summaries())
        assert store.claims() == []
    assert stored == wanted  # each run stored once


def test_entries_that_bind_to_one_run_train_once_and_show_once(tmp_path, capsys):
    c = compare("or3", ["cosine(0.5)", "cosine(0.5, decay_steps=3)"], epochs=3, db=tmp_path / "runs.db",
                progress=False)
    assert [r.label for r in c.runs] == ["cosine(0.5)"] and c.leaderboard["schedule"].tolist() == ["cosine(0.5)"]
    assert "'cosine(0.5, decay_steps=3)' is the same run as 'cosine(0.5)'" in capsys.readouterr().err
    with Store(tmp_path / "runs.db") as store:
        assert len(store) == 1


def test_plans_with_equal_configs_train_once_under_each_label():
    from lrlab.lab.options import RunOptions
    from lrlab.lab.plan import plan
    from lrlab.lab.studies.compare import train_plans

    plans = [plan("or3", spec, RunOptions(epochs=3), label=spec) for spec in ("cosine(0.5)", "cosine(0.5, 3)")]
    runs = train_plans(plans, db=None, progress=False)
    assert [r.label for r in runs] == ["cosine(0.5)", "cosine(0.5, 3)"]
    assert runs[0].metrics == runs[1].metrics
