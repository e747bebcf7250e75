"""`lrlab cooldowns` (a real run in a subprocess: bars, the table, the savings line, the files) and
`lrlab compare --steps`; bad --at, --fraction, specs and budgets answered with one line and exit status 2."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("rich")

from lrlab.cli import main  # noqa: E402
from test_cli_lab import lrlab  # noqa: E402


def test_cooldowns_prints_the_table_and_writes_files(tmp_path):
    out = lrlab("cooldowns", "or3", "wsd(0.4, decay='1-sqrt')", "--at", "0.5,1", "--fraction", "0.25",
                "--steps", "16", "--batch-size", "3", "--seeds", "2", "--db", str(tmp_path / "runs.db"),
                "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert "trunks to step 12: stack of 2" in out.stderr and "stack of 4" in out.stderr  # the bars
    assert "wsd branch" in out.stdout and "cosine" in out.stdout and "difference" in out.stdout
    # the saving: trunks to step 12 for 2 seeds, cooldowns of 2 and 4 steps, against 2 x (8 + 16) from scratch
    assert "trunk 24 + branches 12 = 36, against 48 for every wsd length from scratch (0.75x)" in out.stdout
    table = pd.read_csv(tmp_path / "out" / "cooldowns.csv")
    assert table["length"].tolist() == [8, 16] and table["cooldown_start"].tolist() == [6, 12]
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert sorted(runs["family"].value_counts().items()) == [("cosine", 4), ("wsd", 4)]
    assert (tmp_path / "out" / "cooldowns.png").stat().st_size > 1000
    again = lrlab("cooldowns", "or3", "wsd(0.4, decay='1-sqrt')", "--at", "0.5,1", "--fraction", "0.25",
                  "--steps", "16", "--batch-size", "3", "--seeds", "2", "--db", str(tmp_path / "runs.db"),
                  "--no-progress")
    assert again.returncode == 0 and "nothing trained" in again.stdout


def test_compare_takes_steps(tmp_path, capsys):
    assert main(["compare", "or3", "0.3", "--steps", "5", "--batch-size", "3", "--db", str(tmp_path / "r.db"),
                 "--no-progress"]) == 0
    assert main(["runs", "show", "1", "--db", str(tmp_path / "r.db")]) == 0
    assert "history (2 epochs, 5 steps)" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["cooldowns", "or3", "wsd(0.1)", "--at", "0.5,0.25"], "--at must be increasing fractions in (0, 1]"),
    (["cooldowns", "or3", "wsd(0.1)", "--at", "0,0.5"], "--at must be increasing fractions in (0, 1]"),
    (["cooldowns", "or3", "wsd(0.1)", "--at", "0.5,1.5"], "--at must be increasing fractions in (0, 1]"),
    (["cooldowns", "or3", "wsd(0.1)", "--at", "half"], "--at must be increasing fractions in (0, 1]"),
    (["cooldowns", "or3", "wsd(0.1)", "--fraction", "1"], "--fraction must be a number in (0, 1)"),
    (["cooldowns", "or3", "wsd(0.1)", "--fraction", "0"], "--fraction must be a number in (0, 1)"),
    (["cooldowns", "or3", "wsd(0.1)", "--fraction", "a fifth"], "--fraction must be a number in (0, 1)"),
    (["cooldowns", "or3", "cosine(0.1)"], "the spec must be a wsd schedule"),
    (["cooldowns", "or3", "wsd(0.1, total_steps=100)"], "leave total_steps and decay_steps out"),
    (["cooldowns", "or3", "wsd(0.1)", "--steps", "0"], "--steps must be a whole number"),
    (["cooldowns", "nope", "wsd(0.1)"], "unknown task 'nope'"),
    (["compare", "or3", "0.1", "--steps", "5", "--epochs", "2"], "--epochs and --steps are exclusive"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    assert main([*args, "--db", str(tmp_path / "runs.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lrlab {args[0]}: error: ") and message in err[0], err
