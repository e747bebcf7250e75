"""`lrlab pbt`: a real run (the members' table, the learned spec that replays the winner, the files, the population
kept so the same command goes on), --confirm's leaderboard, and bad options answered with one line and status 2."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("rich")

from lrlab import parse  # noqa: E402
from lrlab.cli import main  # noqa: E402
from lrlab.lab import train  # noqa: E402

ARGS = ["pbt", "or3", "--population", "4", "--interval", "2", "--epochs", "6", "--no-progress"]


def test_pbt_prints_the_learned_spec_that_replays_the_winner(tmp_path, capsys):
    from lrlab.lab.store import Store
    from lrlab.lab.studies.pbt_store import stored_lineage

    db = str(tmp_path / "r.db")
    assert main([*ARGS, "--out", str(tmp_path / "out"), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "or3: PBT, 4 members" in out and "learned schedule (member " in out
    lines = out.splitlines()
    spec_text = lines[lines.index(next(x for x in lines if x.startswith("learned schedule"))) + 1].strip()
    seed = int(re.search(r"seed=(\d+)", out).group(1))
    members = pd.read_csv(tmp_path / "out" / "members.csv")
    again = train("or3", parse(spec_text), epochs=6, seed=seed)
    best = members.iloc[0]  # the winner, best first
    assert again.metrics["val_accuracy"] == best["val_accuracy"]
    assert again.metrics["test_accuracy"] == best["test_accuracy"] and int(best["seed"]) == seed
    population = pd.read_csv(tmp_path / "out" / "population.csv")
    assert len(population) == 3 * 4 and set(population["interval"]) == {1, 2, 3}
    assert (tmp_path / "out" / "pbt.png").stat().st_size > 1000
    assert spec_text in (tmp_path / "out" / "learned.txt").read_text()
    assert list((tmp_path / "out").glob("pbt-*.pt"))  # the population after interval 2, kept in --out
    # the winner's run is in the store under the printed spec and seed, the lineage beside it
    found = re.search(r"the winner's: (\d+)\) and the lineage \(note 'pbt (\w+)'\)", out)
    with Store(db, readonly=True) as store:
        rows = len(store)
        stored = store.get(int(found.group(1)))
        lineage = stored_lineage(store, found.group(2))
    assert stored.label.startswith("pbt member ") and stored.seed == seed
    assert stored.metrics["val_accuracy"] == best["val_accuracy"] and len(stored.history) == 6
    assert lineage["replay"] == spec_text and lineage["runs"][lineage["winner"]] == stored.id
    assert [r["rate"] for r in population.to_dict("records") if r["interval"] == 3] == lineage["rates"][2]
    # the same command again goes on from the kept population: the same spec, no new rows in the store
    assert main([*ARGS, "--out", str(tmp_path / "out"), "--db", db]) == 0
    assert spec_text in capsys.readouterr().out
    with Store(db, readonly=True) as store:
        assert len(store) == rows


def test_the_spec_gives_the_winners_rates(tmp_path, capsys):
    from lrlab.lab.studies.pbt import pbt

    result = pbt("or3", population=4, interval=2, epochs=6, progress=False)
    assert main([*ARGS, "--db", str(tmp_path / "r.db")]) == 0
    out = capsys.readouterr().out
    assert repr(result.spec) in out and f"seed={result.seed}" in out
    winner = result.runs[result.winner]
    assert np.array_equal(np.asarray(result.spec(np.arange(len(winner.step_lr)))), winner.step_lr)


def test_confirm_ranks_the_learned_spec_beside_hand_schedules(tmp_path, capsys):
    assert main([*ARGS, "--confirm", "--seeds", "2", "--db", str(tmp_path / "r.db")]) == 0
    out = capsys.readouterr().out
    assert "constant(0.1)" in out and "cosine(0.1)" in out
    spec = out.splitlines()[out.splitlines().index(next(x for x in out.splitlines() if x.startswith("learned"))) + 1]
    entries = 3 if spec.strip().startswith("constant(") else 4  # the learned spec, its smooth fit (none for a
    assert f"or3: {2 * entries} runs" in out  # constant), constant and cosine at the task's rate, 2 seeds each


def test_confirm_ranks_the_against_specs_beside_the_learned_one(tmp_path, capsys):
    # tune's winner pasted with --against; constant(0.10) is the hand constant(0.1) written otherwise: trained once
    db = str(tmp_path / "r.db")
    assert main([*ARGS, "--confirm", "--seeds", "1", "--against", "wsd(0.3)", "--against", "constant(0.10)",
                 "--db", db]) == 0
    out = capsys.readouterr().out
    board = out[out.index("or3: "):]
    assert "wsd(0.3)" in board and "constant(0.1)" in board and "cosine(0.1)" in board
    spec = out.splitlines()[out.splitlines().index(next(x for x in out.splitlines() if x.startswith("learned"))) + 1]
    entries = 4 if spec.strip().startswith("constant(") else 5
    assert f"or3: {entries} runs" in out


@pytest.mark.parametrize("args, message", [
    (["--confirm", "--against", "nonsense(1)"], "--against 'nonsense(1)': "),
    (["--confirm", "--against", "cosine(0.1)@plateau(factor=7)"], "--against 'cosine(0.1)@plateau(factor=7)': "),
    (["--against", "cosine(0.1)"], "--against needs --confirm"),
])
def test_a_bad_against_is_one_line_before_training(args, message, tmp_path, capsys):
    assert main([*ARGS, *args, "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r.db").exists()  # nothing trained, nothing stored


@pytest.mark.parametrize("args, message", [
    (["--population", "1"], "--population must be a whole number in [2, 4096], got 1"),
    (["--quantile", "0.7"], "--quantile must be in (0, 0.5], got 0.7"),
    (["--perturb", "a,b"], "--perturb must be factors > 0, comma-separated, e.g. 0.8,1.2, got 'a,b'"),
    (["--perturb", "0.8,0"], "--perturb must be factors > 0"),
    (["--resample", "nan"], "--resample must be in [0, 1], got nan"),
    (["--space", "int(1, 3)"], "space must be one distribution of rates"),
    (["--interval", "0"], "--interval must be a whole number in [1, 2**53], got 0"),
    (["--engine", "x"], "--engine must be one of"),
])
def test_bad_options_are_one_line(args, message, capsys):
    assert main(["pbt", "or3", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("option", ["--population", "--interval", "--epochs", "--quantile", "--perturb", "--resample",
                                    "--space", "--seed", "--seeds", "--threads", "--batch-size", "--momentum"])
def test_any_option_value_ends_in_status_0_or_2_with_one_line(option, tmp_path, capsys):
    from unittest import mock

    from hypothesis import HealthCheck, given, settings

    from test_cli_contract import VALUES, _exit, _one_error_line

    def stop(*args, **kwargs):  # the options were read and checked: nothing trains
        raise ValueError("stopped before training")

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=VALUES)
    def check(value):
        with mock.patch("lrlab.lab.studies.pbt.pbt", stop), mock.patch("torch.set_num_threads", lambda n: None):
            assert _exit(["pbt", "or3", f"{option}={value}", "--no-progress", "--db", str(tmp_path / "r.db")]) in (0, 2)
        _one_error_line(capsys.readouterr().err)

    check()
