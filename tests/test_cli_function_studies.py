"""`lrlab tune`, `lrlab find` and `lrlab forecast` on a user's training function named as path/to/train.py:NAME
(issue 21): a real (tiny) PyTorch loop, tests/lab/fn_torch.py copied as the user's train.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("optuna")
pytest.importorskip("rich")

from lrlab.cli import main
from lrlab.lab.store import Store
from lrlab.lab.studies.compare import split_entry

HERE = Path(__file__).parent


@pytest.fixture
def script(tmp_path, monkeypatch):
    """The user's train.py in the working folder."""
    (tmp_path / "train.py").write_text((HERE / "lab" / "fn_torch.py").read_text())
    monkeypatch.chdir(tmp_path)
    return "train.py:tiny_torch"


def test_tune_takes_a_file_and_function(script, capsys):
    code = main(["tune", script, "--space", "constant(loguniform(0.01, 1)) | cosine(loguniform(0.01, 1))",
                 "--trials", "4", "--epochs", "3", "--confirm", "2", "--seeds", "1", "--sampler", "random",
                 "--storage", "t.db", "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "tiny_torch: the best 2 trials on 1 fresh seeds" in printed.out
    assert "ranked by the final val_accuracy" in " ".join(printed.out.split())
    lines = printed.out.splitlines()
    assert lines[-2] == "best spec (confirmed):"
    split_entry(lines[-1])
    assert re.search(r"study 'tiny_torch-[0-9a-f]{8}' in t\.db: \d complete, \d pruned, 0 fail", printed.out)


def test_find_takes_a_file_and_function(script, capsys):
    code = main(["find", script, "--steps", "60", "--seeds", "2", "--start", "1e-4", "--end", "100"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "tiny_torch: range test; stopped early: 2 of 2 seeds" in printed.out
    assert re.search(r"^  V valley ", printed.out, re.M)
    command = next(line for line in printed.out.splitlines() if line.strip().startswith("lrlab compare"))
    assert command.strip().startswith("lrlab compare train.py:tiny_torch 'one_cycle(")


def test_forecast_fits_stored_runs_of_a_function(script, capsys):
    assert main(["compare", script, "constant(0.1)", "cosine(0.1)", "wsd(0.1, decay_steps=4)", "--db", "runs.db",
                 "--no-progress"]) == 0
    with Store("runs.db") as store:
        ids = [str(s["id"]) for s in store.summaries()]
    capsys.readouterr()
    code = main(["forecast", script, "--fit", *ids, "--predict", "one_cycle(0.1)", "cosine(0.05)", "--check",
                 "--db", "runs.db", "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    text = " ".join(printed.out.split())
    assert "fitted on 3 runs" in text and "tiny_torch: forecast final training loss over 18 updates" in text
    assert "measured" in text and re.search(r"one_cycle\(0\.1\) +│ +[\d.]+ +│ +[\d.]+ +│ +[\d.]+%", printed.out)
    with Store("runs.db") as store:  # --check trained the two candidates through the function, stored beside
        assert len(store) == 5
    code = main(["forecast", "train.py:tiny_torch_v2", "--fit", ids[0], "--predict", "one_cycle(0.1)", "--db",
                 "runs.db"])
    err = capsys.readouterr().err
    assert code == 2 and f"--fit: run {ids[0]} is a run of version '1' of 'tiny_torch', not '2'" in err


@pytest.mark.parametrize("argv, message", [
    (["tune", "--batch-size", "8", "--space", "constant(0.1)"], "--batch-size is an option of built-in tasks; "
     "train.py:tiny_torch batches its own data"),
    (["tune", "--data-dir", "x", "--space", "constant(0.1)"], "--data-dir is an option of built-in tasks"),
    (["tune"], "train.py:tiny_torch has no default rate to centre a space on: give --space, or --peak-from-find"),
    (["find", "--batch-size", "8"], "--batch-size is an option of built-in tasks"),
    (["find", "--text", "a.txt"], "--text is an option of built-in tasks"),
    (["compare", "constant(0.1)", "--dtype", "float64"], "--dtype is an option of built-in tasks"),
])
def test_options_of_built_in_tasks_are_refused_for_a_function(script, capsys, argv, message):
    command, rest = argv[0], argv[1:]
    code = main([command, script, *rest, "--storage" if command == "tune" else "--threads", "t.db" if command ==
                 "tune" else "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not Path("t.db").exists()
