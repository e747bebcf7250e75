"""Engine "auto" times both engines for a new (task, stack size bucket, device, ...) key, trains with the faster,
keeps the timing in the run store (SQLite and PostgreSQL: the `db` fixture) and in the process, and says it once.
The clock is injected (a fake `measure`): which engine is faster here is never asserted."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from lrlab.lab.engines import auto  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import Store  # noqa: E402
from lrlab.lab.tasks.task import get_task  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test as a new process: no timing known, no line said."""
    monkeypatch.setattr(auto, "_KNOWN", {})
    monkeypatch.setattr(auto, "_SAID", set())


class Clock:
    """A fake `measure`: the given seconds per step (stacked, sequential), counting its calls."""

    def __init__(self, stacked_s: float, sequential_s: float) -> None:
        self.times, self.calls = (stacked_s, sequential_s), []

    def __call__(self, plans, device):
        self.calls.append((len(plans), device))
        return self.times


def _plans(k: int, task: str = "or3"):
    t = get_task(task)
    data = t.load(0)
    return [plan(t, f"constant({0.1 * (i + 1):g})", RunOptions(epochs=2, seed=i), data=data) for i in range(k)]


def test_the_choice_is_kept_in_the_store_and_reused_without_timing_again(db, monkeypatch, capsys):
    clock = Clock(0.010, 0.001)  # 4 sequential steps take 4 ms, one stacked 10 ms: sequential
    with Store(db) as store:
        assert auto.pick(_plans(4), "cpu", store=store, timer=clock) == "sequential"
    assert clock.calls == [(4, "cpu")]
    err = capsys.readouterr().err
    assert err.startswith("lrlab: or3 x4 on cpu (") and err.count("\n") == 1
    assert "stacked 10 ms/step vs sequential 4 ms/step for 4 runs: sequential (engine auto, measured now)" in err
    monkeypatch.setattr(auto, "_KNOWN", {})  # another process, another day: only the store knows
    monkeypatch.setattr(auto, "_SAID", set())
    with Store(db) as store:
        assert auto.pick(_plans(3), "cpu", store=store, timer=clock) == "sequential"  # 3 runs: 4's bucket
        row = json.loads(store.note(auto.NOTE + auto.key(_plans(4), "cpu")))
    assert clock.calls == [(4, "cpu")]
    assert row == {"stacked_s": 0.010, "sequential_s": 0.001, "k": 4, "choice": "sequential"}
    assert "measured before" in capsys.readouterr().err
    with Store(db, readonly=True) as store:  # a store opened read-only is read, never written
        assert auto.pick(_plans(4), "cpu", store=store, timer=clock) == "sequential"
    assert clock.calls == [(4, "cpu")]


def test_another_bucket_device_or_task_is_timed_again_and_a_process_without_store_remembers(monkeypatch):
    clock = Clock(0.001, 0.001)
    assert auto.pick(_plans(4), "cpu", timer=clock) == "stacked"
    assert auto.pick(_plans(3), "cpu", timer=clock) == "stacked"  # bucket 4, kept in this process
    assert len(clock.calls) == 1
    auto.pick(_plans(5), "cpu", timer=clock)  # bucket 8
    auto.pick(_plans(4, "line"), "cpu", timer=clock)  # another task
    monkeypatch.setattr(auto, "device_label", lambda device: "cuda (a GPU)")
    auto.pick(_plans(4), "cpu", timer=clock)
    assert clock.calls == [(4, "cpu"), (5, "cpu"), (4, "cpu"), (4, "cpu")]
    assert [auto.bucket(k) for k in (1, 2, 3, 4, 5, 8, 9, 64, 65)] == [1, 2, 4, 4, 8, 8, 16, 64, 128]


def test_an_unreadable_note_is_timed_again_and_overwritten(tmp_path):
    clock = Clock(0.001, 0.01)
    with Store(tmp_path / "runs.db") as store:
        store.note(auto.NOTE + auto.key(_plans(2), "cpu"), "not json")
        assert auto.pick(_plans(2), "cpu", store=store, timer=clock) == "stacked"
        assert json.loads(store.note(auto.NOTE + auto.key(_plans(2), "cpu")))["choice"] == "stacked"
    assert len(clock.calls) == 1


def test_compare_auto_trains_one_after_another_where_that_was_timed_faster(monkeypatch, capsys, tmp_path):
    import importlib

    from lrlab.lab.studies.compare import compare

    stacked_module = importlib.import_module("lrlab.lab.engines.stacked")
    stacked, real = [], stacked_module.execute_stack
    monkeypatch.setattr(stacked_module, "execute_stack", lambda plans, **kw: stacked.append(len(plans))
                        or real(plans, **kw))
    clock = Clock(1.0, 0.001)
    monkeypatch.setattr(auto, "measure", clock)
    db = tmp_path / "runs.db"
    slow = compare("or3", ["0.1", "0.2"], seeds=2, epochs=2, db=db, progress=False)
    assert stacked == [] and clock.calls == [(4, "cpu")]
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "for 4 runs: sequential (engine auto" in err
    again = compare("or3", ["0.3", "0.4"], seeds=2, epochs=2, db=db, progress=False)  # kept: no timing, no line
    assert stacked == [] and len(clock.calls) == 1 and capsys.readouterr().err == ""
    sequential = compare("or3", ["0.1", "0.2"], seeds=2, epochs=2, db=None, progress=False, engine="sequential")
    for a, b in zip(slow.runs, sequential.runs):
        assert a.step_loss.tolist() == b.step_loss.tolist() and a.metrics == b.metrics
    assert [r.status for r in again.runs] == ["ok"] * 4


def test_compare_auto_stacks_where_that_was_timed_faster(monkeypatch, capsys):
    import importlib

    from lrlab.lab.studies.compare import compare

    stacked_module = importlib.import_module("lrlab.lab.engines.stacked")
    stacked, real = [], stacked_module.execute_stack
    monkeypatch.setattr(stacked_module, "execute_stack", lambda plans, **kw: stacked.append(len(plans))
                        or real(plans, **kw))
    monkeypatch.setattr(auto, "measure", Clock(0.001, 0.001))
    compare("or3", ["0.1", "0.2"], seeds=2, epochs=2, db=None, progress=False)
    assert stacked == [4] and "for 4 runs: stacked (engine auto" in capsys.readouterr().err


def test_engines_stacked_and_sequential_never_time(monkeypatch, capsys):
    from lrlab.lab.studies.compare import compare

    def boom(plans, device):
        raise AssertionError("timed")

    monkeypatch.setattr(auto, "measure", boom)
    for engine in ("stacked", "sequential"):
        c = compare("or3", ["0.1", "0.2"], seeds=2, epochs=1, db=None, progress=False, engine=engine)
        assert [r.status for r in c.runs] == ["ok"] * 4
        assert auto.choose(_plans(4), "cpu", engine=engine) == engine
    assert auto.choose(_plans(1), "cpu") == "stacked"  # one run: nothing to compare
    assert capsys.readouterr().err == ""
    with pytest.raises(AssertionError, match="timed"):
        auto.choose(_plans(2), "cpu")


def test_measure_times_both_engines_on_copies_and_leaves_the_rng_alone():
    plans = _plans(3, "quantiles")
    before = torch.random.get_rng_state()
    stacked_s, sequential_s = auto.measure(plans, "cpu")
    assert stacked_s > 0 and sequential_s > 0
    assert torch.equal(torch.random.get_rng_state(), before)


def test_notes_are_read_written_and_overwritten_beside_the_runs(db):
    with Store(db) as store:
        assert store.note("engine auto x") is None
        assert store.note("engine auto x", "1") == "1"
        store.note("engine auto x", "2")
        with pytest.raises(ValueError, match="marker"):
            store.note("schema", "9")
    with Store(db) as store:  # the store still opens as one (the notes are rows of lrlab_meta)
        assert store.note("engine auto x") == "2" and len(store) == 0
    with Store(db, readonly=True) as store:
        assert store.note("engine auto x") == "2"
        with pytest.raises(ValueError, match="read-only"):
            store.note("engine auto x", "3")


def test_tune_batches_and_cooldowns_trunks_follow_the_timing(monkeypatch, tmp_path):
    import importlib

    pytest.importorskip("optuna")
    from lrlab.lab.studies.cooldowns import cooldowns
    from lrlab.lab.studies.tune import tune

    stacked = []
    for name in ("lrlab.lab.engines.stacked", "lrlab.lab.studies.cooldowns"):  # tune imports it when it trains
        module = importlib.import_module(name)
        real = module.execute_stack
        monkeypatch.setattr(module, "execute_stack", lambda plans, real=real, **kw: stacked.append(len(plans))
                            or real(plans, **kw))
    clock = Clock(1.0, 0.001)  # sequential
    monkeypatch.setattr(auto, "measure", clock)
    result = tune("or3", "constant(loguniform(0.1, 1))", trials=2, epochs=2, batch=2, confirm=0, progress=False,
                  storage=tmp_path / "t.db")
    trunks = cooldowns("or3", "wsd(0.4)", at=(0.5, 1.0), fraction=0.25, steps=16, seeds=2, db=None, progress=False)
    # or3 x2 timed once for tune's batch and the trunks; x4 for the cooldowns and the cosine runs (compare's engine)
    assert stacked == [] and clock.calls == [(2, "cpu"), (4, "cpu")]
    assert len(result.trials) == 2 and trunks.trunk_steps > 0 and len(trunks.branches) == 4
    monkeypatch.setattr(auto, "_KNOWN", {})
    monkeypatch.setattr(auto, "measure", Clock(0.001, 0.001))  # stacked
    cooldowns("or3", "wsd(0.4)", at=(0.5, 1.0), fraction=0.25, steps=16, seeds=2, db=None, progress=False)
    assert stacked == [2, 4, 4]  # the trunks, then the cooldowns and their cosine runs


def test_pbt_auto_asks_the_timing_as_compare_does(monkeypatch, capsys):
    from lrlab.lab.studies.pbt import pbt

    monkeypatch.setattr(auto, "_KNOWN", {})
    clock = Clock(1.0, 0.001)  # the stack timed slower: the members train one after another
    monkeypatch.setattr(auto, "measure", clock)
    slow = pbt("or3", population=4, interval=1, epochs=2, progress=False)
    assert slow.engine == "sequential" and clock.calls == [(4, "cpu")]
    assert "for 4 runs: sequential (engine auto" in capsys.readouterr().err
    monkeypatch.setattr(auto, "_KNOWN", {})
    monkeypatch.setattr(auto, "measure", Clock(0.001, 1.0))
    fast = pbt("or3", population=4, interval=1, epochs=2, progress=False)
    assert fast.engine == "stacked" and fast.rates.tolist() == slow.rates.tolist()
    forced = pbt("or3", population=4, interval=1, epochs=2, progress=False, engine="stacked")
    assert forced.engine == "stacked"
