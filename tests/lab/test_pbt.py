"""Population-based training (lrlab.lab.studies.pbt): exploit copies a member bit for bit, the exported spec gives
the winner's rates step for step and replays its run from scratch, an interrupted study resumes to the same end,
Ray's selection rules, and the smooth fit (pbt_export)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lrlab.lab import train  # noqa: E402
from lrlab.lab.studies import pbt as pbt_module  # noqa: E402
from lrlab.lab.studies.pbt import PBT, RateSpace, pbt, short  # noqa: E402
from lrlab.lab.studies.pbt_export import fit_smooth, lineage_spec  # noqa: E402
from lrlab.schedules import cosine, exponential  # noqa: E402


def _tensors(state):
    """Every tensor of a checkpoint's weights and optimizer state, by a name."""
    out = {f"model.{k}": v for k, v in state["model"].items()}
    for i, entry in state["optimizer"].items():
        out.update({f"opt.{i}.{k}": v for k, v in entry.items() if isinstance(v, torch.Tensor)})
    return out


def _equal(a, b):
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys() and ta
    return all(torch.equal(ta[k], tb[k]) for k in ta)


@pytest.mark.parametrize("task, options", [("quantiles", {}), ("or3", {"momentum": 0.9})])
def test_exploit_copies_weights_and_optimizer_state_bit_for_bit(task, options):
    # 4 members, quantile 0.25: the worst copies the best after interval 1; factor 1: both then train alike
    seen = {}

    def look(i, result):
        if i == 0:
            seen["states"] = [None if s is None else {**s} for s in result.states]
            seen["events"] = list(result.events)

    result = pbt(task, population=4, interval=1, epochs=2, perturb=[1.0], resample=0.0, seed=3, progress=False,
                 on_interval=look, **options)
    (event,) = seen["events"]
    k, donor = event["member"], event["donor"]
    assert k != donor and event["new_rate"] == event["old_rate"]
    before = seen["states"]
    assert _equal(before[k], before[donor])  # the copy: weights, momentum / Adam moments
    assert before[k]["model"] is not before[donor]["model"]  # a copy, not the same tensors
    assert torch.equal(before[k]["generator"], before[donor]["generator"])
    assert before[k]["step"] == before[donor]["step"] and before[k]["rows"] == before[donor]["rows"]
    assert result.parents[1, k] == donor and result.seeds[1, k] == result.seeds[1, donor]
    # loaded into the stack and trained one more interval at the same rate: still bit for bit equal
    after = result.states
    assert _equal(after[k], after[donor])
    assert np.array_equal(result.runs[k].step_loss, result.runs[donor].step_loss)
    others = [m for m in range(4) if m not in (k, donor)]
    assert not _equal(after[others[0]], after[donor])


def test_spec_gives_every_members_rates_and_replays_its_run_from_scratch():
    # float64: each member IS the run of its lineage's spec on its lineage's first seed, copies included
    result = pbt("quantiles", population=4, interval=1, epochs=3, seed=1, dtype="float64", progress=False)
    assert result.events  # members were copied along the way
    assert result.rates.shape == (3, 4) and result.interval_steps == 12  # 1120 samples, batch 100
    for k in range(4):
        run = result.runs[k]
        spec = result.member_spec(k)
        assert np.array_equal(np.asarray(spec(np.arange(36))), run.step_lr)
        again = train("quantiles", spec, epochs=3, seed=int(result.seeds[-1, k]), dtype="float64")
        assert np.array_equal(again.step_lr, run.step_lr)
        assert again.metrics["val_accuracy"] == run.metrics["val_accuracy"]
        assert again.metrics["test_loss"] == pytest.approx(run.metrics["test_loss"], rel=1e-9, abs=1e-12)
    assert result.spec == result.member_spec(result.winner)
    best = result.runs[result.winner].metrics["val_accuracy"]
    assert best == max(r.metrics["val_accuracy"] for r in result.runs)


def test_an_interrupted_study_resumes_to_the_same_end(tmp_path):
    kwargs = dict(population=4, interval=1, epochs=3, seed=2, progress=False)
    whole = pbt("quantiles", **kwargs)

    def kill(i, result):
        if i == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pbt("quantiles", checkpoint_dir=tmp_path, on_interval=kill, **kwargs)
    (saved,) = tmp_path.glob("pbt-*.pt")
    trained = []
    resumed = pbt("quantiles", checkpoint_dir=tmp_path, on_interval=lambda i, r: trained.append(i), **kwargs)
    assert trained == [2]  # only the last interval trained again
    for name in ("rates", "parents", "seeds", "metrics", "curves"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name
    assert resumed.events == whole.events
    for a, b in zip(resumed.runs, whole.runs):
        assert np.array_equal(a.step_loss, b.step_loss) and a.metrics == b.metrics
    saved.write_bytes(b"not a population")
    with pytest.raises(ValueError, match=r"pbt population .*not a checkpoint"):
        pbt("quantiles", checkpoint_dir=tmp_path, **kwargs)


def test_exploit_follows_rays_rules():
    # 8 members, quantile 0.25: the 2 worst (and a diverged one) copy one of the 2 best; the rest keep their rate
    order = [5, 1, 7, 0, 2, 3, 6, 4]  # best first
    states = [{"model": {"w": torch.full((2,), float(k))}, "optimizer": {}} for k in range(8)]
    states[0] = None  # diverged, in the middle of the order
    values = [[0.1 * (k + 1)] for k in range(8)]
    roots = list(range(8))
    events = []
    parents = pbt_module._exploit(order, [], values, roots, states, 2, (0.5, 2.0), 0.0, RateSpace("uniform(1, 2)"),
                                  np.random.default_rng(0), events, interval=0)
    copied = {e["member"] for e in events}
    assert copied == {6, 4, 0}
    for e in events:
        assert e["donor"] in (5, 1) and parents[e["member"]] == e["donor"] and roots[e["member"]] == e["donor"]
        assert e["new_rate"] in (short(e["old_rate"] * 0.5), short(e["old_rate"] * 2.0))  # 4 significant digits
        assert values[e["member"]] == [values[e["donor"]][0], e["new_rate"]]
        assert torch.equal(states[e["member"]]["model"]["w"], states[e["donor"]]["model"]["w"])
    for k in (5, 1, 7, 2, 3):
        assert parents[k] == k and values[k] == [0.1 * (k + 1)] * 2
    events.clear()
    pbt_module._exploit(order, [], values, roots, states, 2, (0.5, 2.0), 1.0, RateSpace("uniform(1, 2)"),
                        np.random.default_rng(0), events, interval=1)
    assert all(e["how"] == "resample" and 1 <= e["new_rate"] <= 2 and e["new_rate"] == short(e["new_rate"])
               for e in events)


def test_a_model_that_cannot_stack_trains_member_by_member(capsys):
    from tiny_task import TINY

    from lrlab.lab.tasks.task import Task

    def dropout_model(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.1), torch.nn.Linear(4, 1))

    task = Task(name="tiny_dropout", description="", loss="bce", load=TINY.load, model=dropout_model, epochs=2,
                batch_size=20, lr=0.1)
    result = pbt(task, population=2, interval=1, epochs=2, progress=False)
    assert result.engine == "sequential" and len(result.runs) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "one after another" in err and "dropout" in err


@pytest.mark.parametrize("kwargs, message", [
    ({"population": 1}, "population must be a whole number in [2, 4096], got 1"),
    ({"quantile": 0.6}, "quantile must be in (0, 0.5], got 0.6"),
    ({"perturb": []}, "perturb must be one or more factors > 0"),
    ({"perturb": [0.8, -1]}, "perturb must be one or more factors > 0"),
    ({"resample": 2}, "resample must be in [0, 1], got 2"),
    ({"interval": 0}, "interval must be a whole number >= 1, got 0"),
    ({"space": "int(1, 3)"}, "space must be one distribution of rates"),
    ({"space": "cosine(0.1)"}, "space must be one distribution of rates"),
    ({"engine": "fast"}, "engine must be one of"),
    ({"seed": -1}, "seed must be a whole number in [0, "),
])
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError) as info:
        pbt("or3", progress=False, **kwargs)
    assert str(info.value).startswith("pbt: ") and message in str(info.value)


def test_lineage_spec_merges_equal_intervals_and_keeps_rates_exactly():
    values = [0.1, 0.1, 0.1 * 1.2, 0.1 * 1.2 * 0.8]
    spec = lineage_spec(values, 5)
    assert repr(spec) == f"piecewise([9, 14], values=[0.1, {0.1 * 1.2!r}, {0.1 * 1.2 * 0.8!r}])"
    assert np.array_equal(np.asarray(spec(np.arange(20))), np.repeat(values, 5))
    with pytest.raises(ValueError, match="lineage_spec: interval_steps"):
        lineage_spec([0.1], 0)


def test_fit_smooth_finds_the_family_that_made_the_rates():
    steps = np.arange(100)
    for made in (exponential(0.1, decay_steps=100, decay_rate=0.05), cosine(0.2, decay_steps=100, alpha=0.01)):
        fits = fit_smooth(np.asarray(made(steps)), interval_steps=10)
        assert fits[0].family == made.kind and fits[0].error < 1e-3, fits[0]
        assert [f.error for f in fits] == sorted(f.error for f in fits)
    flat = fit_smooth([0.05] * 10, interval_steps=5)
    assert flat[0].family == "constant" and flat[0].error == 0.0
    with pytest.raises(ValueError, match="fit_smooth: rates"):
        fit_smooth([0.1, 0.0])


def test_result_table_ranks_best_first():
    result = pbt("or3", population=3, interval=1, epochs=2, progress=False)
    assert isinstance(result, PBT)
    table = result.table()
    assert table["member"].iloc[0] == result.winner
    values = table["val_accuracy"].tolist()
    assert values == sorted(values, reverse=True) and not any(math.isnan(v) for v in values)


def test_a_plateau_is_copied_and_the_spec_replays_with_it():
    # the plateau's state goes with a copy; the winner's spec with the same plateau replays its rates and figures
    plateau = "factor=0.5, patience=0, threshold=0.5"  # a reduction after (nearly) every epoch
    result = pbt("quantiles", population=4, interval=1, epochs=3, seed=4, plateau=plateau, dtype="float64",
                 progress=False)
    assert result.replay == repr(result.spec) + "@" + result.plateau and "patience=0" in result.plateau
    winner = result.runs[result.winner]
    again = train("quantiles", result.spec, epochs=3, seed=result.seed, plateau=plateau, dtype="float64")
    assert np.array_equal(again.step_lr, winner.step_lr)
    assert not np.array_equal(np.asarray(result.spec(np.arange(36))), winner.step_lr)  # the plateau cut the rate
    assert again.metrics["test_loss"] == pytest.approx(winner.metrics["test_loss"], rel=1e-9, abs=1e-12)


def test_runs_and_lineage_go_to_the_store_and_compare_reuses_the_winner(tmp_path):
    from lrlab.lab.store import Store
    from lrlab.lab.studies.compare import compare
    from lrlab.lab.studies.pbt_store import stored_lineage

    db = tmp_path / "runs.db"
    kwargs = dict(population=4, interval=1, epochs=3, seed=1, progress=False, db=db)
    result = pbt("quantiles", **kwargs)
    assert result.events and len(result.run_ids) == 4 and all(result.run_ids)
    winner = result.runs[result.winner]
    with Store(db, readonly=True) as store:
        rows = len(store)
        stored = store.get(result.run_ids[result.winner])
        assert stored.config["pbt"] == {"study": result.key, "member": result.winner}
        assert stored.config["schedule_config"] == winner.config["schedule_config"]
        assert stored.history["val_accuracy"].tolist() == winner.history["val_accuracy"].tolist()
        assert len(stored.history) == 3 and np.array_equal(stored.step_lr, winner.step_lr)
        assert np.array_equal(stored.step_loss, winner.step_loss)
        lineage = stored_lineage(store, result.key)
    assert rows == len(set(result.run_ids))
    assert np.array_equal(lineage["rates"], result.rates) and np.array_equal(lineage["parents"], result.parents)
    assert np.array_equal(lineage["seeds"], result.seeds) and lineage["events"] == result.events
    assert lineage["lineages"][result.winner] == result.lineage() and lineage["winner"] == result.winner
    assert lineage["replay"] == result.replay and lineage["seed"] == result.seed
    assert lineage["runs"] == result.run_ids
    # compare of the replay spec on the winner's seed is the same config: it reuses the stored run
    options = {k: v for k, v in result.options.items() if k != "plateau"}
    again = compare("quantiles", [result.replay], seeds=[result.seed], epochs=3, db=db, progress=False, **options)
    (run,) = again.runs
    assert run.reused and run.id == result.run_ids[result.winner] and run.metrics == winner.metrics
    # a rerun of the study adds no rows and keeps one lineage note
    rerun = pbt("quantiles", **kwargs)
    assert rerun.run_ids == result.run_ids
    with Store(db, readonly=True) as store:
        assert len(store) == rows and stored_lineage(store, result.key)["runs"] == result.run_ids
