"""`lrlab tune`: a real search in-process (the confirmed leaderboard, the spec ready to paste, the report and the
study's plots), and bad options answered with one line and exit 2 before any training."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("optuna")
pytest.importorskip("rich")

from lrlab.cli import main  # noqa: E402
from lrlab.lab.studies.compare import split_entry  # noqa: E402
from lrlab.schedules.spec import rounded  # noqa: E402

SPACE = "constant(loguniform(0.05, 2)) | warmup(cosine(loguniform(0.05, 2)), steps=int(0, 3))"


def test_tune_prints_the_confirmed_leaderboard_and_the_best_spec_and_writes_the_plots(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["tune", "or3", "--space", SPACE, "--trials", "4", "--epochs", "4", "--batch", "2", "--confirm",
                 "2", "--seeds", "2", "--sampler", "random", "--storage", str(tmp_path / "t.db"), "--out", str(out),
                 "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = printed.out.splitlines()
    assert "best 2 trials on 2 fresh seeds" in printed.out
    # the confirmation is ranked by the mean final validation accuracy, test beside it, and says so
    assert "val_accuracy" in printed.out and "test_accuracy" in printed.out
    assert "ranked by the final val_accuracy" in " ".join(printed.out.split())
    assert lines[-2] == "best spec (confirmed):"
    split_entry(lines[-1])  # ready to paste
    assert lines[-1] in (out / "leaderboard.csv").read_text()
    # handed out rounded to 4 significant digits: the rounded spec is the one confirmed (and stored), the trials'
    # table keeps what the sampler drew
    floats = re.findall(r"\d+\.\d+(?:e-?\d+)?", lines[-1])
    assert floats and all(len(f.split("e")[0].replace(".", "").lstrip("0")) <= 4 for f in floats), lines[-1]
    confirmed = pd.read_csv(out / "runs.csv")["schedule"].unique().tolist()
    assert lines[-1] in confirmed and all(s == rounded(s) for s in confirmed)
    drawn = pd.read_csv(out / "trials.csv")["spec"].tolist()
    assert any(rounded(s) != s for s in drawn)
    for name in ("report.html", "runs.csv", "trials.csv", "history.png", "rates.png", "best_curves.png"):
        assert (out / name).stat().st_size > 0, name
    # the search's own report: its title, the trials (specs rounded for reading), then the confirmation
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<h1>lrlab tune report: or3</h1>" in report and "<h2>The search</h2>" in report
    assert report.index("<h2>The search</h2>") < report.index("<h2>The confirmation</h2>")
    assert all(f">{number}<" in report for number in range(4))  # every trial's row
    assert (out / "rates.png").stat().st_size > 0 and not (out / "importances.png").exists()
    assert "rates" in report  # the study's pictures are in the report
    assert "4 complete" in printed.out or "pruned" in printed.out


def test_no_confirm_prints_the_best_trial(tmp_path, capsys):
    code = main(["tune", "or3", "--space", "constant(loguniform(0.05, 2))", "--trials", "2", "--epochs", "2",
                 "--no-confirm", "--storage", str(tmp_path / "t.db"), "--no-progress"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[-2] == "best spec (not confirmed):" and lines[-1].startswith("constant(")


def test_forecast_says_how_many_candidates_it_did_not_train(tmp_path, capsys):
    code = main(["tune", "or3", "--space", "constant(loguniform(0.01, 1))", "--trials", "2", "--epochs", "20",
                 "--batch", "2", "--forecast", "2", "--no-confirm", "--pruner", "none", "--storage",
                 str(tmp_path / "t.db"), "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "tune: forecast multi_power(" in printed.err and "WARNING" not in printed.err
    assert "2 complete, 0 pruned, 0 fail, 2 not trained (forecast)" in printed.out
    assert printed.out.splitlines()[-1].startswith("constant(")


@pytest.mark.parametrize("args, message", [
    (["--sampler", "grid"], "--sampler must be one of"),
    (["--pruner", "x"], "--pruner must be one of"),
    (["--trials", "0"], "--trials"),
    (["--workers", "none"], "--workers"),
    (["--space", "cosine(uniform(2, 1))"], "needs low < high"),
    (["--space", "cosine(gauss(1, 2))"], "unknown distribution"),
    (["--optimizer", "lion"], "--optimizer must be one of"),
    (["--study", " "], "--study needs a name"),
    (["--forecast", "1"], "--forecast must be 0 (off) or candidates per trained trial >= 2"),
    (["--forecast", "x"], "--forecast"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, args, message):
    code = main(["tune", "or3", "--storage", str(tmp_path / "t.db"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t.db").exists()  # nothing started
